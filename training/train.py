"""Training: simulated history → embeddings, FAISS index, LightGBM ranker → one bundle.

Labels are graded as the simulator records decisions: 2 for the park chosen, 1 for the other
shortlisted parks, 0 for every other retrieved candidate.  Groups are split by time (train on
relocations up to 2020, hold out 2021-2024) and, inside the training years, by firm for early
stopping, so no firm is on both sides of any split.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S
from features.embeddings import IndustryInferer, ProfileEmbedder
from features.history import ArrivalHistory
from features.pairs import (
    CATEGORICAL_FEATURES,
    FEATURE_CRITERION,
    FEATURE_NAMES,
    MONOTONE,
    PRECEDENT_FEATURES,
    FirmArrays,
    code_index,
)
from features.towers import PreferenceTower, firm_tower_features, park_tower_features
from features.validation import FirmBatch, columns_from_frame
from matcher import metrics as M
from matcher.constraints import infeasibility
from matcher.core import Matcher
from matcher.ranker import ParkRanker
from matcher.retrieval import VectorIndex
from training.config import TrainConfig
from training.outcomes import outcome_groups
from training.relocations import case_groups, fit_precedents, load_relocations
from training.synth import hash_unit

TRAIN_UNTIL_YEAR = 2020
MAX_TRAIN_NEGATIVES = 30
WORLD_FILES = ("firms.parquet", "events.parquet", "truth.json")


def log(msg: str) -> None:
    print(f"[parkmatch] {msg}", file=sys.stderr, flush=True)


@dataclass
class Groups:
    """Candidate lists with graded labels for a set of relocation events."""

    events: pd.DataFrame
    x: np.ndarray  # (n, k, f)
    labels: np.ndarray  # (n, k) int, -1 for padding
    cand: np.ndarray  # (n, k) park positions, -1 padding
    chosen_pos: np.ndarray  # (n,) park position of the chosen park, -1 if not in the catalogue
    fn_mask: np.ndarray | None = None  # (n,) the firms' function bitmasks, for refresh_precedents
    division: np.ndarray | None = None  # (n,) the firms' 2-digit division positions

    def flat(
        self, rows: np.ndarray | None = None, max_negatives: int | None = None, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LightGBM's layout: rows of valid candidates, labels and group sizes, for groups
        that have at least one relevant candidate (others teach the ranker nothing).

        ``max_negatives`` keeps every relevant candidate and a seeded random sample of the
        unchosen ones per group: LambdaRank learns as much from a sample of the negatives, at
        a fraction of the cost."""
        idx = np.arange(len(self.labels)) if rows is None else rows
        lab = self.labels[idx]
        has_pos = (lab > 0).any(axis=1)
        idx = idx[has_pos]
        valid = self.labels[idx] >= 0
        if max_negatives is not None:
            neg = self.labels[idx] == 0
            keys = np.where(neg, np.random.default_rng(seed).random(neg.shape), np.inf)
            neg_rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
            valid &= ~neg | (neg_rank < max_negatives)
        x = self.x[idx][valid]
        y = self.labels[idx][valid]
        return x, y, valid.sum(axis=1)


def world_hash(world_dir: Path, catalogue: Path) -> str:
    h = hashlib.sha256()
    for name in WORLD_FILES:
        p = world_dir / name
        if p.exists():
            h.update(p.read_bytes())
    h.update(catalogue.read_bytes())
    return h.hexdigest()


