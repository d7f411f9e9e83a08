"""Officers' outcomes as graded ranking groups, and the pieces of the retrain gate that need no
refit: what the manifest records, which outcomes are held out, and when nothing changed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import schemas as S
from features.reference import data_file
from matcher.core import Matcher
from training.outcomes import OutcomeRecord, fingerprint, outcome_frame, outcome_groups, pair_grades
from training.relocations import load_relocations, relocation_records
from training.retrain import GateConfig, case_profile_hashes, champion_outcomes, holdout_split, retrain
from training.train import mixed_training_set

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SERVER = {"name": "某云计算公司数据中心", "industry_code": "6450", "functions": ["data_center"]}
PHARMA = {"name": "某制药公司", "industry_code": "2710", "functions": ["production"]}


def rec(i: int, park: str, outcome: str, profile: dict, hours: int = 0) -> OutcomeRecord:
    h = hashlib.sha256(json.dumps(profile, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return OutcomeRecord(i, "org-a", park, outcome, profile, h, T0 + timedelta(hours=hours))


def test_grades_follow_the_outcome_and_the_latest_record_of_a_pair_wins() -> None:
    df = outcome_frame(
        [
            rec(1, "HE082", "shortlisted", PHARMA, 0),
            rec(2, "HE082", "visited", PHARMA, 1),
            rec(3, "HE082", "signed", PHARMA, 2),
            rec(4, "HE098", "visited", PHARMA, 1),
            rec(5, "HE098", "rejected", PHARMA, 3),
        ]
    )
    assert df["grade"].tolist() == [1, 2, 2, 3, 0]
    pairs = pair_grades(df).set_index(S.PARK_ID)["grade"].to_dict()
    assert pairs == {"HE082": 3, "HE098": 0}  # a visit later rejected is a rejection


def test_an_unknown_outcome_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'won'"):
        outcome_frame([rec(1, "HE082", "won", PHARMA)])


def test_the_fingerprint_is_stable_and_changes_with_any_outcome() -> None:
    a = outcome_frame([rec(1, "HE082", "signed", PHARMA), rec(2, "HE098", "visited", SERVER, 1)])
    b = outcome_frame([rec(2, "HE098", "visited", SERVER, 1), rec(1, "HE082", "signed", PHARMA)])
    c = outcome_frame([rec(1, "HE082", "visited", PHARMA), rec(2, "HE098", "visited", SERVER, 1)])
    fa = fingerprint(a)
    assert fa == fingerprint(b)
    assert fa["sha256"] != fingerprint(c)["sha256"]
    assert fa["count"] == 2 and fa["firms"] == 2 and fa["max_id"] == 2
    assert fa["by_outcome"] == {"signed": 1, "visited": 1}


def test_groups_label_the_recorded_parks_even_where_retrieval_did_not_return_them(matcher: Matcher) -> None:
    ids = [str(p) for p in matcher.park_arrays.ids]
    # a park retrieval did not return for the pharma firm (and no hard rule removes: such a park
    # is never added) is still a candidate once recorded
    probe = outcome_groups(matcher, outcome_frame([rec(1, ids[0], "shortlisted", PHARMA)]))
    retrieved = {ids[p] for p in probe.cand[0] if p >= 0}
    removed = {e.park_id for e in matcher.recommend(PHARMA, explain_excluded=True).excluded}
    far = next(p for p in ids if p not in retrieved and p not in removed)
    df = outcome_frame(
        [
            rec(1, far, "signed", PHARMA),
            rec(2, ids[0], "rejected", PHARMA, 1),
            rec(3, ids[1], "rejected", SERVER, 2),
        ]
    )
    groups = outcome_groups(matcher, df)
    assert len(groups.labels) == 2
    row = int(np.flatnonzero(groups.firms["profile"].map(lambda p: p["industry_code"]) == "2710")[0])
    cand = [ids[p] if p >= 0 else None for p in groups.cand[row]]
    assert groups.labels[row][cand.index(far)] == 3
    assert (groups.labels[row] == 3).sum() == 1
    assert set(groups.labels[row][groups.cand[row] < 0]) <= {-1}
    # the data-centre firm has only a rejection: it teaches nothing and is left out of training
    x, y, g = groups.flat()
    assert len(g) == 1 and int(y.max()) == 3 and x.shape[0] == int(g.sum())


def test_outcome_groups_hold_their_share_of_the_weight() -> None:
    rng = np.random.default_rng(0)

    def part(groups: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return rng.random((groups * size, 3)), np.ones(groups * size, np.int64), np.full(groups, size)

    sim, real, outs = part(100, 5), part(10, 5), part(4, 5)
    x, y, g, w = mixed_training_set(sim, real, 0.25, outs, 0.2)
    assert len(x) == len(y) == len(w) == int(g.sum())
    per_group = np.add.reduceat(w, np.r_[0, np.cumsum(g)[:-1]])
    sim_w, real_w, out_w = per_group[:100].sum(), per_group[100:110].sum(), per_group[110:].sum()
    assert real_w / (sim_w + real_w) == pytest.approx(0.25)
    assert out_w / (sim_w + real_w + out_w) == pytest.approx(0.2)
    # without outcomes the stack is what training always built
    x0, y0, g0, w0 = mixed_training_set(sim, real, 0.25)
    assert np.array_equal(x0, x[: len(x0)]) and np.array_equal(y0, y[: len(y0)])
    assert np.array_equal(w0, w[: len(w0)]) and len(g0) == 110


def test_the_newest_firms_are_held_out_and_the_champion_keeps_its_own_outcomes(matcher: Matcher) -> None:
    records = [rec(i + 1, "HE082", "signed", {**PHARMA, "employees": 100 + i}, hours=i) for i in range(10)]
    df = outcome_frame(records)
    train, held = holdout_split(df, GateConfig(holdout_share=0.2, min_holdout_firms=2))
    assert sorted(held["outcome_id"]) == [9, 10]
    assert sorted(train["outcome_id"]) == list(range(1, 9))
    # too few firms to hold out: nothing is, and the gate says it judged on the cases alone
    _, none = holdout_split(df, GateConfig(holdout_share=0.2, min_holdout_firms=5))
    assert none.empty
    assert champion_outcomes(matcher, df).empty  # a bundle `parkmatch train` built learned none
    promoted = Matcher.__new__(Matcher)
    promoted.manifest = {"outcomes": {"max_id": 4}}
    assert champion_outcomes(promoted, df)["outcome_id"].tolist() == [1, 2, 3, 4]


def test_nothing_new_changes_nothing(matcher: Matcher, tmp_path: Path) -> None:
    cases = load_relocations()
    sha = hashlib.sha256(data_file("relocations.csv").read_bytes()).hexdigest()
    champion = Matcher.__new__(Matcher)
    champion.__dict__.update(matcher.__dict__)
    champion.manifest = {**matcher.manifest, "relocations": {"sha256": sha}}
    verdict, challenger = retrain(
        champion,
        tmp_path / "no-world-needed",
        cases,
        {"sha256": sha},
        outcome_frame([]),
        [],
        matcher.parks,
        progress=lambda _m: None,
    )
    assert verdict.decision == "unchanged" and challenger is None
    assert verdict.inputs["outcomes_sha256"] == fingerprint(pd.DataFrame(outcome_frame([])))["sha256"]


def test_an_outcome_recorded_for_a_documented_case_is_recognised_by_its_profile() -> None:
    """The gate leaves such outcomes out of the fold that holds the case (no fold sees its own
    answer); the hash must be the one the API stores an outcome's profile under."""
    cases = load_relocations().head(8)
    hashes = case_profile_hashes(cases)
    for rec in relocation_records(cases):
        entered = {k: v for k, v in rec.items() if v not in (None, []) and k != S.FIRM_ID}
        assert S.profile_hash(S.FirmProfile.model_validate(entered)) in hashes
    other = S.FirmProfile.model_validate({**entered, "employees": 123_457})
    assert S.profile_hash(other) not in hashes


def test_a_stored_profile_validation_now_refuses_is_skipped_and_the_rest_still_learn(
    matcher: Matcher,
) -> None:
    """A profile valid when recorded may not pass a later schema; retraining skips that firm
    instead of failing, and every other firm's group is still built."""
    ids = [str(p) for p in matcher.park_arrays.ids]
    stale = {"name": "某旧记录企业", "industry_code": "99"}  # no such GB/T 4754-2017 division
    removed = {e.park_id for e in matcher.recommend(PHARMA, explain_excluded=True).excluded}
    open_park = next(p for p in ids[1:] if p not in removed)  # one no hard rule removes for it
    df = outcome_frame([rec(1, ids[0], "signed", stale), rec(2, open_park, "signed", PHARMA, 1)])
    groups = outcome_groups(matcher, df)
    assert len(groups.labels) == 1
    assert groups.firms["profile"].iloc[0]["industry_code"] == "2710"
    assert (groups.labels[0] == 3).sum() == 1
