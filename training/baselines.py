"""The rankers the model is compared with, as plain scoring functions over shared candidates.

Why a module of its own: "does the ranker beat what officers do today?" is only a fair question if
every competitor scores exactly the candidate lists the model scores (the matcher's retrieval and
hard constraints) and is defined once, in one place that the evaluation, the report and the tests
all read.  The model itself is *not* here: it is scored only by :meth:`matcher.core.Matcher.score`,
the function serving uses, so evaluation cannot drift from production.

Every function returns an ``(n, k)`` float array aligned with ``cand`` (park positions, ``-1`` for
padding), with ``-inf`` on padding; ties keep retrieval order (see :mod:`matcher.metrics`).

* ``random`` — uniform scores from a seeded generator.
* ``popularity`` — how many training-period relocations chose the park.
* ``distance`` — nearest to the firm's *origin district* first (great-circle km, the pair feature
  ``origin_distance_km``; Tiananmen when the district is unknown).  Origin rather than Tiananmen
  because "how far do our people have to go" is how officers argue distance.
* ``embedding`` — FAISS similarity alone (``Candidates.sim``), i.e. the retrieval order.
* ``scorecard`` — the hand-weighted rule scorecard of the kind officers fill in today: the mean,
  with **equal weights 0.2 each**, of the five [0, 1] criterion scores of
  :func:`features.pairs.criterion_scores` (industry match, land, talent, subsidy, proximity);
  a criterion that is unknown for a park is left out and the other weights renormalised.
* ``oracle`` — :func:`training.synth.oracle_scores`, the simulator's own noiseless utility with
  the firm's hidden tastes, for the event year.  The ceiling: nothing observable can beat it in
  expectation.
* ``oracle_params`` — the same utility from ``truth.json`` alone (every taste at its median, no
  path dependence): what someone who knew the simulator's parameters but not the individual firm
  would rank by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import schemas as S
from features.pairs import FEATURE_NAMES, criterion_scores
from matcher.core import Matcher
from training.synth import World, oracle_scores

#: Every ranker evaluation reports, in report order; ``model`` is scored by ``Matcher.score``.
RANKERS: tuple[str, ...] = (
    "model",
    "random",
    "popularity",
    "distance",
    "embedding",
    "scorecard",
    "oracle_params",
    "oracle",
)
#: The observable competitors the model must beat (the oracles are ceilings, not baselines).
BASELINES: tuple[str, ...] = tuple(r for r in RANKERS if r not in ("model", "oracle", "oracle_params"))
SCORECARD_WEIGHTS: dict[str, float] = {c: 0.2 for c in S.CRITERIA}

DEFINITIONS: dict[str, str] = {
    "model": "LightGBM LambdaRank of the bundle, scored by Matcher.score "
    "(by_firm: a ranker trained inside evaluate, see split rule)",
    "random": "uniform random scores (seeded)",
    "popularity": "number of training-period relocations that chose the park",
    "distance": "nearest to the firm's origin district first (great-circle km)",
    "embedding": "FAISS cosine similarity of firm and park profiles (retrieval order)",
    "scorecard": "equal-weight (0.2 each) mean of the five criterion scores: " + ", ".join(S.CRITERIA),
    "oracle": "the simulator's noiseless utility V_ij(t) with the firm's hidden tastes",
    "oracle_params": "the simulator's utility from truth.json alone: median tastes, no path dependence",
}


def masked(scores: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """``scores`` where there is a candidate, ``-inf`` on padding."""
    return np.where(cand >= 0, scores, -np.inf)


def random_scores(cand: np.ndarray, seed: int) -> np.ndarray:
    return masked(np.random.default_rng(seed).random(cand.shape), cand)


def popularity_counts(matcher: Matcher, events: pd.DataFrame) -> np.ndarray:
    """Per catalogue position: how many of ``events`` chose the park."""
    pos = {pid: i for i, pid in enumerate(matcher.park_arrays.ids)}
    chosen = [pos[p] for p in events[S.CHOSEN_PARK_ID] if p in pos]
    return np.bincount(np.asarray(chosen, dtype=np.int64), minlength=len(pos)).astype(np.float64)


def popularity_scores(popularity: np.ndarray, cand: np.ndarray) -> np.ndarray:
    return masked(popularity[np.where(cand < 0, 0, cand)], cand)


def distance_scores(x: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Nearer to the origin district is better."""
    return masked(-x[:, :, FEATURE_NAMES.index("origin_distance_km")].astype(np.float64), cand)


def embedding_scores(x: np.ndarray, cand: np.ndarray, sim: np.ndarray | None = None) -> np.ndarray:
    """Retrieval similarity: ``sim`` when given, else the ``embedding_sim`` pair feature."""
    s = x[:, :, FEATURE_NAMES.index("embedding_sim")] if sim is None else sim
    return masked(np.asarray(s, dtype=np.float64), cand)


def scorecard_scores(x: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Equal-weight mean of the five criterion scores (see :data:`SCORECARD_WEIGHTS`)."""
    n, k, f = x.shape
    if n == 0:
        return np.zeros((0, k))
    crit = criterion_scores(x.reshape(n * k, f)).reshape(n, k, len(S.CRITERIA))
    w = np.array([SCORECARD_WEIGHTS[c] for c in S.CRITERIA])
    # an unknown criterion (NaN) is left out and the weights of the known ones renormalised,
    # as an officer fills in the rows of the scorecard they have facts for
    known = ~np.isnan(crit)
    total = (np.where(known, crit, 0.0) * w).sum(axis=2) / np.maximum((known * w).sum(axis=2), 1e-9)
    return masked(total, cand)


def oracle_for(
    world: World,
    matcher: Matcher,
    firm_rows: np.ndarray,
    cand: np.ndarray,
    year: np.ndarray | None,
    private: bool = True,
) -> np.ndarray:
    """The simulator's noiseless utility per candidate; ``private=False`` gives ``oracle_params``."""
    n, k = cand.shape
    out = np.full((n, k), -np.inf)
    valid = cand >= 0
    if not valid.any():
        return out
    fi, ci = np.nonzero(valid)
    yr = None if year is None else np.asarray(year)[fi]
    out[fi, ci] = oracle_scores(
        world if private else world.truth,
        world.firms,
        matcher.parks,
        np.asarray(firm_rows)[fi],
        cand[fi, ci],
        yr,
    )
    return out


def all_scores(
    matcher: Matcher,
    world: World,
    x: np.ndarray,
    cand: np.ndarray,
    sim: np.ndarray | None,
    firm_rows: np.ndarray,
    year: np.ndarray | None,
    popularity: np.ndarray,
    seed: int,
) -> dict[str, np.ndarray]:
    """Scores (n, k) of every ranker in :data:`RANKERS` on the same candidates; the model's are
    :meth:`Matcher.score`'s, so evaluation scores exactly what serving serves."""
    scores = {
        "model": matcher.score(x, cand),
        "random": random_scores(cand, seed),
        "popularity": popularity_scores(popularity, cand),
        "distance": distance_scores(x, cand),
        "embedding": embedding_scores(x, cand, sim),
        "scorecard": scorecard_scores(x, cand),
        "oracle_params": oracle_for(world, matcher, firm_rows, cand, year, private=False),
        "oracle": oracle_for(world, matcher, firm_rows, cand, year),
    }
    return {name: scores[name] for name in RANKERS}
