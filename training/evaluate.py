"""Offline evaluation: does the ranker beat the scorecards officers use today?

Why this module exists: a ranking model is only worth shipping if it beats what officers already
do, on the lists the service would actually show, measured the same way for everyone.  So
``evaluate(matcher, world, quick)`` scores the model and the baselines of :mod:`training.baselines`
on the **same candidate lists** (the matcher's own retrieval and hard constraints), through the
same metric code (:mod:`matcher.metrics`, looked up in its registry ``M.METRICS``), with bootstrap
95 % intervals, and returns one JSON-able dict.  The model is scored only by
:meth:`matcher.core.Matcher.score`, the function serving uses (for the by-firm split, by a Matcher
whose ranker is the one trained here), so a figure here is a figure of the service.

This module is the orchestration; the pieces live in :mod:`training.baselines` (the competing
rankers), :mod:`training.relocations` (the documented real cases) and :mod:`training.report` (JSON,
table and the HTML report).

Splits
------
* ``temporal`` — events in 2021–2024, scored by the bundle as shipped (trained on ≤ 2020).
* ``by_firm`` — the bundle saw every ≤ 2020 event, so it cannot be tested on "new firms".  A
  separate ranker (same features and hyper-parameters) is trained here on ≤ 2020 events of firms
  with ``hash_unit(firm_id) < 0.8`` (early stopping on 0.8–0.9) and tested on firms with
  ``hash_unit ≥ 0.9``, all years.  No firm is on both sides.  Retrieval (embeddings, FAISS,
  industry inference) is the bundle's: it is fitted on firm *descriptions* only, never on
  destinations, so it carries no label information about the test firms.

Test firms state their needs (no training-only step on test data)
-----------------------------------------------------------------
Training (:func:`training.train.build_groups`) *softens* a share of its firms — marks their own
needs (pollution level, land, maximum distance, port) as not given — so the ranker learns to push
down parks that break an imputed need.  That is a training device, not a property of the test
firms: the splits above are built with ``soft_share=0.0`` (every test firm's needs as recorded;
reported as ``needs_omitted_share`` in each split).  The named setting ``officer_omits_needs``
(:data:`OFFICER_OMITS_NEEDS`, share 0.5) asks the other question — how do the rankers fare when the
officer leaves half the firms' own needs blank? — and is reported beside the default under the JSON
key ``"omitted_needs"``.  Quick mode skips it for speed and says so there (``"skipped": true``).

Metrics (see :mod:`matcher.metrics` for definitions and tie handling)
---------------------------------------------------------------------
NDCG@k over the candidate list (k = 1..10; graded 2 chosen / 1 shortlisted), MAP@10 over the
shortlist, and Hit@k / MRR of the chosen park **end to end**: an event whose chosen park was not
retrieved counts as a miss for every ranker.  Retrieval Recall@K (``M.recall_at_k`` over the
retrieval order) is reported separately.  Coverage and Gini (``M.gini``) are over the top 10 of a
sample of all simulated firms (movers or not).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S
from features.pairs import CATEGORICAL_FEATURES, FEATURE_CRITERION, FEATURE_NAMES, MONOTONE, FirmArrays
from features.validation import columns_from_frame
from matcher import metrics as M
from matcher.bundle import MANIFEST
from matcher.constraints import RULES
from matcher.core import Matcher
from matcher.ranker import ParkRanker
from training.baselines import BASELINES, DEFINITIONS, RANKERS, all_scores, popularity_counts
from training.realcv import RANKERS as REAL_RANKERS
from training.realcv import CVConfig, no_leakage, real_cv, real_cv_seeds
from training.relocations import load_relocations, real_relocations
from training.report import render_html, rnd, table, to_json
from training.synth import World, load_world
from training.train import TRAIN_UNTIL_YEAR, Groups, build_groups, hash_unit

TEST_YEARS = (TRAIN_UNTIL_YEAR + 1, 2024)
FUNCTION_SEGMENTS: dict[str, tuple[str, ...]] = {
    "production": ("production",),
    "wholesale/logistics": ("wholesale", "logistics"),
    "headquarters/back_office": ("headquarters", "back_office"),
    "rnd/research": ("rnd", "research"),
    "data_center": ("data_center",),
    "education/healthcare": ("education", "healthcare"),
}
CURVE_K: tuple[int, ...] = tuple(range(1, 11))
RETRIEVAL_K: tuple[int, ...] = (10, 20, 30, 60, 100)
BYFIRM_TRAIN_HASH = 0.8
BYFIRM_TEST_HASH = 0.9
TARGET_ORACLE_SHARE = 0.9
TARGET_COVERAGE = 0.6

#: Share of test firms whose own needs are marked as not given in the default evaluation: none.
TEST_SOFT_SHARE = 0.0
#: The ``officer_omits_needs`` setting: half the test firms' own needs left blank by the officer.
OFFICER_OMITS_NEEDS = 0.5
OFFICER_OMITS_NEEDS_DESCRIPTION = (
    f"officer_omits_needs: the same test events, but for a stable pseudo-random {OFFICER_OMITS_NEEDS:.0%} "
    "of the firms the own-needs fields (pollution level, land, maximum distance, port) are treated as not "
    "given, as when an officer leaves them blank; hard constraints then keep parks that break those needs "
    "and the rankers must push them down."
)

#: Per-group metrics evaluation reports: key -> (name in ``M.METRICS``, k, end to end).  End to end
#: passes ``n_relevant`` so an event whose chosen park was not retrieved scores 0, not NaN.
PER_GROUP: dict[str, tuple[str, int | None, bool]] = {
    **{f"ndcg@{k}": ("ndcg", k, False) for k in CURVE_K},
    "hit@1": ("hit", 1, True),
    "hit@5": ("hit", 5, True),
    "hit@10": ("hit", 10, True),
    "mrr": ("mrr", None, True),
    "map@10": ("map", 10, False),
}
CI_METRICS = ("ndcg@10", "ndcg@5", "hit@1", "hit@5", "hit@10", "mrr", "map@10")
SEGMENT_METRICS = ("ndcg@10", "hit@10")


def log(msg: str) -> None:
    print(f"[parkmatch evaluate] {msg}", file=sys.stderr, flush=True)


# The real-case CV of ``--quick``: fewer simulated events, one share, smaller fold worlds.
QUICK_CV = CVConfig(max_sim_events=5_000, n_boot=200, shares=(0.1,), fold_world_firms=30_000)


@dataclass(frozen=True)
class EvalConfig:
    n_boot: int = 1000
    max_test_events: int = 0  # 0 = all
    coverage_firms: int = 10_000
    byfirm_train_max: int = 0  # 0 = all
    byfirm_estimators: int = 400
    top_divisions: int = 8
    seed: int = 20140226
    omitted_needs: bool = True  # also run the officer_omits_needs setting

    @classmethod
    def for_mode(cls, quick: bool) -> EvalConfig:
        if quick:
            return cls(
                n_boot=200,
                max_test_events=1500,
                coverage_firms=1500,
                byfirm_train_max=3000,
                byfirm_estimators=80,
                top_divisions=5,
                omitted_needs=False,
            )
        return cls()


# --- scoring --------------------------------------------------------------------------------


def with_ranker(matcher: Matcher, ranker: ParkRanker) -> Matcher:
    """The same retrieval, constraints and features with another ranker, so a ranker trained here
    is scored through :meth:`Matcher.score` like the shipped one."""
    return Matcher(
        embedder=matcher.embedder,
        index=matcher.index,
        ranker=ranker,
        inferer=matcher.inferer,
        parks=matcher.parks,
        priors=matcher.priors_frame,
        manifest=dict(matcher.manifest),
        candidates=matcher.candidates,
        tower=matcher.tower,
        history=matcher.history,
    )


def top_parks(
    scores: np.ndarray, cand: np.ndarray, k: int = 10, matcher: Matcher | None = None
) -> np.ndarray:
    """(n, k) park positions of the best ``k`` candidates, ``-1`` where a firm has fewer than
    ``k`` scored candidates: in the order the matcher shows them (one park per county first, see
    :meth:`Matcher.order`) when ``matcher`` is given, else by score (ties keep retrieval order)."""
    order = (matcher.order(scores, cand) if matcher is not None else M.order_by_score(scores))[:, :k]
    top = np.take_along_axis(cand, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(scores, order, axis=1)), top, -1)


def score_events(
    matcher: Matcher,
    world: World,
    events: pd.DataFrame,
    popularity: np.ndarray,
    seed: int,
    soft_share: float = TEST_SOFT_SHARE,
) -> tuple[Groups, np.ndarray, dict[str, np.ndarray]]:
    """Candidate lists with labels for ``events`` (each firm as of its event year), the firms'
    rows in ``world.firms`` and every ranker's scores.  ``soft_share`` > 0 only for
    :data:`OFFICER_OMITS_NEEDS`; test firms are never softened by default."""
    groups = build_groups(matcher, world.firms, events, soft_share=soft_share)
    rows = _firm_rows(world, events)
    scores = all_scores(
        matcher, world, groups.x, groups.cand, None, rows, events[S.YEAR].to_numpy(), popularity, seed
    )
    return groups, rows, scores


# --- metrics over groups --------------------------------------------------------------------


def _ci(values: np.ndarray, cfg: EvalConfig) -> dict[str, float]:
    m, lo, hi = M.bootstrap_ci(values, n_boot=cfg.n_boot, seed=cfg.seed)
    return {"mean": rnd(m), "lo": rnd(lo), "hi": rnd(hi), "n": int(np.sum(~np.isnan(values)))}


def per_group(labels: np.ndarray, scores: np.ndarray, chosen_exists: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of :data:`PER_GROUP`, per group, through the ``M.METRICS`` registry."""
    ranked = M.rank_labels(labels, scores)
    out: dict[str, np.ndarray] = {}
    for key, (name, k, end_to_end) in PER_GROUP.items():
        fn = M.metric(name)
        out[key] = fn(ranked, k, n_relevant=chosen_exists) if end_to_end else fn(ranked, k)
    return out


