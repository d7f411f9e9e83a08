"""Offline evaluation: does the ranker beat the scorecards officers use today?

``evaluate(matcher, world, quick)`` scores the model and six baselines on the **same candidate
lists** (the matcher's own retrieval and hard constraints), through the same metric code
(:mod:`training.metrics`), with bootstrap 95 % intervals, and returns one JSON-able dict.

Rankers (each gives a score per candidate; ties keep retrieval order)
----------------------------------------------------------------------
* ``model`` — the bundle's LightGBM LambdaRank (for the by-firm split: a ranker trained here,
  see below).
* ``random`` — uniform scores from a seeded generator.
* ``popularity`` — how many training-period relocations chose the park.
* ``distance`` — nearest to the firm's *origin district* first (great-circle km, the pair feature
  ``origin_distance_km``; Tiananmen when the district is unknown).  Origin rather than Tiananmen
  because "how far do our people have to go" is how officers argue distance.
* ``embedding`` — FAISS similarity alone (``Candidates.sim``), i.e. the retrieval order.
* ``scorecard`` — the hand-weighted rule scorecard of the kind officers fill in today: the mean,
  with **equal weights 0.2 each**, of the five [0, 1] criterion scores of
  :func:`features.pairs.criterion_scores` (industry match, land, talent, subsidy, proximity).
* ``oracle`` — :func:`training.synth.oracle_scores`, the simulator's own noiseless utility with
  the firm's hidden tastes, for the event year.  The ceiling: nothing observable can beat it in
  expectation.
* ``oracle_params`` — the same utility from ``truth.json`` alone (every taste at its median, no
  path dependence): what someone who knew the simulator's parameters but not the individual firm
  would rank by.

Splits
------
* ``temporal`` — events in 2021–2024, scored by the bundle as shipped (trained on ≤ 2020).
* ``by_firm`` — the bundle saw every ≤ 2020 event, so it cannot be tested on "new firms".  A
  separate ranker (same features and hyper-parameters) is trained here on ≤ 2020 events of firms
  with ``hash_unit(firm_id) < 0.8`` (early stopping on 0.8–0.9) and tested on firms with
  ``hash_unit ≥ 0.9``, all years.  No firm is on both sides.  Retrieval (embeddings, FAISS,
  industry inference) is the bundle's: it is fitted on firm *descriptions* only, never on
  destinations, so it carries no label information about the test firms.

Metrics (see :mod:`training.metrics` for definitions and tie handling)
-----------------------------------------------------------------------
NDCG@k over the candidate list (k = 1..10; graded 2 chosen / 1 shortlisted), MAP@10 over the
shortlist, and Hit@k / MRR of the chosen park **end to end**: an event whose chosen park was not
retrieved counts as a miss for every ranker.  Retrieval Recall@K is reported separately.
Coverage and Gini are over the top 10 of a sample of all simulated firms (movers or not).
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S
from features.pairs import (
    CATEGORICAL_FEATURES,
    FEATURE_CRITERION,
    FEATURE_NAMES,
    MONOTONE,
    FirmArrays,
    criterion_scores,
)
from features.validation import columns_from_frame, columns_from_records
from matcher.constraints import RULES
from matcher.core import Matcher
from matcher.ranker import ParkRanker
from training import metrics as M
from training.synth import World, load_world, oracle_scores
from training.train import TRAIN_UNTIL_YEAR, build_groups, hash_unit

TEST_YEARS = (TRAIN_UNTIL_YEAR + 1, 2024)
RANKERS: tuple[str, ...] = ("model", "random", "popularity", "distance", "embedding", "scorecard", "oracle_params", "oracle")
BASELINES: tuple[str, ...] = tuple(r for r in RANKERS if r not in ("model", "oracle", "oracle_params"))
SCORECARD_WEIGHTS: dict[str, float] = {c: 0.2 for c in S.CRITERIA}
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
XIONGAN_ADCODES = frozenset({"133100", "130638", "130629", "130632"})  # 雄安新区 = 雄县/容城/安新
BYFIRM_TRAIN_HASH = 0.8
BYFIRM_TEST_HASH = 0.9
TARGET_ORACLE_SHARE = 0.9
TARGET_COVERAGE = 0.6


def log(msg: str) -> None:
    print(f"[parkmatch evaluate] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class EvalConfig:
    n_boot: int = 1000
    max_test_events: int = 0  # 0 = all
    coverage_firms: int = 10_000
    byfirm_train_max: int = 0  # 0 = all
    byfirm_estimators: int = 400
    top_divisions: int = 8
    seed: int = 20140226

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
            )
        return cls()


# --- scoring --------------------------------------------------------------------------------


def _masked(scores: np.ndarray, cand: np.ndarray) -> np.ndarray:
    return np.where(cand >= 0, scores, -np.inf)


def ranker_scores(ranker: ParkRanker, x: np.ndarray, cand: np.ndarray) -> np.ndarray:
    n, k, f = x.shape
    if n == 0:
        return np.zeros((0, k))
    return _masked(ranker.predict(x.reshape(n * k, f)).reshape(n, k), cand)


def scorecard_scores(x: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Equal-weight mean of the five criterion scores (see :data:`SCORECARD_WEIGHTS`)."""
    n, k, f = x.shape
    if n == 0:
        return np.zeros((0, k))
    crit = criterion_scores(x.reshape(n * k, f)).reshape(n, k, len(S.CRITERIA))
    w = np.array([SCORECARD_WEIGHTS[c] for c in S.CRITERIA])
    return _masked(crit @ w, cand)


