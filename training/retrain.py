"""``parkmatch retrain``: a challenger from the documented corpus, officers' outcomes, approved
park corrections and the calibrated simulation, promoted only if it is not worse than the champion.

Why a gate: outcomes come from officers, and a batch of careless or hostile records would teach
the ranker to send firms where documented relocations never went.  So the challenger is judged
on two things it cannot fool, each against the champion on the same data:

1. **The documented relocations**, by grouped K-fold cross-validation (folds follow
   ``group_id``, the rule of :mod:`training.realcv`).  For every fold the champion's recipe
   (the outcomes the champion was trained on, over the champion's catalogue) and the
   challenger's recipe (every outcome, over the corrected catalogue) are refitted on the other
   folds' cases and score the fold's own cases.  Both recipes share the champion's stages
   learned from the simulated world (embeddings, preference tower, arrival history) and the
   same simulated groups, so the only difference between the two figures is what retraining
   changes: outcomes and corrections.  (The headline figure re-estimates the simulator per fold
   and takes ten times longer; the gate compares two recipes, it does not report accuracy.)
2. **A held-out time slice of outcomes**: the firms whose latest outcome is newest
   (``holdout_share`` of them) are kept out of both recipes, which are refitted on everything
   else and scored by NDCG@5 of the officers' grades on those firms.

The challenger is promoted when neither figure falls more than its tolerance below the
champion's.  Whatever the verdict, a report says why.  The bundle that is promoted is refitted on
every case and every outcome.  A run whose inputs (corpus, outcomes, corrections, catalogue) are
those the champion was built from changes nothing: retraining is idempotent and safe to schedule.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import schemas as S
from matcher import metrics as M
from matcher.core import Matcher
from training.outcomes import CREATED, OUTCOME_ID, PROFILE_HASH, OutcomeGroups, fingerprint, outcome_groups
from training.realcv import _hits, clone, fold_of, ranked_parks
from training.relocations import case_groups, case_targets, relocation_records
from training.train import (
    REAL_WEIGHT_SHARE,
    Groups,
    build_groups,
    fit_ranker,
    load_world_frames,
    new_ranker,
    split_validation,
)

# The outcome groups' share of the ranker's training weight.  Outcomes are few next to the
# simulated history; a share this size lets a consistent pattern move the ranking while the
# gate guards against one that contradicts the documented cases.
OUTCOME_WEIGHT_SHARE = 0.2
# How far the challenger may fall below the champion and still be promoted: county Hit@5 on the
# documented folds (about one case in a hundred, below the resolution of a few hundred cases),
# and NDCG@5 on the held-out outcomes.
TOLERANCE_REAL_HIT5 = 0.01
TOLERANCE_OUTCOME_NDCG5 = 0.02
HOLDOUT_SHARE = 0.2
MIN_HOLDOUT_FIRMS = 5


def log(msg: str) -> None:
    print(f"[parkmatch] {msg}", flush=True)


@dataclass(frozen=True)
class GateConfig:
    """The gate's folds, tolerances and the training recipe's knobs."""

    folds: int = 5
    tolerance_real_hit5: float = TOLERANCE_REAL_HIT5
    tolerance_outcome_ndcg5: float = TOLERANCE_OUTCOME_NDCG5
    holdout_share: float = HOLDOUT_SHARE
    min_holdout_firms: int = MIN_HOLDOUT_FIRMS
    outcome_share: float = OUTCOME_WEIGHT_SHARE
    real_share: float = REAL_WEIGHT_SHARE
    # simulated relocation events in the gate's refits, and in the promoted bundle's fit (None:
    # every event of the world, as ``parkmatch train``)
    max_sim_events: int | None = 15_000
    final_sim_events: int | None = None
    ranker_params: dict[str, Any] | None = None
    seed: int = 0


@dataclass
class Verdict:
    """The gate's figures and decision, written as the retrain report."""

    decision: str  # "promoted", "kept" (the challenger was worse) or "unchanged" (nothing new)
    reasons: list[str]
    champion_version: str
    challenger_version: str | None = None
    real: dict[str, Any] = field(default_factory=dict)
    holdout: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def corrections_fingerprint(corrections: list[dict[str, Any]]) -> dict[str, Any]:
    """Count, ids and a SHA-256 of the approved corrections a bundle's catalogue carries."""
    rows = sorted(corrections, key=lambda c: int(c["id"]))
    text = json.dumps(
        [[int(c["id"]), str(c["park_id"]), str(c["field"]), c["value"]] for c in rows],
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return {
        "count": len(rows),
        "ids": [int(c["id"]) for c in rows],
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def catalogue_hash(parks: pd.DataFrame) -> str:
    """A hash of the catalogue's values and provenance as the bundle stores them."""
    cols = [c for c in parks.columns if c in S.PARK_COLUMNS or c in (S.PROVENANCE, S.FIELD_SOURCES)]
    text = parks[cols].to_json(orient="records", force_ascii=False, default_handler=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def inputs_of(
    cases_sha256: str, outcomes: pd.DataFrame, corrections: list[dict[str, Any]], parks: pd.DataFrame
) -> dict[str, Any]:
    out = {
        "relocations_sha256": cases_sha256,
        "outcomes_sha256": fingerprint(outcomes)["sha256"],
        "corrections_sha256": corrections_fingerprint(corrections)["sha256"],
        "catalogue_sha256": catalogue_hash(parks),
    }
    out["sha256"] = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()
    return out


def champion_outcomes(champion: Matcher, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The outcomes the champion was trained on: those up to the largest id its manifest
    records (ids only grow), none for a bundle ``parkmatch train`` built."""
    max_id = (champion.manifest.get("outcomes") or {}).get("max_id")
    if max_id is None:
        return outcomes.iloc[0:0]
    return outcomes[outcomes[OUTCOME_ID] <= int(max_id)]


def sim_groups(champion: Matcher, world_dir: Path, cfg: GateConfig, limit: int | None) -> Groups:
    """The simulated groups both recipes train on, over the champion's catalogue (simulated
    firms chose among the parks as the simulator knew them, as in ``parkmatch train``)."""
    firms, events = load_world_frames(world_dir)
    if limit is not None and len(events) > limit:
        keep = np.random.default_rng(cfg.seed).choice(len(events), size=limit, replace=False)
        events = events.iloc[np.sort(keep)].reset_index(drop=True)
    return build_groups(champion, firms, events, soft_until_year=None)


def _fit(
    base: Matcher,
    sim: Groups,
    cases: pd.DataFrame,
    outcomes: pd.DataFrame,
    cfg: GateConfig,
    progress: Callable[[str], None],
) -> Matcher:
    m = clone(base)
    fit_rows, val_rows = split_validation(sim, np.arange(len(sim.events)))
    fit_ranker(
        m,
        new_ranker(cfg.seed, cfg.ranker_params),
        sim,
        fit_rows,
        val_rows,
        cases,
        cfg.real_share,
        cfg.seed,
        progress,
        outcomes=outcomes,
        outcome_share=cfg.outcome_share,
    )
    return m


def case_profile_hashes(cases: pd.DataFrame) -> set[str]:
    """The canonical profile hashes (:func:`features.schemas.profile_hash`) of documented cases
    as an officer would enter them, with and without the case's id as ``firm_id``."""
    out: set[str] = set()
    for rec in relocation_records(cases):
        given = {k: v for k, v in rec.items() if v not in (None, [])}
        for variant in (given, {k: v for k, v in given.items() if k != S.FIRM_ID}):
            try:
                out.add(S.profile_hash(S.FirmProfile.model_validate(variant)))
            except ValueError:
                continue
    return out


def real_folds(
    champion_base: Matcher,
    challenger_base: Matcher,
    sim: Groups,
    cases: pd.DataFrame,
    champ_out: pd.DataFrame,
    chall_out: pd.DataFrame,
    cfg: GateConfig,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """County and park Hit@k of both recipes on the same grouped folds of the documented cases."""
    cases = cases.reset_index(drop=True)
    folds = fold_of(cases["group_id"], cfg.folds)
    matched, county = case_targets(cases, champion_base.parks)
    ranked: dict[str, list[list[int]]] = {
        "champion": [[] for _ in range(len(cases))],
        "challenger": [[] for _ in range(len(cases))],
    }
    fold_log = []
    for f in range(cfg.folds):
        test_idx = np.flatnonzero(folds == f)
        if not len(test_idx):
            continue
        train_cases, test_cases = cases.iloc[np.flatnonzero(folds != f)], cases.iloc[test_idx]
        # an outcome recorded for a firm whose profile is a held-out case's would hand the fold
        # its own answer: it is left out of both recipes for this fold
        held = case_profile_hashes(test_cases)
        for name, base, outs in (
            ("champion", champion_base, champ_out),
            ("challenger", challenger_base, chall_out),
        ):
            outs = outs[~outs[PROFILE_HASH].isin(held)]
            progress(f"retrain gate: fold {f}, {name} recipe ({len(outs)} outcomes)")
            m = _fit(base, sim, train_cases, outs, cfg, progress)
            cg = case_groups(m, test_cases, exclude_own_group=False)
            for i, r in zip(test_idx, ranked_parks(m, m.score(cg.x, cg.cand), cg.cand), strict=True):
                ranked[name][i] = r
        fold_log.append(
            {
                "fold": f,
                "test_groups": sorted(set(test_cases["group_id"].astype(str))),
                "train_groups": sorted(set(train_cases["group_id"].astype(str))),
            }
        )
    out: dict[str, Any] = {"folds": cfg.folds, "cases": len(cases), "fold_log": fold_log}
    for name, order in ranked.items():
        hits = _hits(order, matched, county)
        out[name] = {k: round(M.mean(v), 4) for k, v in hits.items() if k.startswith("county")}
        out[name]["park_hit@5"] = round(M.mean(hits["park_hit@5"]), 4)
    return out


def holdout_split(outcomes: pd.DataFrame, cfg: GateConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The newest ``holdout_share`` of outcome firms (by their latest outcome) and the rest."""
    if outcomes.empty:
        return outcomes, outcomes
    last = outcomes.groupby(PROFILE_HASH)[CREATED].max().sort_values(kind="stable")
    n_hold = int(np.ceil(cfg.holdout_share * len(last)))
    if n_hold < cfg.min_holdout_firms:
        return outcomes, outcomes.iloc[0:0]
    held = set(last.index[-n_hold:])
    mask = outcomes[PROFILE_HASH].isin(held)
    return outcomes[~mask], outcomes[mask]


def holdout_ndcg(m: Matcher, held: OutcomeGroups) -> dict[str, Any]:
    """NDCG@5 of the officers' grades, and the share of firms with a signed, landed or visited
    park in the top 5, over the held-out firms that have a positive outcome."""
    if not len(held.labels):
        return {"firms": 0, "ndcg@5": None, "hit@5": None}
    rows = (held.labels > 0).any(axis=1)
    lab, x, cand = held.labels[rows], held.x[rows], held.cand[rows]
    scores = m.score(x, cand)
    order = m.order(scores, cand)
    ranked = np.take_along_axis(lab, order, axis=1)
    ndcg = M.ndcg_at_k(ranked, 5)
    pursued = np.asarray((lab >= 2).any(axis=1), dtype=bool)
    hit = np.asarray((ranked[:, :5] >= 2).any(axis=1), dtype=bool)[pursued]
    return {
        "firms": int(rows.sum()),
        "ndcg@5": round(M.mean(ndcg), 4),
        "hit@5": round(float(hit.mean()), 4) if len(hit) else None,
    }


def retrain(
    champion: Matcher,
    world_dir: Path,
    cases: pd.DataFrame,
    cases_info: dict[str, Any],
    outcomes: pd.DataFrame,
    corrections: list[dict[str, Any]],
    parks: pd.DataFrame,
    cfg: GateConfig | None = None,
    progress: Callable[[str], None] = log,
    refit: bool = True,
) -> tuple[Verdict, Matcher | None]:
    """Build and judge a challenger; return the verdict and, when it is promoted and ``refit``
    is set, the challenger refitted on every case and outcome with its manifest filled in (not
    yet saved).  A dry run passes ``refit=False``: the verdict without the final fit's cost.

    ``outcomes`` is :func:`training.outcomes.outcome_frame` of every outcome with a profile,
    ``corrections`` the approved corrections already applied to ``parks`` (the catalogue the
    challenger serves), ``cases`` the documented corpus and ``cases_info`` what the manifest
    records of its file (path, sha256, rows, groups)."""
    cfg = cfg or GateConfig()
    t0 = time.perf_counter()
    inputs = inputs_of(str(cases_info["sha256"]), outcomes, corrections, parks)
    champ_version = champion.model_version
    champ_catalogue = catalogue_hash(champion.parks)
    # a bundle `parkmatch train` built learned from its corpus alone, over its own catalogue
    champ_inputs = champion.manifest.get("retrain_inputs") or inputs_of(
        str((champion.manifest.get("relocations") or {}).get("sha256")),
        outcomes.iloc[0:0],
        [],
        champion.parks,
    )
    if champ_inputs["sha256"] == inputs["sha256"]:
        return (
            Verdict(
                "unchanged",
                ["语料、反馈、更正和园区目录与当前模型训练时相同，无需重训"],
                champ_version,
                inputs=inputs,
                seconds=round(time.perf_counter() - t0, 1),
            ),
            None,
        )

    champ_out = champion_outcomes(champion, outcomes)
    progress(
        f"retrain: champion {champ_version} ({len(champ_out)} outcomes); challenger with "
        f"{len(outcomes)} outcomes and {len(corrections)} approved corrections"
    )
    same_catalogue = champ_catalogue == inputs["catalogue_sha256"]
    challenger_base = champion if same_catalogue else champion.with_catalogue(parks)
    sim = sim_groups(champion, world_dir, cfg, cfg.max_sim_events)
    real = real_folds(champion, challenger_base, sim, cases, champ_out, outcomes, cfg, progress)

    train_out, held_out = holdout_split(outcomes, cfg)
    holdout: dict[str, Any] = {
        "firms_held_out": int(held_out[PROFILE_HASH].nunique()) if len(held_out) else 0
    }
    if len(held_out):
        champ_train = champ_out[~champ_out[OUTCOME_ID].isin(held_out[OUTCOME_ID])]
        for name, base, outs in (
            ("champion", champion, champ_train),
            ("challenger", challenger_base, train_out),
        ):
            progress(f"retrain gate: held-out outcomes, {name} recipe")
            m = _fit(base, sim, cases, outs, cfg, progress)
            holdout[name] = holdout_ndcg(m, outcome_groups(m, held_out))
        holdout["from"] = held_out[CREATED].min().isoformat()

    reasons: list[str] = []
    drop = real["champion"]["county_hit@5"] - real["challenger"]["county_hit@5"]
    ok_real = drop <= cfg.tolerance_real_hit5 + 1e-12
    reasons.append(
        f"真实迁移案例 {cfg.folds} 折交叉验证区县 Hit@5：当前模型 {real['champion']['county_hit@5']:.3f}，"
        f"候选模型 {real['challenger']['county_hit@5']:.3f}（容差 {cfg.tolerance_real_hit5:.3f}）"
        + ("" if ok_real else "，候选模型更差")
    )
    ok_hold = True
    ch, cc = holdout.get("champion"), holdout.get("challenger")
    if ch and cc and ch["ndcg@5"] is not None and cc["ndcg@5"] is not None:
        ok_hold = ch["ndcg@5"] - cc["ndcg@5"] <= cfg.tolerance_outcome_ndcg5 + 1e-12
        reasons.append(
            f"最新 {holdout['firms_held_out']} 家企业的跟进结果 NDCG@5：当前模型 {ch['ndcg@5']:.3f}，"
            f"候选模型 {cc['ndcg@5']:.3f}（容差 {cfg.tolerance_outcome_ndcg5:.3f}）"
            + ("" if ok_hold else "，候选模型更差")
        )
    else:
        reasons.append(
            f"留出的最新跟进结果不足 {cfg.min_holdout_firms} 家企业（或无签约/考察），只按真实案例判断"
        )
    verdict = Verdict(
        "promoted" if ok_real and ok_hold else "kept",
        reasons,
        champ_version,
        real=real,
        holdout=holdout,
        inputs=inputs,
    )
    if verdict.decision == "kept" or not refit:
        verdict.seconds = round(time.perf_counter() - t0, 1)
        return verdict, None

    progress("retrain: the challenger passed the gate; refitting it on every case and outcome")
    full_sim = (
        sim
        if cfg.final_sim_events == cfg.max_sim_events
        else sim_groups(champion, world_dir, cfg, cfg.final_sim_events)
    )
    final = _fit(challenger_base, full_sim, cases, outcomes, cfg, progress)
    now = datetime.now(UTC)
    version = f"pm-{now:%Y%m%d%H%M}-{inputs['sha256'][:8]}"
    verdict.challenger_version = version
    verdict.seconds = round(time.perf_counter() - t0, 1)
    keep = ("world_dir", "data_hash", "candidates", "index_type", "simulator_choice")
    final.manifest = {
        **{k: champion.manifest[k] for k in keep if k in champion.manifest},
        "model_version": version,
        "created": now.isoformat(timespec="seconds"),
        "candidates": champion.candidates,
        "relocations": cases_info,
        "outcomes": fingerprint(outcomes),
        "corrections": corrections_fingerprint(corrections),
        "retrain_inputs": inputs,
        "retrained_from": champ_version,
        "gate": {
            "real": {k: real[k] for k in ("champion", "challenger", "folds", "cases")},
            "holdout": holdout,
        },
        "metrics": {**(champion.manifest.get("metrics") or {}), "outcome_weight_share": cfg.outcome_share},
    }
    return verdict, final
