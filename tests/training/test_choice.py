"""The simulator's choice weights are estimated, and the estimator recovers known weights."""

from __future__ import annotations

import numpy as np
import pytest

from features.reference import load_parks
from training import choice, synth
from training.relocations import load_relocations


def _synthetic(beta: np.ndarray, n: int, p: int, seed: int) -> choice.ChoiceData:
    """Cases drawn from a conditional logit with known weights (the estimator's own model)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p, len(beta)))
    v = x @ beta
    g = rng.gumbel(size=(n, p))
    pick = (v + g).argmax(axis=1)
    chosen = np.zeros((n, p), dtype=bool)
    chosen[np.arange(n), pick] = True
    names = tuple(f"c{k}" for k in range(len(beta)))
    return choice.ChoiceData(
        names=names,
        x=x,
        available=np.ones((n, p), dtype=bool),
        chosen=chosen,
        clusters=np.arange(n) // 2,
        case_ids=[f"S{i}" for i in range(n)],
        skipped={},
    )


def test_estimator_recovers_known_weights() -> None:
    beta = np.array([1.5, 0.7, 0.0, 2.2])
    d = _synthetic(beta, n=1500, p=12, seed=3)
    est = choice.estimate(d, {})
    got = np.array([est["parameters"][n]["estimate"] for n in d.names])
    se = np.array([est["parameters"][n]["se"] or 0.05 for n in d.names])
    assert np.all(np.abs(got - beta) <= 4 * se + 0.05), (got, se)
    assert est["log_likelihood"] > est["null_log_likelihood"]
    assert est["converged"]


def test_county_only_reports_count_every_park_of_the_county() -> None:
    """A case known only to its county is the sum over that county's parks."""
    d = _synthetic(np.array([1.0]), n=50, p=6, seed=1)
    two = d.chosen.copy()
    two[:, 0] = True  # every case also "could have been" park 0
    d2 = choice.ChoiceData(d.names, d.x, d.available, two, d.clusters, d.case_ids, {})
    ll1, _ = choice.per_case(np.array([1.0]), d, np.array([True]))
    ll2, _ = choice.per_case(np.array([1.0]), d2, np.array([True]))
    assert np.all(ll2 >= ll1 - 1e-12)
    assert np.all(ll2 <= 0.0)


@pytest.fixture(scope="module")
def estimated() -> dict:
    return choice.estimated_choice(load_relocations(), load_parks())


def test_corpus_estimates_cover_every_component_and_say_how(estimated: dict) -> None:
    est = estimated["choice_estimates"]
    truth = synth._default_truth(1, 0)
    names = set(synth.BETA_COMPONENTS) | set(synth.shock_components(truth["shocks"]))
    assert set(est["parameters"]) == names
    for name, row in est["parameters"].items():
        assert row["status"].startswith(("estimated", "at the lower bound", "fixed")), name
        assert row["estimate"] >= 0.0
        if row["status"] == "estimated":
            assert row["se"] is not None and row["se_cluster"] is not None
    assert est["n_cases"] >= 250 and est["n_clusters"] >= 40
    assert est["log_likelihood"] > est["null_log_likelihood"]
    # documented moves follow policy designations: the data must say so, not a default
    assert est["parameters"]["designated_function"]["status"] == "estimated"
    assert est["parameters"]["designated_industry"]["status"] == "estimated"
    assert estimated["beta"]["designated_industry"] == est["parameters"]["designated_industry"]["estimate"]


def test_simulate_uses_and_records_the_estimates(estimated: dict) -> None:
    w = synth.simulate(3000, 5, choice=estimated)
    assert w.truth["beta"] == estimated["beta"]
    assert w.truth["choice_estimates"]["n_cases"] == estimated["choice_estimates"]["n_cases"]
    hand = synth.simulate(3000, 5)
    assert "choice_estimates" not in hand.truth
    assert not w.events[["firm_id", "chosen_park_id"]].equals(hand.events[["firm_id", "chosen_park_id"]])


def test_an_offer_weight_stated_by_few_parks_keeps_its_documented_value() -> None:
    """An offer component in which only a few parks differ is not estimated, however strongly
    the cases would pull it: its weight would be a verdict on those few parks."""
    beta = np.array([1.0, 2.0])
    d = _synthetic(beta, n=800, p=30, seed=5)
    x = d.x.copy()
    x[:, :, 1] = 0.0
    x[:, : choice.MIN_DIFFERING_PARKS - 1, 1] = 1.0  # one park short of the threshold
    names = ("chain", "subsidy")
    few = choice.ChoiceData(names, x, d.available, d.chosen, d.clusters, d.case_ids, {})
    est = choice.estimate(few, {"subsidy": 0.8})["parameters"]
    assert est["subsidy"]["estimate"] == 0.8 and est["subsidy"]["status"].startswith("fixed: fewer than")
    assert est["chain"]["status"] == "estimated"
    x[:, : choice.MIN_DIFFERING_PARKS, 1] = 1.0  # enough parks state it: estimated
    enough = choice.ChoiceData(names, x, d.available, d.chosen, d.clusters, d.case_ids, {})
    again = choice.estimate(enough, {"subsidy": 0.8})["parameters"]["subsidy"]
    assert not again["status"].startswith("fixed")
