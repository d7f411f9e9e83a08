"""Ranking metrics as pure, vectorised functions, with a name → function table.

Modelled on microsoft/recommenders ``python_evaluation.py``: every metric is a plain function
of arrays, and :data:`METRICS` maps a short name to it so evaluation code can loop over names.
Unlike recommenders, the inputs are dense ``(n, k)`` arrays, one row per group (one firm's
candidate list), which is the shape the matcher produces.

Conventions used by every function here
---------------------------------------
* ``ranked`` is an ``(n, k)`` integer array of graded labels **already ordered by score**, best
  first (see :func:`rank_labels`).  Labels are ``2`` chosen park, ``1`` shortlisted, ``0`` other
  candidate and ``-1`` padding (a candidate slot with no park); padding counts as gain 0 and is
  never relevant.
* **Ordering and ties** (:func:`order_by_score`): a stable sort by score descending, so equal
  scores keep *candidate order* (the order retrieval returned them in, i.e. FAISS similarity).
  NaN scores are treated as ``-inf``.  The result is fully deterministic; a ranker that gives
  every candidate the same score therefore gets exactly the retrieval ranking.
* **Groups with no relevant item** get ``NaN`` from the per-group functions and are excluded from
  the mean by :func:`mean` / :func:`bootstrap_ci` (which use ``nanmean``).  Pass ``n_relevant`` to
  the binary metrics to count relevant items that are *not* in the list (e.g. the chosen park
  was never retrieved): such groups then score 0 instead of NaN, which is the end-to-end view.
* **Binary relevance**: ``label >= min_rel``.  Hit, MRR and recall default to ``min_rel=2``
  (the park the firm actually chose); MAP defaults to ``min_rel=1`` (every shortlisted park),
  because with a single chosen park MAP would just repeat MRR.
* NDCG uses the exponential gain ``2**rel - 1`` and the ``1/log2(rank + 1)`` discount, with the
  ideal ordering computed from the labels present in the list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

CHOSEN = 2
SHORTLISTED = 1


# --- ordering -------------------------------------------------------------------------------


def order_by_score(scores: np.ndarray) -> np.ndarray:
    """(n, k) column order, best first; ties keep candidate order (stable), NaN sorts last."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    return np.argsort(-s, axis=1, kind="stable")


