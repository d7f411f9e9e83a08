"""Known-answer tests for matcher.metrics (hand-computed on tiny inputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matcher import metrics as M

L2 = np.log2


def test_ndcg_hand_computed() -> None:
    # ranked labels [0, 2, 1]: DCG = 3/log2(3) + 1/log2(4); ideal [2, 1, 0]: 3 + 1/log2(3)
    ranked = np.array([[0, 2, 1]])
    dcg = 3 / L2(3) + 1 / 2
    idcg = 3 + 1 / L2(3)
    assert M.ndcg_at_k(ranked, 3)[0] == pytest.approx(dcg / idcg)
    # @1: nothing relevant at rank 1, ideal has gain 3 there
    assert M.ndcg_at_k(ranked, 1)[0] == 0.0
    # perfect order is 1
    assert M.ndcg_at_k(np.array([[2, 1, 0, -1]]), 10)[0] == pytest.approx(1.0)


def test_ndcg_ideal_uses_whole_list_not_only_top_k() -> None:
    # relevant item beyond k: DCG@2 = 0, IDCG@2 > 0 -> 0, not NaN
    assert M.ndcg_at_k(np.array([[0, 0, 2]]), 2)[0] == 0.0


def test_empty_relevance_is_nan_and_excluded_from_mean() -> None:
    ranked = np.array([[0, 0, -1], [2, 0, 0]])
    v = M.ndcg_at_k(ranked, 3)
    assert math.isnan(v[0]) and v[1] == pytest.approx(1.0)
    assert M.mean(v) == pytest.approx(1.0)
    assert math.isnan(M.hit_at_k(ranked, 3)[0])
    assert math.isnan(M.mrr(ranked)[0])
    assert math.isnan(M.map_at_k(ranked, 3)[0])
    assert math.isnan(M.mean(np.array([np.nan])))


def test_hit_mrr_map_hand_computed() -> None:
    ranked = np.array([[0, 1, 2, 0, 1]])
    assert M.hit_at_k(ranked, 2)[0] == 0.0  # chosen (2) at rank 3
    assert M.hit_at_k(ranked, 3)[0] == 1.0
    assert M.hit_at_k(ranked, 2, min_rel=1)[0] == 1.0
    assert M.mrr(ranked)[0] == pytest.approx(1 / 3)
    assert M.mrr(ranked, min_rel=1)[0] == pytest.approx(1 / 2)
    assert M.mrr(ranked, k=2)[0] == 0.0
    # MAP@5 over label >= 1: relevant at ranks 2, 3, 5 -> (1/2 + 2/3 + 3/5) / 3
    assert M.map_at_k(ranked, 5)[0] == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)
    # MAP@3: relevant at 2, 3 within k; denominator min(#relevant=3, k=3) = 3
    assert M.map_at_k(ranked, 3)[0] == pytest.approx((1 / 2 + 2 / 3) / 3)


def test_n_relevant_counts_items_missing_from_the_list() -> None:
    ranked = np.array([[0, 0, 1], [0, 2, 0]])
    # first group: chosen park not retrieved but exists -> miss (0), not NaN
    assert M.hit_at_k(ranked, 3, n_relevant=np.array([1, 1])).tolist() == [0.0, 1.0]
    assert M.mrr(ranked, n_relevant=1).tolist() == [0.0, 0.5]
    assert M.recall_at_k(ranked, 1, n_relevant=1).tolist() == [0.0, 0.0]
    assert M.recall_at_k(ranked, 2, n_relevant=1).tolist() == [0.0, 1.0]
    # two shortlisted items exist, one is in the list
    assert M.recall_at_k(np.array([[1, 0]]), 2, min_rel=1, n_relevant=2)[0] == pytest.approx(0.5)


def test_ties_keep_candidate_order_deterministically() -> None:
    labels = np.array([[0, 2, 1, -1]])
    scores = np.array([[1.0, 1.0, 1.0, -np.inf]])
    assert M.rank_labels(labels, scores).tolist() == [[0, 2, 1, -1]]
    assert M.ndcg_at_k(M.rank_labels(labels, scores), 3)[0] == pytest.approx(
        (3 / L2(3) + 1 / 2) / (3 + 1 / L2(3))
    )
    # a partial tie: the higher score first, the tied pair in candidate order
    assert M.order_by_score(np.array([[0.5, 0.9, 0.5, np.nan]])).tolist() == [[1, 0, 2, 3]]
    # same input twice -> same output
    s = np.random.default_rng(0).integers(0, 3, size=(50, 8)).astype(float)
    assert np.array_equal(M.order_by_score(s), M.order_by_score(s.copy()))


def test_gini_and_coverage() -> None:
    assert M.gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    for n in (2, 4, 10):
        one_hot = np.zeros(n)
        one_hot[3 % n] = 7
        assert M.gini(one_hot) == pytest.approx((n - 1) / n)
    assert M.gini(np.zeros(3)) == 0.0
    # zeros are included: [1, 1, 0, 0] is unequal
    assert M.gini(np.array([1, 1, 0, 0])) == pytest.approx(0.5)
    tops = np.array([[0, 1], [1, -1]])
    assert M.catalogue_coverage(tops, 4) == pytest.approx(0.5)
    assert M.recommendation_counts(tops, 4).tolist() == [1, 2, 0, 0]


def test_bootstrap_ci_contains_mean_and_is_deterministic() -> None:
    v = np.random.default_rng(1).random(200)
    v[::17] = np.nan
    m, lo, hi = M.bootstrap_ci(v, n_boot=300, seed=5)
    assert lo <= m <= hi
    assert m == pytest.approx(np.nanmean(v))
    assert M.bootstrap_ci(v, n_boot=300, seed=5) == (m, lo, hi)
    assert M.bootstrap_ci(v, n_boot=300, seed=6) != (m, lo, hi)
    assert 0 < hi - lo < 0.2
    c = M.bootstrap_ci(np.array([0.3]))
    assert c == (0.3, 0.3, 0.3)
    assert all(math.isnan(x) for x in M.bootstrap_ci(np.array([np.nan, np.nan])))


def test_metric_table() -> None:
    assert set(M.METRICS) == {"ndcg", "map", "mrr", "hit", "recall"}
    assert M.metric("ndcg") is M.ndcg_at_k
    with pytest.raises(KeyError):
        M.metric("auc")
