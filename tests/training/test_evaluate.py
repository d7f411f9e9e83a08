"""End-to-end evaluation on the session fixtures (small samples), and the pure helpers.

Evaluation must score the model exactly as serving does, so one test pins the model's top 10 in
evaluation to :meth:`Matcher.match`'s for the same firms."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import schemas as S
from features.pairs import FEATURE_NAMES
from features.reference import load_parks
from features.validation import FirmBatch, columns_from_frame
from matcher.core import Matcher, MatchResult
from training import baselines as B
from training import evaluate as E
from training import relocations as RL
from training import report as RP
from training.synth import World, simulated_offers

TINY = E.EvalConfig(
    n_boot=50,
    max_test_events=250,
    coverage_firms=300,
    byfirm_train_max=600,
    byfirm_estimators=25,
    top_divisions=3,
    seed=3,
    omitted_needs=True,
)


@pytest.fixture(scope="module")
def doc(matcher: Matcher, small_world: tuple[World, Path]) -> dict[str, Any]:
    world, _ = small_world
    return E.evaluate(matcher, world, quick=True, config=TINY, progress=lambda _m: None)


def test_json_structure(doc: dict[str, Any]) -> None:
    for split in ("temporal", "by_firm"):
        s = doc[split]
        assert list(s["rankers"]) == list(B.RANKERS)
        assert s["needs_omitted_share"] == 0.0
        for r in s["rankers"].values():
            for m in E.CI_METRICS:
                c = r[m]
                assert c["lo"] <= c["mean"] <= c["hi"]
            assert len(r["ndcg_curve"]) == 10
        assert set(s["segments"]["function"]) == set(E.FUNCTION_SEGMENTS)
        assert s["segments"]["division"]
        assert "recall@K" in s["retrieval"]
    assert doc["temporal"]["years"][0] >= 2021
    assert doc["by_firm"]["training"]["firms_on_both_sides"] == 0
    assert 0 <= doc["coverage"]["rankers"]["model"]["coverage"] <= 1
    assert len(doc["coverage"]["model_counts"]) == doc["coverage"]["n_parks"]
    rr = doc["real_relocations"]
    assert rr["n_cases"] == len(RL.load_relocations())
    assert set(rr["summary"]) == {"model", "scorecard"}
    assert {"beats", "model_share_of_oracle_ndcg@10", "coverage"} <= set(doc["acceptance"])
    json.loads(RP.to_json(doc))  # serialisable, NaN -> null


def test_omitted_needs_reported_beside_default(doc: dict[str, Any]) -> None:
    o = doc["omitted_needs"]
    assert o["setting"] == "officer_omits_needs" and o["share"] == E.OFFICER_OMITS_NEEDS == 0.5
    assert o["skipped"] is False
    for split in ("temporal", "by_firm"):
        assert o[split]["needs_omitted_share"] == 0.5
        assert o[split]["n_groups"] == doc[split]["n_groups"]
        assert list(o[split]["rankers"]) == list(B.RANKERS)
    assert "officer_omits_needs" in RP.table(doc)


def test_quick_mode_skips_omitted_needs_and_says_so(small_world: tuple[World, Path]) -> None:
    quick = E.EvalConfig.for_mode(quick=True)
    assert quick.omitted_needs is False and E.EvalConfig.for_mode(quick=False).omitted_needs is True
    o = E.omitted_needs_report({}, small_world[0], quick, lambda _m: None)
    assert o["skipped"] is True and o["setting"] == "officer_omits_needs" and "quick" in o["reason"]
    assert "skipped" in RP.omitted_needs_line({"omitted_needs": o})


def _match_top10(matcher: Matcher, firms: pd.DataFrame) -> tuple[FirmBatch, list[list[int]]]:
    batch, errors = matcher.prepare(columns_from_frame(firms), rows=np.arange(len(firms)))
    assert not errors
    res: MatchResult = matcher.match(batch, top=10)
    per_firm: list[list[int]] = [[] for _ in range(len(batch))]
    for f, r, p in sorted(zip(res.firm_pos.tolist(), res.rank.tolist(), res.park_pos.tolist(), strict=True)):
        assert r == len(per_firm[f]) + 1
        per_firm[f].append(p)
    return batch, per_firm


def _as_lists(top: np.ndarray) -> list[list[int]]:
    return [[int(p) for p in row if p >= 0] for row in top]


def test_model_top10_equals_match(matcher: Matcher, small_world: tuple[World, Path]) -> None:
    world, _ = small_world
    firms = world.firms.iloc[:40].reset_index(drop=True)
    batch, want = _match_top10(matcher, firms)
    # the coverage path (serving features: whole history, the decision year)
    _, cands, x = matcher.features(batch)
    pop = B.popularity_counts(matcher, world.events)
    scores = E.all_scores(matcher, world, x, cands.parks, cands.sim, np.arange(len(firms)), None, pop, 0)
    assert _as_lists(E.top_parks(scores["model"], cands.parks, 10, matcher)) == want
    # the split path (candidate lists built from events), for events in the decision year
    events = pd.DataFrame(
        {
            S.FIRM_ID: firms[S.FIRM_ID],
            S.YEAR: matcher.decision_year,
            S.CHOSEN_PARK_ID: str(matcher.park_arrays.ids[0]),
            S.SHORTLIST_PARK_IDS: [[] for _ in range(len(firms))],
        }
    )
    # simulated events are scored over the catalogue their world was generated over, so the
    # split path equals serving over that catalogue
    groups, _rows, split_scores = E.score_events(matcher, world, events, pop, 0)
    offers = matcher.with_catalogue(simulated_offers(matcher.parks))
    _, want_offers = _match_top10(offers, firms)
    assert _as_lists(E.top_parks(split_scores["model"], groups.cand, 10, offers)) == want_offers
    assert want_offers != want  # the simulated offers do move some firms' parks


def test_oracle_beats_random(doc: dict[str, Any]) -> None:
    for split in ("temporal", "by_firm"):
        r = doc[split]["rankers"]
        assert r["oracle"]["ndcg@10"]["mean"] > r["random"]["ndcg@10"]["mean"]
        assert r["oracle"]["hit@10"]["mean"] >= r["random"]["hit@10"]["mean"]


def test_report_and_table(doc: dict[str, Any]) -> None:
    page = RP.render_html(doc)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "http" not in page.split("<body>")[0]
    text = RP.table(doc)
    assert "model" in text and "oracle" in text and "real relocations" in text


def test_report_fits_a_phone_width(doc: dict[str, Any]) -> None:
    """Wide tables scroll inside their own box and charts scale down, so a 390 px screen never
    has to scroll the whole page sideways to read the real-case figures."""
    page = RP.render_html(doc)
    assert page.count("<table>") == page.count('<div class="wide"><table>') > 0
    assert page.count("<svg") == page.count("viewBox=") > 0
    assert ".wide{overflow-x:auto" in page and "svg{" in page and "max-width:100%;height:auto" in page


def test_cli_evaluate_loads_world_and_bundle(
    monkeypatch: pytest.MonkeyPatch,
    bundle_path: Path,
    small_world: tuple[World, Path],
    doc: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    seen: dict[str, Any] = {}

    def fake(matcher: Matcher, world: World, quick: bool = False, **_: Any) -> dict[str, Any]:
        seen["events"], seen["quick"] = len(world.events), quick
        return json.loads(json.dumps(doc, default=str))

    monkeypatch.setattr(E, "evaluate", fake)
    report = tmp_path / "r.html"
    assert E.cli_evaluate(bundle_path, small_world[1], as_json=True, report=report, quick=True) == 0
    assert seen == {"events": len(small_world[0].events), "quick": True}
    assert json.loads(capsys.readouterr().out)["model_version"] == doc["model_version"]
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_park_matching_rules() -> None:
    parks = load_parks()
    name = dict(zip(parks["park_id"], parks["name"], strict=True))

    def ids(dest: str, ad: str) -> tuple[list[str], str]:
        hits, tier = RL.match_parks(dest, ad, parks)
        return [str(parks["park_id"].iloc[j]) for j in hits], tier

    got, tier = ids("北京·沧州渤海新区生物医药产业园", "130983")
    assert tier == "specific" and all("生物医药" in name[g] for g in got)
    got, tier = ids("雄安新区起步区第五组团（北京交通大学雄安校区）", "133100")
    assert tier == "enclosing" and any("雄安新区" in name[g] for g in got)
    got, tier = ids("沧州明珠商贸城", "130903")
    assert tier == "fuzzy" and any("明珠" in name[g] for g in got)
    assert ids("天津卓尔电商城", "120111") == (["XTJ001"], "specific")  # a market site of its own
    assert ids("某市某县不存在的园区", "120111") == ([], "none")
    assert ids("", "133100") == ([], "none")


def test_county_equivalence_and_scorecard() -> None:
    assert RL.same_county("133100", "130638") and RL.same_county("130632", "133100")
    assert not RL.same_county("133100", "130983")
    x = np.zeros((1, 2, len(FEATURE_NAMES)), dtype=np.float32)
    s = B.scorecard_scores(x, np.array([[0, -1]]))
    assert math.isfinite(s[0, 0]) and s[0, 1] == -np.inf
    assert sum(B.SCORECARD_WEIGHTS.values()) == pytest.approx(1.0)
