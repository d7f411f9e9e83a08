"""Grouped cross-validation on the documented cases: no fold ever trains on what it scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from matcher.core import Matcher
from training.realcv import RANKERS, CVConfig, fold_of, no_leakage, real_cv
from training.relocations import load_relocations


@pytest.fixture(scope="module")
def cv_doc(matcher: Matcher) -> dict[str, Any]:
    cfg = CVConfig(folds=3, shares=(0.25,), max_sim_events=3000, n_boot=20, fold_world_firms=8000)
    return real_cv(matcher, load_relocations(), cfg, progress=lambda _m: None)


def test_folds_follow_relocation_groups() -> None:
    cases = load_relocations()
    folds = fold_of(cases["group_id"], 5)
    for _, f in cases.assign(fold=folds).groupby("group_id")["fold"]:
        assert f.nunique() == 1
    assert len(set(folds.tolist())) == 5


def test_no_case_scored_in_a_fold_was_in_its_training_data(cv_doc: dict[str, Any]) -> None:
    cases = load_relocations()
    assert no_leakage(cv_doc, cases)
    group_of = dict(zip(cases["case_id"], cases["group_id"], strict=True))
    for f in cv_doc["fold_log"]:
        assert f["train_cases"] + f["test_cases"] == len(cases)
        assert not set(f["test_groups"]) & set(f["train_groups"])
        assert not set(f["test_groups"]) & set(f["precedent_groups"])
        assert set(f["precedent_groups"]) <= set(f["train_groups"])
        # the fold's simulator was estimated on its training cases only
        assert {group_of[c] for c in f["simulator_cases"]} <= set(f["train_groups"])
    first = cv_doc["fold_log"][0]
    leaky = {**cv_doc, "fold_log": [{**first, "precedent_groups": first["test_groups"]}]}
    assert not no_leakage(leaky, cases)
    test_case = next(c for c, g in group_of.items() if g in set(first["test_groups"]))
    leaky_sim = {**cv_doc, "fold_log": [{**first, "simulator_cases": [*first["simulator_cases"], test_case]}]}
    assert not no_leakage(leaky_sim, cases)


def test_every_ranker_is_reported_overall_and_by_type(cv_doc: dict[str, Any]) -> None:
    n = len(load_relocations())
    for name in RANKERS:
        r = cv_doc[name]
        assert r["n"] == n
        for k in ("county_hit@1", "county_hit@5", "county_hit@10", "park_hit@5"):
            assert 0.0 <= r[k] <= 1.0
        assert r["county_hit@1"] <= r["county_hit@5"] <= r["county_hit@10"]
        assert sum(t["n"] for t in r["by_type"].values()) == n
        lo, hi = r["ci95"]["county_hit@5"]
        assert lo <= r["county_hit@5"] <= hi or np.isclose(lo, hi)


def _run(hit5: float, dc5: float, share: float) -> dict[str, Any]:
    """A real-case CV result as :func:`real_cv` shapes it, with chosen rates."""

    def rates(h5: float, n: int) -> dict[str, Any]:
        return {
            "n": n,
            "county_hit@1": h5 / 2,
            "county_hit@5": h5,
            "county_hit@10": h5 + 0.1,
            "park_hit@5": h5 - 0.1,
        }

    case = {"entity_type": "data_centre", "industry_code": "6450", "destination": "张北（张北县）"}
    run: dict[str, Any] = {
        "chosen_share": share,
        "cases": [
            {"case_id": "D001", **case, "county_hit@5": dc5 >= 0.5, "model_top5": [f"top{dc5}"]},
            {"case_id": "D002", **case, "county_hit@5": False, "model_top5": []},
        ],
    }
    for k, name in enumerate(RANKERS):
        lower = hit5 - 0.05 * (k + 1) if name != "model" else hit5
        run[name] = {
            **rates(lower, 10),
            "industrial": rates(lower - 0.2, 6),
            "by_type": {"data_centre": rates(dc5, 4), "hospital": rates(1.0, 2)},
        }
    return run


def test_seed_runs_combine_into_means_with_each_seed_and_the_range() -> None:
    from training.realcv import combine_seeds

    doc = combine_seeds([_run(0.6, 0.5, 0.25), _run(0.7, 0.75, 0.5), _run(0.65, 0.25, 0.25)], [0, 1000, 2000])
    model = doc["model"]
    assert doc["seeds"] == [0, 1000, 2000] and doc["chosen_share_by_seed"] == [0.25, 0.5, 0.25]
    assert model["county_hit@5"] == pytest.approx(0.65)
    assert model["county_hit@5_by_seed"] == [0.6, 0.7, 0.65]
    assert model["county_hit@5_range"] == pytest.approx(0.1)
    assert model["county_hit@1"] == pytest.approx(0.325)
    assert model["industrial"]["county_hit@5"] == pytest.approx(0.45)
    assert model["by_type"]["data_centre"]["county_hit@5"] == pytest.approx(0.5)
    assert model["by_type"]["data_centre"]["county_hit@5_range"] == pytest.approx(0.5)
    assert model["by_type"]["hospital"]["n"] == 2
    assert doc["beats_every_baseline_at_hit@5"]
    first, second = doc["cases"]
    assert first["case_id"] == "D001" and first["county_hit@5_by_seed"] == [True, True, False]
    assert first["county_hits@5"] == 2 and first["model_top5_by_seed"][2] == ["top0.25"]
    assert second["county_hits@5"] == 0 and second["destination"] == "张北（张北县）"
    with pytest.raises(ValueError, match="one real-case CV run per seed"):
        combine_seeds([_run(0.6, 0.5, 0.25)], [0, 1])


def test_seeds_need_the_real_only_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    from parkmatch.cli import main

    assert main(["evaluate", "--seeds", "3"]) == 2
    assert "--real-only" in capsys.readouterr().err
    assert main(["evaluate", "--real-only", "--seeds", "11", "--model", "no-such-dir"]) == 2
    assert "--seeds must be between 1 and 10" in capsys.readouterr().err