def summarise(
    labels: np.ndarray,
    scores: Mapping[str, np.ndarray],
    chosen_exists: np.ndarray,
    segments: Mapping[str, Mapping[str, np.ndarray]],
    cfg: EvalConfig,
) -> dict[str, Any]:
    pg = {name: per_group(labels, s, chosen_exists) for name, s in scores.items()}
    rankers: dict[str, Any] = {}
    for name, vals in pg.items():
        rankers[name] = {m: _ci(vals[m], cfg) for m in CI_METRICS}
        rankers[name]["ndcg_curve"] = [rnd(M.mean(vals[f"ndcg@{k}"])) for k in CURVE_K]
    diffs = {}
    if "model" in pg:
        for name in pg:
            if name != "model":
                diffs[name] = _ci(pg["model"]["ndcg@10"] - pg[name]["ndcg@10"], cfg)
    seg_out: dict[str, Any] = {}
    for kind, masks in segments.items():
        seg_out[kind] = {}
        for seg, mask in masks.items():
            if not mask.any():
                seg_out[kind][seg] = {"n": 0, "rankers": {}}
                continue
            seg_out[kind][seg] = {
                "n": int(mask.sum()),
                "rankers": {
                    name: {m: _ci(vals[m][mask], cfg) for m in SEGMENT_METRICS} for name, vals in pg.items()
                },
            }
    return {
        "n_groups": len(labels),
        "n_groups_with_relevant": int(((labels > 0).any(axis=1)).sum()),
        "chosen_retrieved": rnd(
            float(((labels == S.RELEVANCE_CHOSEN).any(axis=1)).mean()) if len(labels) else float("nan")
        ),
        "rankers": rankers,
        "model_minus_baseline_ndcg@10": diffs,
        "segments": seg_out,
    }