def load_world_frames(world_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    firms = pd.read_parquet(world_dir / "firms.parquet")
    events = pd.read_parquet(world_dir / "events.parquet")
    return firms, events


# Share of training firms whose own-needs constraints are treated as not given by an officer.
# Serving keeps a park that breaks an *imputed* need (see matcher.constraints) and relies on the
# ranker to push it down, so the ranker must see such parks as unchosen candidates in training.
# Functions are among them: a firm whose functions were imputed keeps the single-purpose sites
# (markets, logistics hubs, data centre bases) of other functions as candidates.
SOFT_SHARE = 0.5
SOFT_FIELDS = (S.POLLUTION_LEVEL, S.LAND_NEED_MU, S.MAX_DISTANCE_KM, S.NEEDS_PORT, S.FUNCTIONS_COL)


def soften(batch: FirmBatch, share: float, keys: np.ndarray, eligible: np.ndarray | None = None) -> FirmBatch:
    """Mark the own-needs fields of a stable pseudo-random ``share`` of firms as not given
    (only among ``eligible`` firms when given)."""
    pick = np.array([hash_unit(f"soft:{k}") < share for k in keys], dtype=bool)
    if eligible is not None:
        pick &= eligible
    imputed = [
        sorted(set(imp) | set(SOFT_FIELDS)) if p else list(imp)
        for imp, p in zip(batch.imputed, pick, strict=True)
    ]
    return FirmBatch(batch.rows, batch.cols, imputed)


def build_groups(
    matcher: Matcher,
    firms: pd.DataFrame,
    events: pd.DataFrame,
    chunk: int = 50_000,
    soft_share: float = SOFT_SHARE,
    soft_until_year: int | None = None,
) -> Groups:
    """Retrieve candidates for every event's firm and grade them against the recorded choice.

    The features are computed over the catalogue the world was generated over
    (:func:`training.synth.simulated_offers`): the offers its firms weighed are the offers the
    ranker sees for these groups, stated where the simulator drew one, NaN elsewhere.

    ``soft_share`` is a training-only step (see :data:`SOFT_SHARE`); ``soft_until_year`` limits it
    to the training years so that held-out groups are scored as an officer would enter them."""
    from training.synth import simulated_offers

    pos = {pid: i for i, pid in enumerate(matcher.park_arrays.ids)}
    matcher = matcher.with_catalogue(simulated_offers(matcher.parks))
    by_id = firms.set_index(S.FIRM_ID, drop=False)
    sub = by_id.loc[events[S.FIRM_ID].to_numpy()].reset_index(drop=True)
    years = events[S.YEAR].to_numpy()
    xs, cands, masks, divs = [], [], [], []
    for start in range(0, len(sub), chunk):
        part = sub.iloc[start : start + chunk]
        batch, errors = matcher.prepare(columns_from_frame(part))
        if errors:
            raise ValueError(
                f"simulated firm rejected: row {errors[0].row}, {errors[0].field}: {errors[0].reason}"
            )
        if soft_share > 0:
            yrs = years[start : start + chunk]
            eligible = None if soft_until_year is None else yrs <= soft_until_year
            batch = soften(batch, soft_share, part[S.FIRM_ID].to_numpy(), eligible)
        fa, c, x = matcher.features(batch, years=years[start : start + chunk])
        xs.append(x)
        cands.append(c.parks)
        masks.append(fa.fn_mask)
        divs.append(fa.division)
    x = np.concatenate(xs) if xs else np.zeros((0, matcher.candidates, len(FEATURE_NAMES)), np.float32)
    cand = np.concatenate(cands) if cands else np.zeros((0, matcher.candidates), np.int64)
    chosen = np.array([pos.get(p, -1) for p in events[S.CHOSEN_PARK_ID]], dtype=np.int64)
    width = max((len(s) for s in events[S.SHORTLIST_PARK_IDS]), default=1)
    short = np.full((len(events), width), -2, dtype=np.int64)
    for i, lst in enumerate(events[S.SHORTLIST_PARK_IDS]):
        ids = [pos.get(p, -2) for p in lst]
        short[i, : len(ids)] = ids
    in_short = (cand[:, :, None] == short[:, None, :]).any(axis=2)
    labels = np.where(
        cand == chosen[:, None],
        S.RELEVANCE_CHOSEN,
        np.where(in_short, S.RELEVANCE_SHORTLISTED, S.RELEVANCE_OTHER),
    )
    labels = np.where(cand < 0, -1, labels)
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
    return Groups(events.reset_index(drop=True), x, labels, cand, chosen, cat(masks), cat(divs))


PRECEDENT_COLUMNS = [FEATURE_NAMES.index(f) for f in PRECEDENT_FEATURES]


def refresh_precedents(matcher: Matcher, groups: Groups) -> None:
    """Recompute the precedent columns of simulated groups for the matcher's current precedents
    (a cross-validation fold fits its own); the simulated firms are not documented cases, so
    nothing is excluded."""
    if groups.fn_mask is None or groups.division is None:
        raise ValueError("these groups were built without the firms' functions")
    if matcher.precedents is None:
        groups.x[:, :, PRECEDENT_COLUMNS] = 0.0
        return
    prec = matcher.precedents.features(groups.fn_mask, groups.division, groups.cand)
    groups.x[:, :, PRECEDENT_COLUMNS] = prec


def fit_history(matcher: Matcher, firms: pd.DataFrame, events: pd.DataFrame) -> ArrivalHistory:
    """Arrival counts from every recorded move; features only ever look at earlier years."""
    codes = firms.set_index(S.FIRM_ID)[S.INDUSTRY_CODE].reindex(events[S.FIRM_ID]).fillna("").astype(str)
    div_pos = code_index()[0]
    divisions = np.array([div_pos.get(c[:2], -1) for c in codes], dtype=np.int64)
    pos = {pid: i for i, pid in enumerate(matcher.park_arrays.ids)}
    parks = np.array([pos.get(p, -1) for p in events[S.CHOSEN_PARK_ID]], dtype=np.int64)
    return ArrivalHistory().fit(divisions, parks, events[S.YEAR].to_numpy(np.int64), len(pos))


def fit_tower(
    matcher: Matcher, firms: pd.DataFrame, events: pd.DataFrame, max_events: int = 30_000, seed: int = 0
) -> PreferenceTower:
    """Fit the retrieval's preference tower on (a sample of) the given events."""
    if len(events) > max_events:
        events = events.sample(max_events, random_state=seed)
    by_id = firms.set_index(S.FIRM_ID, drop=False)
    sub = by_id.loc[events[S.FIRM_ID].to_numpy()].reset_index(drop=True)
    batch, errors = matcher.prepare(columns_from_frame(sub))
    if errors:
        raise ValueError(
            f"simulated firm rejected: row {errors[0].row}, {errors[0].field}: {errors[0].reason}"
        )
    fa = FirmArrays.build(batch, matcher.park_arrays)
    sim = matcher.profile_vectors(batch) @ matcher.embedder.embed_parks(matcher.parks).T
    feasible = infeasibility(fa, matcher.park_arrays) == 0
    pos = {pid: i for i, pid in enumerate(matcher.park_arrays.ids)}
    target = np.zeros(sim.shape)
    for i, (chosen, short) in enumerate(
        zip(events[S.CHOSEN_PARK_ID], events[S.SHORTLIST_PARK_IDS], strict=True)
    ):
        for pid in short:
            if pid in pos:
                target[i, pos[pid]] = S.RELEVANCE_SHORTLISTED
        if chosen in pos:
            target[i, pos[chosen]] = S.RELEVANCE_CHOSEN
    target = np.where(feasible, target, 0.0)
    keep = target.sum(axis=1) > 0
    return PreferenceTower(seed=seed).fit(
        sim[keep].astype(np.float64),
        firm_tower_features(fa)[keep],
        park_tower_features(matcher.park_arrays),
        target[keep],
        feasible[keep],
    )


# Documented cases' share of the ranker's training weight, against the simulated groups (the
# value ``parkmatch evaluate`` chose by grouped cross-validation on the cases; see training/README.md).
REAL_WEIGHT_SHARE = 0.1


def mixed_training_set(
    sim: tuple[np.ndarray, np.ndarray, np.ndarray],
    real: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    real_share: float,
    outcomes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    outcome_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack simulated and documented groups; the documented ones get ``real_share`` of the
    simulated and documented group weight, however many simulated groups there are.  Officers'
    outcome groups, when given, then get ``outcome_share`` of the whole weight."""
    xs, ys, gs = sim
    x, y, g, w = xs, ys, gs, np.ones(len(ys))
    total = float(len(gs))
    if real is not None and len(real[2]) and real_share > 0:
        xr, yr, gr = real
        share = min(real_share, 0.95)
        w_real = share / (1 - share) * len(gs) / len(gr)
        x, y, g = np.concatenate([x, xr]), np.concatenate([y, yr]), np.concatenate([g, gr])
        w = np.concatenate([w, np.full(len(yr), w_real)])
        total += w_real * len(gr)
    if outcomes is not None and len(outcomes[2]) and outcome_share > 0:
        xo, yo, go = outcomes
        share = min(outcome_share, 0.95)
        w_out = share / (1 - share) * total / len(go)
        x, y, g = np.concatenate([x, xo]), np.concatenate([y, yo]), np.concatenate([g, go])
        w = np.concatenate([w, np.full(len(yo), w_out)])
    return x, y, g, w


def fit_choice_stages(
    matcher: Matcher, firms: pd.DataFrame, events: pd.DataFrame, index_type: str, seed: int
) -> Matcher:
    """The stages that learn from simulated *choices* (the preference tower, the FAISS index of
    the tower-shaped park vectors, arrival history), in place.  Real-case cross-validation refits
    exactly these on each fold's own simulated world."""
    matcher.tower = fit_tower(matcher, firms, events[events[S.YEAR] <= TRAIN_UNTIL_YEAR], seed=seed)
    matcher.index = VectorIndex(index_type=index_type, seed=seed).fit(matcher.park_vectors())
    matcher.history = fit_history(matcher, firms, events)
    return matcher


def train_matcher(
    firms: pd.DataFrame,
    events: pd.DataFrame,
    parks: pd.DataFrame,
    priors: pd.DataFrame | None = None,
    candidates: int = 60,
    index_type: str = "flat",
    ranker_params: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] = log,
    cases: pd.DataFrame | None = None,
    real_share: float = REAL_WEIGHT_SHARE,
) -> tuple[Matcher, dict[str, Any]]:
    """Fit every stage on a simulated world and, with ``cases``, the documented relocations;
    return the matcher with its training report.

    The documented cases feed two stages: the precedents (:mod:`features.precedents`) and the
    ranker, where they are groups of their own holding ``real_share`` of the weight."""
    t0 = time.perf_counter()
    say = progress
    progress = lambda msg: say(f"[{time.perf_counter() - t0:6.1f}s] {msg}")  # noqa: E731
    priors = R.load_priors() if priors is None else priors
    rng = np.random.default_rng(seed)
    sample = firms.iloc[rng.permutation(len(firms))[: min(len(firms), 30_000)]]
    progress(f"fitting embeddings on {len(parks)} parks and {len(sample):,} firm descriptions")
    embedder = ProfileEmbedder(seed=seed).fit(parks, list(sample[S.DESCRIPTION].fillna("")))
    inferer = IndustryInferer(seed=seed).fit(
        list(sample[S.DESCRIPTION].fillna("")), list(sample[S.INDUSTRY_CODE])
    )
    ranker = new_ranker(seed, ranker_params)
    matcher = Matcher(
        embedder, VectorIndex(index_type="flat"), ranker, inferer, parks, priors, candidates=candidates
    )
    progress("fitting the preference tower (conditional logit over the catalogue) on the training years")
    fit_choice_stages(matcher, firms, events, index_type, seed)
    # the simulated groups are built before any precedent exists, so their candidate lists never
    # depend on documented cases (a cross-validation fold reuses them as they are)
    progress(f"retrieving candidates and computing pair features for {len(events):,} relocation events")
    groups = build_groups(matcher, firms, events, soft_until_year=TRAIN_UNTIL_YEAR)
    t_feat = time.perf_counter()
    years = groups.events[S.YEAR].to_numpy()
    train_rows = np.flatnonzero(years <= TRAIN_UNTIL_YEAR)
    test_rows = np.flatnonzero(years > TRAIN_UNTIL_YEAR)
    fit_rows, val_rows = split_validation(groups, train_rows)
    info = fit_ranker(matcher, ranker, groups, fit_rows, val_rows, cases, real_share, seed, progress)
    t_fit = time.perf_counter()

    recall = float((groups.labels == S.RELEVANCE_CHOSEN).any(axis=1).mean()) if len(groups.labels) else 0.0
    report: dict[str, Any] = {
        "events": len(events),
        **info,
        "test_events": len(test_rows),
        "candidates": candidates,
        "retrieval_recall_chosen": round(recall, 4),
        "best_iteration": int(ranker.booster_.current_iteration()),
        "seconds_features": round(t_feat - t0, 1),
        "seconds_fit": round(t_fit - t_feat, 1),
    }
    if len(test_rows):
        scores = matcher.score(groups.x[test_rows], groups.cand[test_rows])
        ndcg = M.ndcg_at_k(M.rank_labels(groups.labels[test_rows], scores), 10)
        report["test_ndcg@10"] = round(M.mean(ndcg), 4)
    progress(f"trained in {time.perf_counter() - t0:.1f}s: {report}")
    return matcher, report


def new_ranker(seed: int, params: dict[str, Any] | None = None) -> ParkRanker:
    return ParkRanker(
        feature_names=FEATURE_NAMES,
        groups=FEATURE_CRITERION,
        monotone=MONOTONE,
        categorical=CATEGORICAL_FEATURES,
        seed=seed,
        **(params or {}),
    )


def split_validation(groups: Groups, train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training rows split by firm (10% for early stopping), stable across runs."""
    firm_ids = groups.events[S.FIRM_ID].to_numpy()
    valid_mask = np.array([hash_unit(f) < 0.1 for f in firm_ids[train_rows]], dtype=bool)
    return train_rows[~valid_mask], train_rows[valid_mask]


def fit_ranker(
    matcher: Matcher,
    ranker: ParkRanker,
    groups: Groups,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    cases: pd.DataFrame | None,
    real_share: float,
    seed: int,
    progress: Callable[[str], None] = log,
    outcomes: pd.DataFrame | None = None,
    outcome_share: float = 0.0,
) -> dict[str, Any]:
    """Fit ``ranker`` (and, with ``cases``, the matcher's precedents) on simulated and documented
    groups, and on officers' outcomes when given (:mod:`training.outcomes`); the one recipe that
    training, the real-case cross-validation and ``parkmatch retrain`` all run.

    The simulated groups' precedent columns are refreshed for the precedents fitted here, so a
    fold never sees the precedents of its held-out cases; the outcome groups are built after the
    precedents for the same reason."""
    matcher.ranker = ranker
    matcher.precedents = fit_precedents(cases, matcher.parks) if cases is not None and len(cases) else None
    matcher.reset_reasons()
    refresh_precedents(matcher, groups)
    xtr, ytr, gtr = groups.flat(fit_rows, max_negatives=MAX_TRAIN_NEGATIVES, seed=seed)
    xva, yva, gva = groups.flat(val_rows)
    real = None
    if matcher.precedents is not None and cases is not None:
        real = case_groups(matcher, cases).flat()
    learned = None
    if outcomes is not None and len(outcomes) and outcome_share > 0:
        learned = outcome_groups(matcher, outcomes).flat()
    xtr, ytr, gtr, wtr = mixed_training_set((xtr, ytr, gtr), real, real_share, learned, outcome_share)
    progress(
        f"training LambdaRank on {len(gtr):,} groups / {len(ytr):,} rows "
        f"({0 if real is None else len(real[2])} documented, {real_share:.0%} of the weight; "
        f"{0 if learned is None else len(learned[2])} outcome groups; validation {len(gva):,} groups)"
    )
    ranker.fit(xtr, ytr, gtr, eval_set=(xva, yva, gva) if len(gva) else None, weight=wtr)
    return {
        "train_groups": len(gtr),
        "validation_groups": len(gva),
        "real_case_groups": 0 if real is None else len(real[2]),
        "real_weight_share": real_share if real is not None else 0.0,
        "outcome_groups": 0 if learned is None else len(learned[2]),
        "outcome_weight_share": outcome_share if learned is not None and len(learned[2]) else 0.0,
    }


def ensure_world(
    world_dir: Path,
    n_firms: int,
    seed: int,
    cases: pd.DataFrame | None = None,
    parks: pd.DataFrame | None = None,
) -> None:
    """Generate the simulated world if absent, its choice weights estimated on ``cases`` (the
    bundled corpus by default) against ``parks`` (the bundled catalogue by default).  A world of
    another simulator version, or generated over another catalogue (a park added, moved or
    re-coded), is generated again: its firms chose among parks that are no longer the ones
    served.  So is a world whose weights were estimated on other documented cases (the corpus
    grew, or ``--relocations`` names an office's own file): its choices follow the old estimate."""
    from training.choice import cases_fingerprint
    from training.synth import VERSION, catalogue_fingerprint

    parks = R.load_parks() if parks is None else parks
    cases = load_relocations() if cases is None else cases
    if all((world_dir / f).exists() for f in WORLD_FILES):
        truth = json.loads((world_dir / "truth.json").read_text(encoding="utf-8"))
        found = truth.get("version")
        printed = truth.get("catalogue", {}).get("fingerprint")
        # A world with hand-set weights (no estimates) depends on no cases and is kept.
        est = truth.get("choice_estimates")
        if found != VERSION:
            why = f"is of version {found}, not {VERSION}"
        elif printed != catalogue_fingerprint(parks):
            why = "was generated over another catalogue"
        elif est and est.get("cases_fingerprint") != cases_fingerprint(cases):
            why = "was estimated on other documented cases"
        else:
            return
        log(f"the simulated world in {world_dir} {why}: regenerating it")
    from training.choice import estimated_choice
    from training.synth import simulate, write_world

    log(f"simulated world for {world_dir}: estimating its choice weights on {len(cases)} documented cases")
    choice = estimated_choice(cases, parks)
    log(f"generating {n_firms:,} firms (seed {seed})")
    write_world(simulate(n_firms, seed, parks, choice=choice), world_dir, overwrite=True)


def simulator_choice_summary(world_dir: Path) -> dict[str, Any]:
    """How the world's choice weights were obtained, for the manifest (no case ids)."""
    truth = json.loads((world_dir / "truth.json").read_text(encoding="utf-8"))
    est = truth.get("choice_estimates")
    if not est:
        return {"source": "hand-set (documented starting values)"}
    keep = ("method", "n_cases", "n_clusters", "log_likelihood", "null_log_likelihood", "mcfadden_r2")
    return {
        "source": "estimated on documented cases",
        **{k: est[k] for k in keep if k in est},
        "weights": {k: v["estimate"] for k, v in est["parameters"].items()},
    }


def train_bundle(cfg: TrainConfig) -> dict[str, Any]:
    """The whole ``parkmatch train``: world (generated if absent) → bundle on disk."""
    world_dir, out, candidates, index_type = cfg.world_dir, cfg.out, cfg.candidates, cfg.index_type
    catalogue = cfg.catalogue or R.data_file("parks.csv")
    parks = R.load_parks(catalogue)
    cases_path = cfg.relocations or R.data_file("relocations.csv")
    cases = load_relocations(cases_path)
    ensure_world(world_dir, cfg.n_firms, cfg.seed, cases, parks)
    firms, events = load_world_frames(world_dir)
    matcher, report = train_matcher(
        firms, events, parks, candidates=candidates, index_type=index_type, seed=0, cases=cases
    )
    data_hash = world_hash(world_dir, catalogue)
    now = datetime.now(UTC)
    manifest = {
        "model_version": f"pm-{now:%Y%m%d%H%M}-{data_hash[:8]}",
        "created": now.isoformat(timespec="seconds"),
        "data_hash": data_hash,
        "world_dir": str(world_dir),
        "candidates": candidates,
        "index_type": index_type,
        "metrics": report,
        "simulator_choice": simulator_choice_summary(world_dir),
        "relocations": {
            "path": str(cases_path),
            "sha256": hashlib.sha256(Path(cases_path).read_bytes()).hexdigest(),
            "rows": len(cases),
            "groups": int(cases["group_id"].nunique()),
        },
    }
    matcher.save(out, manifest)
    log(f"model bundle written to {out} (version {matcher.model_version})")
    return matcher.manifest


def cli_train(cfg: TrainConfig) -> int:
    train_bundle(cfg)
    return 0