def popularity_counts(matcher: Matcher, events: pd.DataFrame) -> np.ndarray:
    pos = {pid: i for i, pid in enumerate(matcher.park_arrays.ids)}
    chosen = [pos[p] for p in events[S.CHOSEN_PARK_ID] if p in pos]
    return np.bincount(np.asarray(chosen, dtype=np.int64), minlength=len(pos)).astype(np.float64)


def oracle_for(
    world: World, matcher: Matcher, firm_rows: np.ndarray, cand: np.ndarray, year: np.ndarray | None, private: bool = True
) -> np.ndarray:
    n, k = cand.shape
    out = np.full((n, k), -np.inf)
    valid = cand >= 0
    if not valid.any():
        return out
    fi, ci = np.nonzero(valid)
    yr = None if year is None else np.asarray(year)[fi]
    out[fi, ci] = oracle_scores(
        world if private else world.truth, world.firms, matcher.parks, np.asarray(firm_rows)[fi], cand[fi, ci], yr
    )
    return out


def all_scores(
    matcher: Matcher,
    ranker: ParkRanker,
    world: World,
    x: np.ndarray,
    cand: np.ndarray,
    sim: np.ndarray | None,
    firm_rows: np.ndarray,
    year: np.ndarray | None,
    popularity: np.ndarray,
    seed: int,
) -> dict[str, np.ndarray]:
    """Scores (n, k) of every ranker in :data:`RANKERS` on the same candidates."""
    col = FEATURE_NAMES.index
    rng = np.random.default_rng(seed)
    safe = np.where(cand < 0, 0, cand)
    return {
        "model": ranker_scores(ranker, x, cand),
        "random": _masked(rng.random(cand.shape), cand),
        "popularity": _masked(popularity[safe], cand),
        "distance": _masked(-x[:, :, col("origin_distance_km")].astype(np.float64), cand),
        "embedding": _masked(
            (x[:, :, col("embedding_sim")] if sim is None else sim).astype(np.float64), cand
        ),
        "scorecard": scorecard_scores(x, cand),
        "oracle_params": oracle_for(world, matcher, firm_rows, cand, year, private=False),
        "oracle": oracle_for(world, matcher, firm_rows, cand, year),
    }


# --- metrics over groups --------------------------------------------------------------------


def _ci(values: np.ndarray, cfg: EvalConfig) -> dict[str, float]:
    m, lo, hi = M.bootstrap_ci(values, n_boot=cfg.n_boot, seed=cfg.seed)
    return {"mean": _r(m), "lo": _r(lo), "hi": _r(hi), "n": int(np.sum(~np.isnan(values)))}


def _r(v: float, nd: int = 4) -> float:
    return round(float(v), nd) if math.isfinite(float(v)) else float("nan")


def per_group(labels: np.ndarray, scores: np.ndarray, chosen_exists: np.ndarray) -> dict[str, np.ndarray]:
    ranked = M.rank_labels(labels, scores)
    out: dict[str, np.ndarray] = {f"ndcg@{k}": M.ndcg_at_k(ranked, k) for k in CURVE_K}
    for k in (1, 5, 10):
        out[f"hit@{k}"] = M.hit_at_k(ranked, k, n_relevant=chosen_exists)
    out["mrr"] = M.mrr(ranked, n_relevant=chosen_exists)
    out["map@10"] = M.map_at_k(ranked, 10)
    return out