def segment_masks(firms: pd.DataFrame, top_divisions: int) -> dict[str, dict[str, np.ndarray]]:
    """Boolean masks per function group (a firm can be in several) and per top division."""
    fns = [set(v) for v in firms[S.FUNCTIONS_COL]]
    by_fn = {
        seg: np.array([bool(f.intersection(want)) for f in fns], dtype=bool)
        for seg, want in FUNCTION_SEGMENTS.items()
    }
    div = firms[S.INDUSTRY_CODE].astype(str).str[:2].to_numpy()
    names = _division_names()
    top = pd.Series(div).value_counts().head(top_divisions).index
    by_div = {f"{d} {names.get(d, '')}".strip(): div == d for d in top}
    return {"function": by_fn, "division": by_div}


def _division_names() -> dict[str, str]:
    ind = R.load_industries()
    return dict(zip(ind["code"].astype(str), ind["name"].astype(str), strict=True))


# --- retrieval ------------------------------------------------------------------------------


def retrieval_report(matcher: Matcher, firms: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """Where the chosen park sits in the full similarity ranking of feasible parks, and how
    often the matcher's hard constraints exclude the park the firm actually chose."""
    batch, errors = matcher.prepare(columns_from_frame(firms), rows=np.arange(len(firms)))
    if errors:
        raise ValueError(
            f"simulated firm rejected: row {errors[0].row}, {errors[0].field}: {errors[0].reason}"
        )
    fa = FirmArrays.build(batch, matcher.park_arrays)
    n_parks = len(matcher.park_arrays)
    cands = matcher.retrieve(fa, matcher.firm_vectors(batch, fa), k=n_parks)
    pos = {pid: i for i, pid in enumerate(matcher.park_arrays.ids)}
    chosen = np.array([pos.get(p, -1) for p in events[S.CHOSEN_PARK_ID]], dtype=np.int64)
    exists = chosen >= 0
    hit = (cands.parks == chosen[:, None]) & exists[:, None]
    # the candidate list in retrieval order, labelled like the splits (padding -1, chosen 2)
    in_order = np.where(cands.parks < 0, -1, np.where(hit, S.RELEVANCE_CHOSEN, S.RELEVANCE_OTHER)).astype(
        np.int64
    )
    n_rel = exists.astype(np.int64)  # the chosen park exists whether or not it was retrieved

    def recall(k: int) -> float:
        return rnd(M.mean(M.recall_at_k(in_order, k, n_relevant=n_rel)))

    rank = np.where(hit.any(axis=1), np.argmax(hit, axis=1) + 1, 0)
    rule = np.where(exists, cands.infeasible[np.arange(len(chosen)), np.where(exists, chosen, 0)], 0)
    n = max(int(exists.sum()), 1)
    return {
        "n_events": len(events),
        "candidates_k": int(matcher.candidates),
        "recall@K": {str(k): recall(k) for k in sorted({*RETRIEVAL_K, int(matcher.candidates)})},
        "recall_all_feasible": recall(in_order.shape[1]),
        "chosen_excluded_by_hard_constraint": rnd(float((rule > 0).sum() / n)),
        "chosen_excluded_by_rule": {
            RULES[c - 1]: rnd(float((rule == c).sum() / n)) for c in range(1, len(RULES) + 1)
        },
        "median_rank_of_chosen_when_feasible": float(np.median(rank[rank > 0]))
        if (rank > 0).any()
        else float("nan"),
        "mean_feasible_parks": rnd(float((cands.parks >= 0).sum(axis=1).mean()), 1),
    }


# --- splits ---------------------------------------------------------------------------------


def _firm_rows(world: World, events: pd.DataFrame) -> np.ndarray:
    idx = pd.Index(world.firms[S.FIRM_ID])
    rows = idx.get_indexer(events[S.FIRM_ID])
    if (rows < 0).any():
        raise ValueError("an event names a firm that is not in the world's firms")
    return np.asarray(rows, dtype=np.int64)


def _sample(events: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if n <= 0 or len(events) <= n:
        return events.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    return events.iloc[np.sort(rng.choice(len(events), n, replace=False))].reset_index(drop=True)


def evaluate_split(
    matcher: Matcher,
    world: World,
    events: pd.DataFrame,
    popularity: np.ndarray,
    cfg: EvalConfig,
    progress: Callable[[str], None],
    name: str,
    soft_share: float = TEST_SOFT_SHARE,
    detail: bool = True,
) -> dict[str, Any]:
    """Every ranker on one split's events; ``matcher`` supplies the model (its ``score``).
    ``detail=False`` leaves out the segments and the retrieval diagnostics."""
    progress(f"{name}: candidate lists and {len(RANKERS)} rankers' scores for {len(events):,} events")
    groups, rows, scores = score_events(matcher, world, events, popularity, cfg.seed, soft_share)
    sub = world.firms.iloc[rows].reset_index(drop=True)
    out = summarise(
        groups.labels,
        scores,
        (groups.chosen_pos >= 0).astype(np.int64),
        segment_masks(sub, cfg.top_divisions) if detail else {},
        cfg,
    )
    out["needs_omitted_share"] = soft_share
    if detail:
        progress(f"{name}: retrieval diagnostics")
        out["retrieval"] = retrieval_report(matcher, sub, events)
    out["years"] = sorted({int(y) for y in events[S.YEAR]})
    return out


def train_byfirm_ranker(
    matcher: Matcher, world: World, cfg: EvalConfig, progress: Callable[[str], None]
) -> tuple[Matcher, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """A Matcher with the bundle's retrieval and a ranker trained here on firms disjoint from the
    by-firm test firms; training groups are built exactly as :mod:`training.train` builds them."""
    ev = world.events.reset_index(drop=True)
    h = np.array([hash_unit(f) for f in ev[S.FIRM_ID]])
    early = ev[S.YEAR].to_numpy() <= TRAIN_UNTIL_YEAR
    train_ev = _sample(ev[early & (h < BYFIRM_TRAIN_HASH)], cfg.byfirm_train_max, cfg.seed)
    val_ev = _sample(
        ev[early & (h >= BYFIRM_TRAIN_HASH) & (h < BYFIRM_TEST_HASH)],
        cfg.byfirm_train_max // 5 if cfg.byfirm_train_max else 0,
        cfg.seed,
    )
    test_ev = _sample(ev[h >= BYFIRM_TEST_HASH], cfg.max_test_events, cfg.seed)
    progress(
        f"by_firm: training a separate ranker on {len(train_ev):,} events "
        f"(≤{TRAIN_UNTIL_YEAR}, hash<{BYFIRM_TRAIN_HASH}), validating on {len(val_ev):,}"
    )
    gtr = build_groups(matcher, world.firms, train_ev)
    gva = build_groups(matcher, world.firms, val_ev)
    ranker = ParkRanker(
        feature_names=FEATURE_NAMES,
        groups=FEATURE_CRITERION,
        monotone=MONOTONE,
        categorical=CATEGORICAL_FEATURES,
        n_estimators=cfg.byfirm_estimators,
        seed=0,
    )
    xtr, ytr, g_tr = gtr.flat()
    xva, yva, g_va = gva.flat()
    ranker.fit(xtr, ytr, g_tr, eval_set=(xva, yva, g_va) if len(g_va) else None)
    overlap = set(train_ev[S.FIRM_ID]) & set(test_ev[S.FIRM_ID])
    info = {
        "train_events": len(train_ev),
        "validation_events": len(val_ev),
        "test_events": len(test_ev),
        "firms_on_both_sides": len(overlap),
        "best_iteration": int(ranker.booster_.current_iteration()),
        "rule": f"train: year ≤ {TRAIN_UNTIL_YEAR} and hash_unit(firm_id) < {BYFIRM_TRAIN_HASH}; "
        f"early stopping: {BYFIRM_TRAIN_HASH} ≤ hash < {BYFIRM_TEST_HASH}; "
        f"test: hash ≥ {BYFIRM_TEST_HASH}, all years",
    }
    return with_ranker(matcher, ranker), train_ev, test_ev, info


# --- coverage -------------------------------------------------------------------------------


def coverage_report(
    matcher: Matcher,
    world: World,
    train_events: pd.DataFrame,
    cfg: EvalConfig,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Catalogue coverage and Gini of every ranker's top 10 over a sample of all simulated firms,
    scored as serving scores them (whole history, the decision year)."""
    rng = np.random.default_rng(cfg.seed + 1)
    n = min(cfg.coverage_firms, len(world.firms))
    rows = np.sort(rng.choice(len(world.firms), n, replace=False))
    sample = world.firms.iloc[rows].reset_index(drop=True)
    progress(f"coverage: top 10 for {n:,} simulated firms (all firms, not only movers)")
    batch, _errors = matcher.prepare(columns_from_frame(sample), rows=np.arange(len(sample)))
    kept = rows[np.asarray(batch.rows, dtype=np.int64)]
    n_parks = len(matcher.park_arrays)
    _, cands, x = matcher.features(batch)
    scores = all_scores(
        matcher,
        world,
        x,
        cands.parks,
        cands.sim,
        kept,
        None,
        popularity_counts(matcher, train_events),
        cfg.seed,
    )
    tops = {name: top_parks(s, cands.parks, 10, matcher) for name, s in scores.items()}
    counts = {name: M.recommendation_counts(t, n_parks) for name, t in tops.items()}
    frame = matcher.park_arrays.frame
    return {
        "n_firms": len(batch),
        "n_parks": n_parks,
        "rankers": {
            name: {
                "coverage": rnd(M.catalogue_coverage(tops[name], n_parks)),
                "gini": rnd(M.gini(c)),
                "parks_recommended": int((c > 0).sum()),
            }
            for name, c in counts.items()
        },
        "model_counts": [
            {
                "park_id": str(frame[S.PARK_ID][p]),
                "name": str(frame[S.PARK_NAME][p]),
                "lat": float(frame[S.LAT][p]),
                "lng": float(frame[S.LNG][p]),
                "count": int(counts["model"][p]),
            }
            for p in range(n_parks)
        ],
    }


# --- feature importance ---------------------------------------------------------------------


def feature_importance(ranker: ParkRanker) -> dict[str, Any]:
    gain = np.asarray(ranker.booster_.feature_importance(importance_type="gain"), dtype=np.float64)
    names = list(ranker.booster_.feature_name())
    total = gain.sum() or 1.0
    by_feature = {n: rnd(g / total) for n, g in sorted(zip(names, gain, strict=True), key=lambda t: -t[1])}
    by_criterion: dict[str, float] = {}
    for n, g in zip(names, gain, strict=True):
        c = FEATURE_CRITERION.get(n, "other")
        by_criterion[c] = by_criterion.get(c, 0.0) + g / total
    return {
        "by_feature": by_feature,
        "by_criterion": {k: rnd(v) for k, v in sorted(by_criterion.items(), key=lambda t: -t[1])},
    }


# --- the whole evaluation -------------------------------------------------------------------


def omitted_needs_report(
    splits: Mapping[str, tuple[Matcher, pd.DataFrame, np.ndarray]],
    world: World,
    cfg: EvalConfig,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The ``officer_omits_needs`` setting on each split's own test events, matcher and popularity."""
    out: dict[str, Any] = {
        "setting": "officer_omits_needs",
        "share": OFFICER_OMITS_NEEDS,
        "description": OFFICER_OMITS_NEEDS_DESCRIPTION,
        "skipped": not cfg.omitted_needs,
    }
    if not cfg.omitted_needs:
        out["reason"] = "quick mode: skipped for speed (run without --quick to include it)"
        return out
    for name, (m, events, popularity) in splits.items():
        out[name] = evaluate_split(
            m,
            world,
            events,
            popularity,
            cfg,
            progress,
            f"{name}/officer_omits_needs",
            soft_share=OFFICER_OMITS_NEEDS,
            detail=False,
        )
    return out


def evaluate(
    matcher: Matcher,
    world: World,
    quick: bool = False,
    progress: Callable[[str], None] = log,
    relocations: Path | None = None,
    config: EvalConfig | None = None,
) -> dict[str, Any]:
    """Every metric for the model and each baseline, per split and segment, plus the
    officer_omits_needs setting, coverage, feature importance, the real-relocation check and the
    acceptance verdicts (JSON-able)."""
    cfg = config or EvalConfig.for_mode(quick)
    t0 = time.perf_counter()
    ev = world.events.reset_index(drop=True)
    years = ev[S.YEAR].to_numpy()
    train_ev = ev[years <= TRAIN_UNTIL_YEAR]
    test_ev = _sample(ev[(years >= TEST_YEARS[0]) & (years <= TEST_YEARS[1])], cfg.max_test_events, cfg.seed)
    out: dict[str, Any] = {
        "model_version": matcher.model_version,
        "quick": quick,
        "config": asdict(cfg),
        "world": {
            "firms": len(world.firms),
            "events": len(ev),
            "seed": world.truth.get("seed"),
            "version": world.truth.get("version"),
        },
        "definitions": {
            "rankers": dict(DEFINITIONS),
            "metrics": "see matcher/metrics.py; NDCG over the shared candidate list "
            "(2 chosen / 1 shortlisted), Hit/MRR of the chosen park end to end",
            "ties": "stable sort by score descending, ties keep retrieval (similarity) order",
            "ci": f"percentile bootstrap over groups, {cfg.n_boot} resamples, 95%",
            "test_needs": "splits: every test firm's own needs as recorded "
            f"(needs_omitted_share {TEST_SOFT_SHARE}); omitted_needs: {OFFICER_OMITS_NEEDS_DESCRIPTION}",
        },
    }
    cv_cfg = (
        replace(QUICK_CV, fold_world_firms=min(QUICK_CV.fold_world_firms, len(world.firms)))
        if quick
        else CVConfig()
    )
    cases = load_relocations(relocations)
    out["real_cv"] = real_cv(matcher, cases, cv_cfg, progress)
    out["real_cv"]["no_leakage"] = no_leakage(out["real_cv"], cases)
    popularity = popularity_counts(matcher, train_ev)
    out["temporal"] = evaluate_split(matcher, world, test_ev, popularity, cfg, progress, "temporal")
    bf_matcher, bf_train, bf_test, info = train_byfirm_ranker(matcher, world, cfg, progress)
    bf_popularity = popularity_counts(matcher, bf_train)
    out["by_firm"] = evaluate_split(bf_matcher, world, bf_test, bf_popularity, cfg, progress, "by_firm")
    out["by_firm"]["training"] = info
    out["omitted_needs"] = omitted_needs_report(
        {"temporal": (matcher, test_ev, popularity), "by_firm": (bf_matcher, bf_test, bf_popularity)},
        world,
        cfg,
        progress,
    )
    out["coverage"] = coverage_report(matcher, world, train_ev, cfg, progress)
    out["feature_importance"] = feature_importance(matcher.ranker)
    out["real_relocations"] = real_relocations(matcher, relocations, progress)
    out["acceptance"] = acceptance(out)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    progress(f"done in {out['seconds']}s")
    return out


def acceptance(doc: Mapping[str, Any]) -> dict[str, Any]:
    t = doc["temporal"]["rankers"]
    m = t["model"]["ndcg@10"]
    beats = {b: bool(m["lo"] > t[b]["ndcg@10"]["hi"]) for b in BASELINES}
    share = m["mean"] / t["oracle"]["ndcg@10"]["mean"] if t["oracle"]["ndcg@10"]["mean"] else float("nan")
    params = t["oracle_params"]["ndcg@10"]["mean"]
    share_params = m["mean"] / params if params else float("nan")
    cov = doc["coverage"]["rankers"]["model"]["coverage"]
    rr = doc["real_relocations"]["summary"]
    cv = doc["real_cv"]
    by_type = cv["model"]["by_type"]
    return {
        "real_cv_county_hit@5": cv["model"]["county_hit@5"],
        "real_cv_county_hit@5_at_least_0.80": bool(cv["model"]["county_hit@5"] >= 0.80),
        "real_cv_industrial_county_hit@5": cv["model"]["industrial"]["county_hit@5"],
        "real_cv_industrial_at_least_0.70": bool(cv["model"]["industrial"]["county_hit@5"] >= 0.70),
        "real_cv_types_below_0.5": sorted(
            t for t, v in by_type.items() if v["n"] >= 5 and v["county_hit@5"] < 0.5
        ),
        "real_cv_beats_every_baseline_at_hit@5": cv["beats_every_baseline_at_hit@5"],
        "beats_every_baseline_ndcg@10_non_overlapping": all(beats.values()),
        "beats": beats,
        "model_share_of_oracle_ndcg@10": rnd(share),
        "reaches_90pct_of_oracle": bool(share >= TARGET_ORACLE_SHARE),
        "model_share_of_oracle_params_ndcg@10": rnd(share_params),
        "coverage": cov,
        "coverage_at_least_60pct": bool(cov >= TARGET_COVERAGE),
        "real_county_hit@10": {
            "model": rr["model"]["county@10"]["rate"],
            "scorecard": rr["scorecard"]["county@10"]["rate"],
        },
    }


# --- command line ---------------------------------------------------------------------------


# Seeds of a multi-seed real-case CV: far apart, because a fold's world is drawn with seed + 1 +
# fold, and adjacent seeds would share worlds between folds.
SEED_STEP = 1000


def _load_bundle(model_dir: Path) -> Matcher:
    model_dir = Path(model_dir)
    if not (model_dir / MANIFEST).exists():
        raise FileNotFoundError(f"no model bundle in {model_dir}: run `parkmatch train` first")
    log(f"loading model bundle {model_dir}")
    return Matcher.load(model_dir)


def cli_real_cv(model_dir: Path, seeds: int, as_json: bool, quick: bool) -> int:
    """``parkmatch evaluate --real-only``: the real-case cross-validation alone, averaged over
    ``seeds`` seeds (0, 1000, 2000 …): what to compare two recipes on, since one seed's figure
    moves by a few hundredths by itself."""
    if not 1 <= seeds <= 10:
        raise ValueError(f"--seeds must be between 1 and 10, got {seeds}")
    matcher = _load_bundle(model_dir)
    cfg = QUICK_CV if quick else CVConfig()
    doc = real_cv_seeds(matcher, load_relocations(None), [k * SEED_STEP for k in range(seeds)], cfg, log)
    doc["model_version"] = matcher.model_version
    if as_json:
        print(to_json(doc))
        return 0
    lines = [f"real-case CV, model {matcher.model_version}, seeds {doc['seeds']} (mean; by seed)"]
    for name in REAL_RANKERS:
        r = doc[name]
        lines.append(
            f"  {name:<24} county Hit@5 {r['county_hit@5']:.3f} {r['county_hit@5_by_seed']}"
            f"  Hit@1 {r['county_hit@1']:.3f}  Hit@10 {r['county_hit@10']:.3f}"
            f"  park Hit@5 {r['park_hit@5']:.3f}  industrial {r['industrial']['county_hit@5']:.3f}"
        )
    lines.append("  model by entity type, county Hit@5:")
    for t, r in doc["model"]["by_type"].items():
        lines.append(f"    {t:<22} n={r['n']:<4} {r['county_hit@5']:.3f} {r['county_hit@5_by_seed']}")
    print("\n".join(lines))
    return 0


def cli_evaluate(model_dir: Path, world_dir: Path, as_json: bool, report: Path | None, quick: bool) -> int:
    """``parkmatch evaluate``: the bundle's own world (manifest ``world_dir``) when it is still on
    disk, else ``world_dir``; prints the table or the JSON, optionally writes the HTML report."""
    matcher = _load_bundle(model_dir)
    recorded = matcher.manifest.get("world_dir")
    world = Path(recorded) if recorded else Path(world_dir)
    if not (world / "events.parquet").exists():
        world = Path(world_dir)
    log(f"loading simulated world {world}")
    doc = evaluate(matcher, load_world(world), quick=quick)
    doc["world"]["dir"] = str(world)
    if report is not None:
        Path(report).write_text(render_html(doc), encoding="utf-8")
        log(f"HTML report written to {report}")
    print(to_json(doc) if as_json else table(doc))
    return 0
