"""End-to-end evaluation on the session fixtures (small samples), and the pure helpers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.core.config import Settings
from features.reference import load_parks
from matcher.core import Matcher
from training import evaluate as E
from training.synth import World

TINY = E.EvalConfig(
    n_boot=50,
    max_test_events=250,
    coverage_firms=300,
    byfirm_train_max=600,
    byfirm_estimators=25,
    top_divisions=3,
    seed=3,
)


@pytest.fixture(scope="module")
def doc(matcher: Matcher, small_world: tuple[World, Path]) -> dict[str, Any]:
    world, _ = small_world
    return E.evaluate(matcher, world, quick=True, config=TINY, progress=lambda _m: None)


def test_json_structure(doc: dict[str, Any]) -> None:
    for split in ("temporal", "by_firm"):
        s = doc[split]
        assert set(s["rankers"]) == set(E.RANKERS)
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
    assert rr["n_cases"] == 67
    assert set(rr["summary"]) == {"model", "scorecard"}
    assert {"beats", "model_share_of_oracle_ndcg@10", "coverage"} <= set(doc["acceptance"])
    json.loads(E.to_json(doc))  # serialisable, NaN -> null


def test_oracle_beats_random(doc: dict[str, Any]) -> None:
    for split in ("temporal", "by_firm"):
        r = doc[split]["rankers"]
        assert r["oracle"]["ndcg@10"]["mean"] > r["random"]["ndcg@10"]["mean"]
        assert r["oracle"]["hit@10"]["mean"] >= r["random"]["hit@10"]["mean"]


def test_report_and_table(doc: dict[str, Any]) -> None:
    page = E.render_html(doc)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "http" not in page.split("<body>")[0]
    text = E.table(doc)
    assert "model" in text and "oracle" in text and "real relocations" in text


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
    assert (
        E.cli_evaluate(
            Settings(world_dir=small_world[1]), bundle_path, as_json=True, report=report, quick=True
        )
        == 0
    )
    assert seen == {"events": len(small_world[0].events), "quick": True}
    assert json.loads(capsys.readouterr().out)["model_version"] == doc["model_version"]
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_park_matching_rules() -> None:
    parks = load_parks()
    name = dict(zip(parks["park_id"], parks["name"], strict=True))

    def ids(dest: str, ad: str) -> tuple[list[str], str]:
        hits, tier = E.match_parks(dest, ad, parks)
        return [str(parks["park_id"].iloc[j]) for j in hits], tier

    got, tier = ids("北京·沧州渤海新区生物医药产业园", "130983")
    assert tier == "specific" and all("生物医药" in name[g] for g in got)
    got, tier = ids("雄安新区起步区第五组团（北京交通大学雄安校区）", "133100")
    assert tier == "enclosing" and any("雄安新区" in name[g] for g in got)
    got, tier = ids("沧州明珠商贸城", "130903")
    assert tier == "fuzzy" and any("明珠" in name[g] for g in got)
    assert ids("天津卓尔电商城", "120111") == ([], "none")
    assert ids("", "133100") == ([], "none")


def test_county_equivalence_and_scorecard() -> None:
    assert E.same_county("133100", "130638") and E.same_county("130632", "133100")
    assert not E.same_county("133100", "130983")
    x = np.zeros((1, 2, len(E.FEATURE_NAMES)), dtype=np.float32)
    s = E.scorecard_scores(x, np.array([[0, -1]]))
    assert math.isfinite(s[0, 0]) and s[0, 1] == -np.inf
    assert sum(E.SCORECARD_WEIGHTS.values()) == pytest.approx(1.0)