def rank_labels(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Labels reordered by score (see :func:`order_by_score`)."""
    return np.take_along_axis(np.asarray(labels), order_by_score(scores), axis=1)


def _disc(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def _top(ranked: np.ndarray, k: int | None) -> np.ndarray:
    r = np.asarray(ranked)
    if r.ndim != 2:
        raise ValueError(f"ranked labels must be (n, k), got shape {r.shape}")
    return r if k is None else r[:, :k]


def _relevant(ranked: np.ndarray, min_rel: int) -> np.ndarray:
    return np.asarray(ranked) >= min_rel


def _total_relevant(ranked: np.ndarray, min_rel: int, n_relevant: np.ndarray | int | None) -> np.ndarray:
    in_list = _relevant(ranked, min_rel).sum(axis=1).astype(np.float64)
    if n_relevant is None:
        return in_list
    total = np.broadcast_to(np.asarray(n_relevant, dtype=np.float64), in_list.shape)
    return np.maximum(total, in_list)


# --- per-group metrics (return (n,) float arrays, NaN where undefined) ------------------------


def dcg_at_k(ranked: np.ndarray, k: int) -> np.ndarray:
    top = np.maximum(_top(ranked, k), 0).astype(np.float64)
    return ((2.0**top - 1.0) * _disc(top.shape[1])).sum(axis=1)


def ndcg_at_k(ranked: np.ndarray, k: int = 10) -> np.ndarray:
    """Per-group NDCG@k (gain 2^rel−1, log2 discount); NaN for groups with no relevant label."""
    r = np.asarray(ranked)
    dcg = dcg_at_k(r, k)
    ideal = -np.sort(-np.maximum(r, 0), axis=1)
    idcg = dcg_at_k(ideal, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), np.nan)


def hit_at_k(
    ranked: np.ndarray, k: int = 10, min_rel: int = CHOSEN, n_relevant: np.ndarray | int | None = None
) -> np.ndarray:
    """1 if any relevant item is in the top k, else 0; NaN if the group has nothing relevant."""
    hit = _relevant(_top(ranked, k), min_rel).any(axis=1).astype(np.float64)
    total = _total_relevant(np.asarray(ranked), min_rel, n_relevant)
    return np.where(total > 0, hit, np.nan)


def recall_at_k(
    ranked: np.ndarray, k: int = 10, min_rel: int = CHOSEN, n_relevant: np.ndarray | int | None = None
) -> np.ndarray:
    """Share of the relevant items found in the top k.  For retrieval, ``ranked`` is the
    candidate list in retrieval order and ``n_relevant=1`` (the chosen park exists whether or
    not it was retrieved), so this is "is the chosen park among the first k candidates"."""
    found = _relevant(_top(ranked, k), min_rel).sum(axis=1).astype(np.float64)
    total = _total_relevant(np.asarray(ranked), min_rel, n_relevant)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, found / np.where(total > 0, total, 1.0), np.nan)


def mrr(
    ranked: np.ndarray,
    k: int | None = None,
    min_rel: int = CHOSEN,
    n_relevant: np.ndarray | int | None = None,
) -> np.ndarray:
    """Reciprocal rank of the first relevant item (0 if none in the top k; NaN if none at all)."""
    rel = _relevant(_top(ranked, k), min_rel)
    first = np.argmax(rel, axis=1)
    rr = np.where(rel.any(axis=1), 1.0 / (first + 1.0), 0.0)
    total = _total_relevant(np.asarray(ranked), min_rel, n_relevant)
    return np.where(total > 0, rr, np.nan)


def map_at_k(
    ranked: np.ndarray, k: int = 10, min_rel: int = SHORTLISTED, n_relevant: np.ndarray | int | None = None
) -> np.ndarray:
    """Average precision at k: Σ_{relevant i ≤ k} precision@i / min(#relevant, k)."""
    rel = _relevant(_top(ranked, k), min_rel).astype(np.float64)
    prec = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    total = _total_relevant(np.asarray(ranked), min_rel, n_relevant)
    denom = np.minimum(total, rel.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (prec * rel).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)


# --- catalogue-level metrics ----------------------------------------------------------------


def recommendation_counts(top_items: np.ndarray, n_items: int) -> np.ndarray:
    """How often each item (0..n_items−1) appears in the (n, k) top lists; −1 entries are ignored."""
    t = np.asarray(top_items).ravel()
    t = t[(t >= 0) & (t < n_items)]
    return np.bincount(t.astype(np.int64), minlength=n_items)


def catalogue_coverage(top_items: np.ndarray, n_items: int) -> float:
    """Share of the catalogue's items that appear in at least one top list."""
    if n_items <= 0:
        return float("nan")
    return float((recommendation_counts(top_items, n_items) > 0).mean())


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of recommendation counts over ALL items (zeros included).

    0 when every item is recommended equally often, (n−1)/n when one item gets everything.
    An all-zero vector gives 0.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64).ravel())
    n = x.size
    total = x.sum()
    if n == 0 or total <= 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(2.0 * (i * x).sum() / (n * total) - (n + 1.0) / n)


# --- aggregation ----------------------------------------------------------------------------


def mean(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """(mean, lo, hi): percentile bootstrap over groups, NaN groups dropped first.

    Deterministic for a given seed and number of groups.  Because the resample indices depend
    only on (seed, n), two rankers scored on the same groups are resampled identically, so the
    intervals are paired; :func:`bootstrap_ci` of the per-group *difference* is the paired test.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size == 1:
        return m, m, m
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 4_000_000 // v.size)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, v.size, size=(b, v.size))
        means[start : start + b] = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return m, float(min(lo, m)), float(max(hi, m))


# --- the table ------------------------------------------------------------------------------

GroupMetric = Callable[..., np.ndarray]

METRICS: dict[str, GroupMetric] = {
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "mrr": mrr,
    "hit": hit_at_k,
    "recall": recall_at_k,
}
CATALOGUE_METRICS: dict[str, Callable[..., Any]] = {
    "catalogue_coverage": catalogue_coverage,
    "gini": gini,
}


def metric(name: str) -> GroupMetric:
    """Look a per-group metric up by name (``"ndcg"``, ``"map"``, ``"mrr"``, ``"hit"``, ``"recall"``)."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {sorted(METRICS)}") from None