CI_METRICS = ("ndcg@10", "ndcg@5", "hit@1", "hit@5", "hit@10", "mrr", "map@10")


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
        rankers[name]["ndcg_curve"] = [_r(M.mean(vals[f"ndcg@{k}"])) for k in CURVE_K]
    diffs = {}
    if "model" in pg:
        for name in pg:
            if name != "model":
                d = pg["model"]["ndcg@10"] - pg[name]["ndcg@10"]
                diffs[name] = _ci(d, cfg)
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
                    name: {m: _ci(vals[m][mask], cfg) for m in ("ndcg@10", "hit@10")}
                    for name, vals in pg.items()
                },
            }
    return {
        "n_groups": len(labels),
        "n_groups_with_relevant": int(((labels > 0).any(axis=1)).sum()),
        "chosen_retrieved": _r(
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
    hit = cands.parks == chosen[:, None]
    rank = np.where(hit.any(axis=1), np.argmax(hit, axis=1) + 1, 0)
    rule = np.where(exists, cands.infeasible[np.arange(len(chosen)), np.where(exists, chosen, 0)], 0)
    n = max(int(exists.sum()), 1)
    out: dict[str, Any] = {
        "n_events": len(events),
        "candidates_k": int(matcher.candidates),
        "recall@K": {
            str(k): _r(float(((rank > 0) & (rank <= k)).sum() / n))
            for k in sorted({*RETRIEVAL_K, int(matcher.candidates)})
        },
        "recall_all_feasible": _r(float((rank > 0).sum() / n)),
        "chosen_excluded_by_hard_constraint": _r(float((rule > 0).sum() / n)),
        "chosen_excluded_by_rule": {
            RULES[c - 1]: _r(float((rule == c).sum() / n)) for c in range(1, len(RULES) + 1)
        },
        "median_rank_of_chosen_when_feasible": float(np.median(rank[rank > 0]))
        if (rank > 0).any()
        else float("nan"),
        "mean_feasible_parks": _r(float((cands.parks >= 0).sum(axis=1).mean()), 1),
    }
    return out


# --- splits ---------------------------------------------------------------------------------


def _firm_rows(world: World, events: pd.DataFrame) -> np.ndarray:
    idx = pd.Index(world.firms[S.FIRM_ID])
    rows = idx.get_indexer(events[S.FIRM_ID])
    if (rows < 0).any():
        raise ValueError("an event names a firm that is not in the world's firms")
    return rows.astype(np.int64)


def _sample(events: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if n <= 0 or len(events) <= n:
        return events.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    return events.iloc[np.sort(rng.choice(len(events), n, replace=False))].reset_index(drop=True)


def evaluate_split(
    matcher: Matcher,
    ranker: ParkRanker,
    world: World,
    events: pd.DataFrame,
    popularity: np.ndarray,
    cfg: EvalConfig,
    progress: Callable[[str], None],
    name: str,
) -> dict[str, Any]:
    progress(f"{name}: building candidate lists for {len(events):,} events")
    groups = build_groups(matcher, world.firms, events)
    rows = _firm_rows(world, events)
    progress(f"{name}: scoring {len(RANKERS)} rankers on the same candidates")
    scores = all_scores(
        matcher,
        ranker,
        world,
        groups.x,
        groups.cand,
        None,
        rows,
        events[S.YEAR].to_numpy(),
        popularity,
        cfg.seed,
    )
    sub = world.firms.iloc[rows].reset_index(drop=True)
    out = summarise(
        groups.labels,
        scores,
        (groups.chosen_pos >= 0).astype(np.int64),
        segment_masks(sub, cfg.top_divisions),
        cfg,
    )
    progress(f"{name}: retrieval diagnostics")
    out["retrieval"] = retrieval_report(matcher, sub, events)
    out["years"] = sorted({int(y) for y in events[S.YEAR]})
    return out


def train_byfirm_ranker(
    matcher: Matcher, world: World, cfg: EvalConfig, progress: Callable[[str], None]
) -> tuple[ParkRanker, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
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
        f"by_firm: training a separate ranker on {len(train_ev):,} events (≤{TRAIN_UNTIL_YEAR}, hash<{BYFIRM_TRAIN_HASH}), validating on {len(val_ev):,}"
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
        f"early stopping: {BYFIRM_TRAIN_HASH} ≤ hash < {BYFIRM_TEST_HASH}; test: hash ≥ {BYFIRM_TEST_HASH}, all years",
    }
    return ranker, train_ev, test_ev, info


# --- coverage -------------------------------------------------------------------------------


def coverage_report(
    matcher: Matcher,
    world: World,
    train_events: pd.DataFrame,
    cfg: EvalConfig,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    rng = np.random.default_rng(cfg.seed + 1)
    n = min(cfg.coverage_firms, len(world.firms))
    rows = np.sort(rng.choice(len(world.firms), n, replace=False))
    sample = world.firms.iloc[rows].reset_index(drop=True)
    progress(f"coverage: top 10 for {n:,} simulated firms (all firms, not only movers)")
    batch, _errors = matcher.prepare(columns_from_frame(sample), rows=np.arange(len(sample)))
    kept = rows[np.asarray(batch.rows, dtype=np.int64)]
    res = matcher.match(batch, top=10)
    n_parks = len(matcher.park_arrays)
    tops: dict[str, np.ndarray] = {"model": res.park_pos}
    _, cands, x = matcher.features(batch)
    scores = all_scores(
        matcher,
        matcher.ranker,
        world,
        x,
        cands.parks,
        cands.sim,
        kept,
        None,
        popularity_counts(matcher, train_events),
        cfg.seed,
    )
    for name, s in scores.items():
        if name == "model":
            continue
        order = M.order_by_score(s)[:, :10]
        top = np.take_along_axis(cands.parks, order, axis=1)
        tops[name] = np.where(np.isfinite(np.take_along_axis(s, order, axis=1)), top, -1)
    counts = {name: M.recommendation_counts(t, n_parks) for name, t in tops.items()}
    frame = matcher.park_arrays.frame
    return {
        "n_firms": len(batch),
        "n_parks": n_parks,
        "rankers": {
            name: {
                "coverage": _r(M.catalogue_coverage(tops[name], n_parks)),
                "gini": _r(M.gini(c)),
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
    by_feature = {n: _r(g / total) for n, g in sorted(zip(names, gain, strict=True), key=lambda t: -t[1])}
    by_criterion: dict[str, float] = {}
    for n, g in zip(names, gain, strict=True):
        c = FEATURE_CRITERION.get(n, "other")
        by_criterion[c] = by_criterion.get(c, 0.0) + g / total
    return {
        "by_feature": by_feature,
        "by_criterion": {k: _r(v) for k, v in sorted(by_criterion.items(), key=lambda t: -t[1])},
    }


# --- real relocations -----------------------------------------------------------------------

_PUNCT = re.compile(r"[\s·・•—–\-_、,，.。:：/（）()]")
_PREFIXES = ("河北省", "河北", "天津市", "天津", "北京市", "北京", "原")
PARK_MATCH_RULE = (
    "Names are normalised (punctuation and spaces removed; a leading 河北/天津/北京(省/市) or 原 dropped) and "
    "split into the main name and each bracketed alias. Tier 1 (specific): a destination name equals, or is "
    "contained in, a catalogue name. Tier 2 (enclosing zone): a catalogue name of ≥4 characters is contained in "
    "the destination name (e.g. 雄安新区 for 雄安新区起步区第五组团). Tier 3 (fuzzy): difflib ratio ≥ 0.7 and the "
    "catalogue park lies in the destination county. The first non-empty tier gives the matched parks; a park-level "
    "hit is any matched park in the top k. Rows with no match are scored at county level only."
)
COUNTY_MATCH_RULE = (
    "County-level hit: a recommended park whose adcode equals destination_adcode (雄安新区 133100 = 雄县 130638 / "
    "容城 130629 / 安新 130632), or a park-level hit."
)


def _norm(s: str) -> str:
    s = _PUNCT.sub("", s)
    changed = True
    while changed:
        changed = False
        for p in _PREFIXES:
            if s.startswith(p) and len(s) > len(p) + 1:
                s = s[len(p) :]
                changed = True
    return s


def name_variants(name: str) -> list[str]:
    """The normalised main name and each bracketed alias."""
    name = name.replace("(", "（").replace(")", "）")
    aliases = re.findall(r"（([^（）]*)）", name)
    main = re.sub(r"（[^（）]*）", "", name)
    out = [_norm(v) for v in (main, *aliases)]
    return [v for v in dict.fromkeys(out) if len(v) >= 2]


def same_county(a: str, b: str) -> bool:
    return a == b or (a in XIONGAN_ADCODES and b in XIONGAN_ADCODES)


def match_parks(destination: str, dest_adcode: str, parks: pd.DataFrame) -> tuple[list[int], str]:
    """Catalogue positions matching a reported destination park name, and the tier used."""
    if not destination.strip():
        return [], "none"
    dest = name_variants(destination)
    variants = [name_variants(str(n)) for n in parks[S.PARK_NAME]]
    adcodes = parks[S.ADCODE].astype(str).tolist()
    tiers: list[tuple[str, Callable[[str, str, int], bool]]] = [
        ("specific", lambda d, p, j: d == p or (len(d) >= 4 and d in p)),
        ("enclosing", lambda d, p, j: len(p) >= 4 and p in d),
        (
            "fuzzy",
            lambda d, p, j: (
                same_county(adcodes[j], dest_adcode) and SequenceMatcher(None, d, p).ratio() >= 0.7
            ),
        ),
    ]
    for tier, ok in tiers:
        hits = [j for j, pv in enumerate(variants) if any(ok(d, p, j) for d in dest for p in pv)]
        if hits:
            return hits, tier
    return [], "none"


def load_relocations(path: Path | None = None) -> pd.DataFrame:
    return pd.read_csv(path or R.data_file("relocations.csv"), dtype=str, keep_default_na=False)


def relocation_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Partial firm profiles holding only what the report says (everything else is imputed)."""
    recs = []
    for r in df.itertuples(index=False):
        rec: dict[str, Any] = {
            S.FIRM_ID: r.case_id,
            S.NAME: r.entity,
            S.INDUSTRY_CODE: r.industry_code or None,
            S.DESCRIPTION: r.description or None,
            S.ORIGIN_DISTRICT: r.origin_district or None,
            S.FUNCTIONS_COL: [f for f in str(r.functions).split(";") if f],
        }
        if r.employees:
            rec[S.EMPLOYEES] = int(float(str(r.employees)))
        if r.land_mu:
            rec[S.LAND_NEED_MU] = float(str(r.land_mu))
        recs.append(rec)
    return recs


def real_relocations(
    matcher: Matcher, path: Path | None = None, progress: Callable[[str], None] = log
) -> dict[str, Any]:
    df = load_relocations(path)
    progress(f"real relocations: {len(df)} documented cases")
    batch, errors = matcher.prepare(columns_from_records(relocation_records(df)), rows=np.arange(len(df)))
    _fa, cands, x = matcher.features(batch)
    scores = {
        "model": ranker_scores(matcher.ranker, x, cands.parks),
        "scorecard": scorecard_scores(x, cands.parks),
    }
    parks = matcher.park_arrays.frame
    adcodes = parks[S.ADCODE].astype(str).to_numpy()
    names = parks[S.PARK_NAME].astype(str).to_numpy()
    rows = df.iloc[batch.rows].reset_index(drop=True)
    # one policy event (e.g. the 2015 Cangzhou pharma cluster) should not count 12 times: weight 1/size
    key = rows["destination_adcode"] + "|" + rows["industry_code"].str[:2] + "|" + rows["year"]
    weight = 1.0 / key.map(key.value_counts()).to_numpy(np.float64)
    cases = []
    hits: dict[str, dict[str, list[float]]] = {
        r: {"county@5": [], "county@10": [], "park@5": [], "park@10": []} for r in scores
    }
    for i, r in enumerate(rows.itertuples(index=False)):
        dest_ad = str(r.destination_adcode)
        matched, tier = match_parks(str(r.destination_park), dest_ad, parks)
        county_parks = [j for j in range(len(parks)) if same_county(adcodes[j], dest_ad)]
        target = set(matched) | set(county_parks)
        case: dict[str, Any] = {
            "case_id": r.case_id,
            "entity": r.entity,
            "year": int(str(r.year)),
            "functions": r.functions,
            "destination_park": r.destination_park,
            "destination_county": r.destination_county,
            "destination_adcode": dest_ad,
            "matched_parks": [str(names[j]) for j in matched],
            "match_tier": tier,
            "weight": _r(weight[i]),
        }
        for rk, s in scores.items():
            order = M.order_by_score(s[i : i + 1])[0]
            ranked = [int(cands.parks[i, c]) for c in order if np.isfinite(s[i, c])]
            top10 = ranked[:10]
            for k in (5, 10):
                ch = any(p in target for p in top10[:k])
                hits[rk][f"county@{k}"].append(float(ch))
                hits[rk][f"park@{k}"].append(
                    float(any(p in matched for p in top10[:k])) if matched else float("nan")
                )
            best = next((n + 1 for n, p in enumerate(ranked) if p in target), 0)
            case[rk] = {
                "top3": [f"{names[p]}（{parks[S.COUNTY][p]}）" for p in top10[:3]],
                "county_hit@10": bool(any(p in target for p in top10)),
                "park_hit@10": (bool(any(p in matched for p in top10)) if matched else None),
                "best_rank_in_destination": best or None,
            }
        case["reason"] = _miss_reason(
            sorted(target),
            matched,
            cands.parks[i],
            cands.infeasible[i],
            case["model"]["best_rank_in_destination"],
            names,
        )
        cases.append(case)
    summary: dict[str, Any] = {}
    for rk, h in hits.items():
        summary[rk] = {}
        for m, vals in h.items():
            v = np.asarray(vals, dtype=np.float64)
            ok = ~np.isnan(v)
            summary[rk][m] = {
                "hits": int(np.nansum(v)),
                "n": int(ok.sum()),
                "rate": _r(float(v[ok].mean()) if ok.any() else float("nan")),
                "weighted_rate": _r(
                    float((v[ok] * weight[ok]).sum() / weight[ok].sum()) if ok.any() else float("nan")
                ),
            }
    return {
        "n_cases": len(df),
        "n_scored": len(batch),
        "rejected": [e.as_dict() for e in errors],
        "park_match_rule": PARK_MATCH_RULE,
        "county_match_rule": COUNTY_MATCH_RULE,
        "weighting": "weighted_rate gives each (destination county, division, year) group a total weight of 1",
        "cases_with_park_match": int(sum(1 for c in cases if c["matched_parks"])),
        "cases_with_catalogue_park_in_county": int(
            sum(1 for c in cases if any(same_county(a, c["destination_adcode"]) for a in adcodes))
        ),
        "summary": summary,
        "misses_model_county@10": [c for c in cases if not c["model"]["county_hit@10"]],
        "cases": cases,
    }


def _miss_reason(
    target: Sequence[int],
    matched: Sequence[int],
    cand: np.ndarray,
    infeasible: np.ndarray,
    best: int | None,
    names: np.ndarray,
) -> str:
    if not target:
        return "no catalogue park in the destination county"
    want = list(matched) or list(target)
    rules = sorted({RULES[int(infeasible[j]) - 1] for j in want if infeasible[j] > 0})
    if all(infeasible[j] > 0 for j in want):
        return f"every destination park excluded by hard constraints ({', '.join(rules)})"
    if not any(j in set(cand.tolist()) for j in want):
        return (
            f"destination parks feasible but not retrieved among the top {len(cand)} by embedding similarity"
        )
    if best is None or best > 10:
        where = f"#{best}" if best else "outside the top 10"
        return f"retrieved but ranked {where} by the model ({', '.join(str(names[j]) for j in want[:2])})"
    return "county hit via another park" if best else "missed"


# --- the whole evaluation -------------------------------------------------------------------


def evaluate(
    matcher: Matcher,
    world: World,
    quick: bool = False,
    progress: Callable[[str], None] = log,
    relocations: Path | None = None,
    config: EvalConfig | None = None,
) -> dict[str, Any]:
    """Every metric for the model and each baseline, per split and segment, plus coverage,
    feature importance, the real-relocation check and the acceptance verdicts (JSON-able)."""
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
            "rankers": {
                "model": "LightGBM LambdaRank of the bundle (by_firm: a ranker trained inside evaluate, see split rule)",
                "random": "uniform random scores (seeded)",
                "popularity": "number of training-period relocations that chose the park",
                "distance": "nearest to the firm's origin district first (great-circle km)",
                "embedding": "FAISS cosine similarity of firm and park profiles (retrieval order)",
                "scorecard": "equal-weight (0.2 each) mean of the five criterion scores: "
                + ", ".join(S.CRITERIA),
                "oracle": "the simulator's noiseless utility V_ij(t) with the firm's hidden tastes",
                "oracle_params": "the simulator's utility from truth.json alone: median tastes, no path dependence",
            },
            "metrics": "see training/metrics.py; NDCG over the shared candidate list (2 chosen / 1 shortlisted), Hit/MRR of the chosen park end to end",
            "ties": "stable sort by score descending, ties keep retrieval (similarity) order",
            "ci": f"percentile bootstrap over groups, {cfg.n_boot} resamples, 95%",
        },
    }
    popularity = popularity_counts(matcher, train_ev)
    out["temporal"] = evaluate_split(
        matcher, matcher.ranker, world, test_ev, popularity, cfg, progress, "temporal"
    )
    ranker, bf_train, bf_test, info = train_byfirm_ranker(matcher, world, cfg, progress)
    out["by_firm"] = evaluate_split(
        matcher, ranker, world, bf_test, popularity_counts(matcher, bf_train), cfg, progress, "by_firm"
    )
    out["by_firm"]["training"] = info
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
    return {
        "beats_every_baseline_ndcg@10_non_overlapping": all(beats.values()),
        "beats": beats,
        "model_share_of_oracle_ndcg@10": _r(share),
        "reaches_90pct_of_oracle": bool(share >= TARGET_ORACLE_SHARE),
        "model_share_of_oracle_params_ndcg@10": _r(share_params),
        "coverage": cov,
        "coverage_at_least_60pct": bool(cov >= TARGET_COVERAGE),
        "real_county_hit@10": {
            "model": rr["model"]["county@10"]["rate"],
            "scorecard": rr["scorecard"]["county@10"]["rate"],
        },
    }


# --- output ---------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def to_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(_jsonable(dict(doc)), ensure_ascii=False, indent=2)


def _fmt_ci(c: Mapping[str, Any]) -> str:
    return f"{c['mean']:.3f} [{c['lo']:.3f}, {c['hi']:.3f}]"


def table(doc: Mapping[str, Any]) -> str:
    lines = []
    for split in ("temporal", "by_firm"):
        s = doc[split]
        lines.append(
            f"{split}: {s['n_groups']:,} events (years {s['years'][0]}–{s['years'][-1]}), chosen park retrieved {s['chosen_retrieved']:.1%}, "
            f"retrieval Recall@100 {s['retrieval']['recall@K'].get('100', float('nan')):.3f}"
        )
        lines.append(f"  {'ranker':<11} {'NDCG@10 [95% CI]':<26} {'Hit@10':>7} {'MRR':>7}")
        for name in RANKERS:
            r = s["rankers"][name]
            lines.append(
                f"  {name:<11} {_fmt_ci(r['ndcg@10']):<26} {r['hit@10']['mean']:>7.3f} {r['mrr']['mean']:>7.3f}"
            )
    c = doc["coverage"]["rankers"]["model"]
    lines.append(
        f"coverage ({doc['coverage']['n_firms']:,} firms, top 10): {c['coverage']:.1%} of {doc['coverage']['n_parks']} parks, Gini {c['gini']:.3f}"
    )
    rr = doc["real_relocations"]["summary"]
    for name in ("model", "scorecard"):
        lines.append(
            f"real relocations ({doc['real_relocations']['n_scored']}) {name:<9}: Hit@10 county {rr[name]['county@10']['hits']}/{rr[name]['county@10']['n']} "
            f"({rr[name]['county@10']['rate']:.1%}), park {rr[name]['park@10']['hits']}/{rr[name]['park@10']['n']}"
        )
    a = doc["acceptance"]
    lines.append(
        f"acceptance: beats all baselines {a['beats_every_baseline_ndcg@10_non_overlapping']}, "
        f"{a['model_share_of_oracle_ndcg@10']:.1%} of oracle (target 90%), coverage ≥60% {a['coverage_at_least_60pct']}"
    )
    return "\n".join(lines)


# --- HTML report (inline SVG, no extra dependencies) ----------------------------------------

COLORS = {
    "model": "#d62728",
    "random": "#7f7f7f",
    "popularity": "#8c564b",
    "distance": "#9467bd",
    "embedding": "#17becf",
    "scorecard": "#2ca02c",
    "oracle": "#1f77b4",
    "oracle_params": "#aec7e8",
}


def _esc(s: Any) -> str:
    return html.escape(str(s))


def svg_lines(
    series: Mapping[str, Sequence[float]], xs: Sequence[int], title: str, w: int = 560, h: int = 300
) -> str:
    pad = 40
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    top = max([*vals, 1e-09])
    ymax = min(1.0, math.ceil(top * 10) / 10) if top <= 1 else top

    def px(i: int) -> float:
        return pad + (w - 2 * pad) * (i / max(len(xs) - 1, 1))

    def py(v: float) -> float:
        return h - pad - (h - 2 * pad) * (v / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 120}" height="{h}" font-size="11"><text x="{pad}" y="14" font-weight="bold">{_esc(title)}</text>'
    ]
    for t in range(6):
        v = ymax * t / 5
        parts.append(
            f'<line x1="{pad}" x2="{w - pad}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/><text x="4" y="{py(v) + 4:.1f}">{v:.2f}</text>'
        )
    for i, x in enumerate(xs):
        parts.append(f'<text x="{px(i) - 4:.1f}" y="{h - pad + 16}">{x}</text>')
    for n, (name, s) in enumerate(series.items()):
        pts = " ".join(
            f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(s) if v is not None and math.isfinite(v)
        )
        col = COLORS.get(name, "#333")
        wd = 3 if name == "model" else 1.5
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="{wd}" points="{pts}"/>')
        parts.append(
            f'<rect x="{w - pad + 10}" y="{30 + 16 * n}" width="10" height="10" fill="{col}"/><text x="{w - pad + 24}" y="{39 + 16 * n}">{_esc(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_grouped_bars(
    cats: Sequence[str], series: Mapping[str, Sequence[float]], title: str, h: int = 300
) -> str:
    pad, gw = 40, max(60, 14 * len(series) + 16)
    w = pad * 2 + gw * len(cats)
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    ymax = max([*vals, 1e-09])
    bw = (gw - 16) / max(len(series), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 120}" height="{h + 40}" font-size="10"><text x="{pad}" y="14" font-weight="bold">{_esc(title)}</text>'
    ]
    for c, cat in enumerate(cats):
        x0 = pad + c * gw + 8
        for n, (name, s) in enumerate(series.items()):
            v = s[c]
            if v is None or not math.isfinite(v):
                continue
            bh = (h - 2 * pad) * v / ymax
            parts.append(
                f'<rect x="{x0 + n * bw:.1f}" y="{h - pad - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" fill="{COLORS.get(name, "#333")}"><title>{_esc(name)} {v:.3f}</title></rect>'
            )
        parts.append(
            f'<text x="{x0}" y="{h - pad + 14}" transform="rotate(20 {x0} {h - pad + 14})">{_esc(cat)}</text>'
        )
    for n, name in enumerate(series):
        parts.append(
            f'<rect x="{w + 4}" y="{30 + 16 * n}" width="10" height="10" fill="{COLORS.get(name, "#333")}"/><text x="{w + 18}" y="{39 + 16 * n}">{_esc(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_hbars(items: Sequence[tuple[str, float]], title: str, w: int = 520) -> str:
    h = 24 + 18 * len(items)
    vmax = max([v for _, v in items] + [1e-9])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11"><text x="4" y="14" font-weight="bold">{_esc(title)}</text>'
    ]
    for i, (name, v) in enumerate(items):
        y = 22 + 18 * i
        bw = (w - 230) * v / vmax
        parts.append(
            f'<text x="4" y="{y + 11}">{_esc(name)}</text><rect x="170" y="{y}" width="{bw:.1f}" height="13" fill="#4c78a8"/><text x="{174 + bw:.1f}" y="{y + 11}">{v:.3f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_park_map(points: Sequence[Mapping[str, Any]], title: str, w: int = 560, h: int = 560) -> str:
    lat0, lat1, lng0, lng1 = S.REGION_LAT[0], S.REGION_LAT[1], S.REGION_LNG[0], S.REGION_LNG[1]
    cmax = max([p["count"] for p in points] + [1])

    def xy(lat: float, lng: float) -> tuple[float, float]:
        return 20 + (w - 40) * (lng - lng0) / (lng1 - lng0), 30 + (h - 50) * (lat1 - lat) / (lat1 - lat0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11" style="background:#fafafa"><text x="8" y="16" font-weight="bold">{_esc(title)}</text>'
    ]
    bx, by = xy(S.BEIJING_LAT, S.BEIJING_LNG)
    parts.append(f'<text x="{bx - 4:.1f}" y="{by + 4:.1f}" fill="#000">★ 北京</text>')
    for p in sorted(points, key=lambda q: -q["count"]):
        x, y = xy(p["lat"], p["lng"])
        if p["count"] == 0:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="none" stroke="#999"><title>{_esc(p["name"])}: 0</title></circle>'
            )
        else:
            r = 3 + 17 * math.sqrt(p["count"] / cmax)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="#d62728" fill-opacity="0.35" stroke="#d62728"><title>{_esc(p["name"])}: {p["count"]}</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(doc: Mapping[str, Any]) -> str:
    sec = []
    a = doc["acceptance"]
    sec.append(f"<h1>parkmatch offline evaluation — {_esc(doc['model_version'])}</h1>")
    sec.append(
        f"<p>World: {doc['world']['firms']:,} simulated firms, {doc['world']['events']:,} relocations. "
        f"{'Quick mode (small samples). ' if doc['quick'] else ''}All rankers are scored on the same candidate lists.</p>"
    )
    sec.append(
        "<h2>Acceptance</h2>"
        + _html_table(
            ["check", "result"],
            [
                [
                    "model beats every baseline on NDCG@10 (non-overlapping 95% CIs)",
                    a["beats_every_baseline_ndcg@10_non_overlapping"],
                ],
                [
                    "model NDCG@10 as share of oracle (target ≥ 90%)",
                    f"{a['model_share_of_oracle_ndcg@10']:.1%}",
                ],
                ["catalogue coverage of top 10 (target ≥ 60%)", f"{a['coverage']:.1%}"],
                [
                    "real relocations county Hit@10 model / scorecard",
                    f"{a['real_county_hit@10']['model']:.1%} / {a['real_county_hit@10']['scorecard']:.1%}",
                ],
            ],
        )
    )
    for split in ("temporal", "by_firm"):
        s = doc[split]
        sec.append(
            f"<h2>Split: {split}</h2><p>{s['n_groups']:,} events, years {s['years'][0]}–{s['years'][-1]}; chosen park among the candidates in {s['chosen_retrieved']:.1%}.</p>"
        )
        if split == "by_firm":
            sec.append(
                f"<p>{_esc(s['training']['rule'])}; firms on both sides: {s['training']['firms_on_both_sides']}.</p>"
            )
        rows = [
            [n, *[_fmt_ci(s["rankers"][n][m]) for m in ("ndcg@10", "hit@10", "mrr", "map@10")]]
            for n in RANKERS
        ]
        sec.append(_html_table(["ranker", "NDCG@10", "Hit@10", "MRR", "MAP@10"], rows))
        sec.append(
            svg_lines({n: s["rankers"][n]["ndcg_curve"] for n in RANKERS}, CURVE_K, f"NDCG@k, {split}")
        )
        for kind in ("function", "division"):
            segs = [k for k, v in s["segments"][kind].items() if v["n"]]
            series = {
                n: [s["segments"][kind][g]["rankers"][n]["ndcg@10"]["mean"] for g in segs] for n in RANKERS
            }
            sec.append(
                svg_grouped_bars(
                    [f"{g} (n={s['segments'][kind][g]['n']})" for g in segs],
                    series,
                    f"NDCG@10 by {kind}, {split}",
                )
            )
        ret = s["retrieval"]
        sec.append(
            "<h3>Retrieval</h3>"
            + _html_table(
                ["Recall@K", *ret["recall@K"].keys(), "all feasible", "chosen excluded by hard rules"],
                [
                    [
                        "",
                        *ret["recall@K"].values(),
                        ret["recall_all_feasible"],
                        ret["chosen_excluded_by_hard_constraint"],
                    ]
                ],
            )
        )
    fi = doc["feature_importance"]
    sec.append("<h2>Feature importance (gain share)</h2>")
    sec.append(svg_hbars(list(fi["by_criterion"].items()), "by criterion"))
    sec.append(svg_hbars(list(fi["by_feature"].items())[:20], "top 20 features"))
    cov = doc["coverage"]
    sec.append(f"<h2>Coverage over {cov['n_firms']:,} simulated firms</h2>")
    sec.append(
        _html_table(
            ["ranker", "coverage", "Gini", "parks recommended"],
            [
                [n, f"{v['coverage']:.1%}", f"{v['gini']:.3f}", v["parks_recommended"]]
                for n, v in cov["rankers"].items()
            ],
        )
    )
    sec.append(
        svg_park_map(
            cov["model_counts"], "model top-10 recommendations per park (circle area ∝ count; hollow = never)"
        )
    )
    rr = doc["real_relocations"]
    sec.append(
        f"<h2>Real relocations ({rr['n_scored']} documented cases)</h2><p>{_esc(rr['park_match_rule'])}</p><p>{_esc(rr['county_match_rule'])}</p>"
    )
    sec.append(
        _html_table(
            [
                "ranker",
                "county Hit@5",
                "county Hit@10",
                "park Hit@5",
                "park Hit@10",
                "county Hit@10 (weighted)",
            ],
            [
                [
                    n,
                    *[f"{v[m]['hits']}/{v[m]['n']}" for m in ("county@5", "county@10", "park@5", "park@10")],
                    f"{v['county@10']['weighted_rate']:.1%}",
                ]
                for n, v in rr["summary"].items()
            ],
        )
    )
    sec.append("<h3>Model misses (county level, top 10)</h3>")
    sec.append(
        _html_table(
            ["case", "entity", "destination", "model top 3", "scorecard hit", "reason"],
            [
                [
                    c["case_id"],
                    c["entity"],
                    f"{c['destination_park'] or '—'} / {c['destination_county']}",
                    "；".join(c["model"]["top3"]),
                    c["scorecard"]["county_hit@10"],
                    c["reason"],
                ]
                for c in rr["misses_model_county@10"]
            ],
        )
    )
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}svg{display:block;margin:.8em 0}"
    return f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>parkmatch evaluation</title><style>{style}</style></head><body>{"".join(sec)}</body></html>'


# --- command line ---------------------------------------------------------------------------


def cli_evaluate(settings: Any, model_dir: Path, as_json: bool, report: Path | None, quick: bool) -> int:
    if not (Path(model_dir) / "manifest.json").exists():
        raise FileNotFoundError(f"no model bundle in {model_dir}: run `parkmatch train` first")
    log(f"loading model bundle {model_dir}")
    matcher = Matcher.load(Path(model_dir))
    world_dir = Path(matcher.manifest.get("world_dir") or settings.resolved_world_dir())
    if not (world_dir / "events.parquet").exists():
        world_dir = settings.resolved_world_dir()
    log(f"loading simulated world {world_dir}")
    world = load_world(world_dir)
    doc = evaluate(matcher, world, quick=quick)
    doc["world"]["dir"] = str(world_dir)
    if report is not None:
        Path(report).write_text(render_html(doc), encoding="utf-8")
        log(f"HTML report written to {report}")
    print(to_json(doc) if as_json else table(doc))
    return 0
