"""Estimating the simulator's choice weights from the documented relocations.

The simulator (:mod:`training.synth`) generates each firm's choice from V_ij = ξ_j + X_ij·β.  Its
β used to be set by hand; here β is the maximum-likelihood estimate of a conditional logit over
the catalogue on the documented cases, so the simulated world leans the way real moves lean.

* **Design.**  Each case becomes a firm as the report gives it (industry, function, origin,
  year), with the unreported rest imputed by the same priors the product uses
  (:func:`features.validation.prepare`).  X is :func:`training.synth._components`, the very
  columns the generator multiplies by β, with every random taste at its median (1).
* **Choice set.**  The parks open in the case's year.  The simulator's hard rules are not
  applied: they bind on imputed needs (distance, land), and a documented move that an imputed
  limit would forbid is evidence against the imputation, not an impossible event.
* **Outcome.**  The documented park; where a report names only the county, any park of that
  county (the likelihood of the county is the sum over its parks).  Cases whose destination is
  not in the catalogue carry no information and are skipped (counted in the result).
* **Weights and intervals.**  Every case counts once.  Standard errors are cluster-robust by
  relocation group (firms that moved together in one report are one cluster), next to the
  classical inverse-Hessian ones.  A small ridge (``RIDGE``) keeps weights that no case moves
  (a shock whose parks no case reached) at zero instead of drifting.
* **Bounds.**  Every component carries its sign, so each β is an attractiveness weight that
  theory expects to be ≥ 0; the estimate is constrained there and a weight at the bound is
  reported as such (no interval).
* **Not estimated here** (no case identifies them): the taste spreads, ξ's spread, the
  agglomeration weight (it needs the simulated history), the two Gumbel scales and the
  relocation stage.  They keep their documented values in ``truth.json``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from features import schemas as S
from features.embeddings import IndustryInferer
from features.reference import load_priors
from features.validation import Priors, columns_from_records, prepare
from training import synth
from training.relocations import case_targets, relocation_records

RIDGE = 1e-3
# Components the cases cannot move (agglomeration needs the simulated arrival history).
FIXED: frozenset[str] = frozenset({"agglomeration"})
# the components that are a park's offer, and how many parks must state one to estimate its weight
OFFER_COMPONENTS: frozenset[str] = frozenset({"land_price", "land_squeeze", "subsidy"})
MIN_DIFFERING_PARKS = 10


@dataclass
class ChoiceData:
    """X over every case × park, the open-park mask, the chosen set and the cluster of each case."""

    names: tuple[str, ...]
    x: np.ndarray  # (cases, parks, K)
    available: np.ndarray  # (cases, parks) bool
    chosen: np.ndarray  # (cases, parks) bool
    clusters: np.ndarray  # (cases,) int
    case_ids: list[str]
    skipped: dict[str, int]


def case_firms(cases: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """The cases as imputed firm rows (the columns :func:`synth._firm_arrays_from_frame` reads)
    and the positions of the cases kept (a case without an industry code cannot be placed)."""
    coded = [i for i, c in enumerate(cases["industry_code"].astype(str)) if c.strip()]
    cols = columns_from_records(relocation_records(cases.iloc[coded]))
    # a report that names only a division gets its 小类 from the GB/T names alone (the division
    # is given, so the division classifier would have nothing to choose)
    inferer = IndustryInferer(division_classifier=False).fit()
    batch, _errors = prepare(cols, Priors.from_frame(load_priors()), inferer, rows=np.asarray(coded))
    kept = [int(r) for r in batch.rows]
    frame = pd.DataFrame({k: list(v) for k, v in batch.cols.items()})
    frame[S.FIRM_ID] = cases["case_id"].iloc[kept].to_numpy()
    return frame.reset_index(drop=True), kept


def design(cases: pd.DataFrame, parks: pd.DataFrame, truth: dict[str, Any]) -> ChoiceData:
    """The estimation design on ``cases`` against the catalogue ``parks``."""
    cases = cases.reset_index(drop=True)
    parks = parks.reset_index(drop=True)
    firms, kept = case_firms(cases)
    n_read = len(cases)
    cases = cases.iloc[kept].reset_index(drop=True)
    matched, county = case_targets(cases, parks)
    chosen_sets = [sorted(set(m) or set(c)) for m, c in zip(matched, county, strict=True)]
    keep = np.array([bool(c) for c in chosen_sets])
    skipped = {"rejected_by_validation": n_read - len(kept), "not_in_catalogue": int((~keep).sum())}
    pk = synth._park_context(parks, {**truth, "park_xi": {}})
    ct = synth._code_table(sorted(set(firms[S.INDUSTRY_CODE].astype(str))), pk)
    fa = synth._firm_arrays_from_frame(firms, ct, None)
    n, p = len(firms), len(parks)
    year = cases["year"].astype(int).to_numpy()
    pr = np.repeat(np.arange(n), p)
    pp = np.tile(np.arange(p), n)
    x, _feas = synth._components(truth, pk, ct, fa.take(pr), pp, year[pr], None, 1.0)
    x = x.reshape(n, p, -1)
    available = (year[:, None] >= pk.opens[None, :]).copy()
    chosen = np.zeros((n, p), dtype=bool)
    for i, c in enumerate(chosen_sets):
        chosen[i, c] = True
    available |= chosen  # a documented arrival shows the park was open to it
    _, clusters = np.unique(cases["group_id"].astype(str).to_numpy(), return_inverse=True)
    names = synth.BETA_COMPONENTS + synth.shock_components(truth["shocks"])
    return ChoiceData(
        names=names,
        x=x[keep],
        available=available[keep],
        chosen=chosen[keep],
        clusters=clusters[keep],
        case_ids=cases["case_id"].astype(str)[keep].tolist(),
        skipped=skipped,
    )


def _probs(v: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise softmax of v over mask, and the log of its normaliser."""
    z = np.where(mask, v, -np.inf)
    top = z.max(axis=1, keepdims=True)
    e = np.where(mask, np.exp(z - top), 0.0)
    s = e.sum(axis=1, keepdims=True)
    return e / s, (np.log(s) + top)[:, 0]


def per_case(beta: np.ndarray, d: ChoiceData, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood of each case and its score (gradient) over the free weights."""
    xb = d.x[:, :, free]
    v = d.x @ beta
    pa, la = _probs(v, d.available)
    pc, lc = _probs(v, d.chosen)
    ll = lc - la
    grad = np.einsum("ij,ijk->ik", pc, xb) - np.einsum("ij,ijk->ik", pa, xb)
    return ll, grad


def hessian(beta: np.ndarray, d: ChoiceData, free: np.ndarray) -> np.ndarray:
    """Observed information: Σ_i Cov_available(x) − Cov_chosen(x) over the free weights."""
    xb = d.x[:, :, free]
    v = d.x @ beta
    out = np.zeros((int(free.sum()), int(free.sum())))
    for mask in (d.available, d.chosen):
        p, _ = _probs(v, mask)
        mean = np.einsum("ij,ijk->ik", p, xb)
        second = np.einsum("ij,ijk,ijl->kl", p, xb, xb)
        cov = second - mean.T @ mean
        out += cov if mask is d.available else -cov
    return out


def estimate(d: ChoiceData, start: dict[str, float]) -> dict[str, Any]:
    """Constrained MLE of β with classical and cluster-robust standard errors."""
    names = d.names
    beta0 = np.array([float(start.get(n, 0.0)) for n in names])
    # a component carries information only where parks of a case's choice set differ in it; the
    # weight of a park's offer is estimated only when enough distinct parks state one, since a
    # value stated by one or two parks would make the weight a verdict on those parks alone
    spread = (np.where(d.available[:, :, None], d.x, np.nan)).astype(np.float64)
    typical = np.nanmedian(spread, axis=1, keepdims=True)
    differs = d.available[:, :, None] & (np.abs(d.x - typical) > 1e-9)
    n_parks = differs.any(axis=0).sum(axis=0)
    offer = np.array([n in OFFER_COMPONENTS for n in names])
    identified = np.where(offer, n_parks >= MIN_DIFFERING_PARKS, n_parks > 0)
    free = np.array([n not in FIXED for n in names]) & identified
    fixed_part = np.where(free, 0.0, beta0)

    def full(theta: np.ndarray) -> np.ndarray:
        b = fixed_part.copy()
        b[free] = theta
        return b

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, g = per_case(full(theta), d, free)
        return float(-ll.sum() + RIDGE * theta @ theta), -g.sum(axis=0) + 2 * RIDGE * theta

    res = minimize(
        objective,
        np.maximum(beta0[free], 0.0),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * int(free.sum()),
        options={"maxiter": 2000},
    )
    theta = res.x
    beta = full(theta)
    ll, g = per_case(beta, d, free)
    h = hessian(beta, d, free) + 2 * RIDGE * np.eye(len(theta))
    interior = theta > 1e-6
    se = np.full(len(theta), np.nan)
    se_cl = np.full(len(theta), np.nan)
    if interior.any():
        hi = np.linalg.pinv(h[np.ix_(interior, interior)])
        se[interior] = np.sqrt(np.clip(np.diag(hi), 0, None))
        gc = np.zeros((int(d.clusters.max()) + 1, int(interior.sum())))
        np.add.at(gc, d.clusters, g[:, interior])
        meat = gc.T @ gc
        se_cl[interior] = np.sqrt(np.clip(np.diag(hi @ meat @ hi), 0, None))
    null_ll = float(-np.log(d.available.sum(axis=1)).sum() + np.log(d.chosen.sum(axis=1)).sum())
    rows: dict[str, Any] = {}
    fi = 0
    for k, name in enumerate(names):
        if not free[k]:
            why = (
                "fixed: needs the simulated history"
                if name in FIXED
                else f"fixed: fewer than {MIN_DIFFERING_PARKS} parks of the choice sets state it"
                if name in OFFER_COMPONENTS
                else "fixed: no case's choice set varies in it"
            )
            rows[name] = {"estimate": float(beta[k]), "status": why}
            continue
        rows[name] = {
            "estimate": round(float(theta[fi]), 4),
            "se": None if np.isnan(se[fi]) else round(float(se[fi]), 4),
            "se_cluster": None if np.isnan(se_cl[fi]) else round(float(se_cl[fi]), 4),
            "status": "estimated" if interior[fi] else "at the lower bound 0",
        }
        fi += 1
    return {
        "method": "conditional logit over the open catalogue parks, maximum likelihood with "
        f"β ≥ 0 and ridge {RIDGE}; cluster-robust SE by relocation group",
        "n_cases": len(d.case_ids),
        "case_ids": list(d.case_ids),
        "n_clusters": len(np.unique(d.clusters)),
        "skipped": d.skipped,
        "log_likelihood": round(float(ll.sum()), 3),
        "null_log_likelihood": round(null_ll, 3),
        "mcfadden_r2": round(1.0 - float(ll.sum()) / null_ll, 4) if null_ll else None,
        "converged": bool(res.success),
        "parameters": rows,
    }


def default_start(truth: dict[str, Any]) -> dict[str, float]:
    """The documented hand-set weights, used as the starting point and for what stays fixed."""
    out = {k: float(v) for k, v in truth["beta"].items()}
    for s in truth["shocks"]:
        out[f"{s['name']}:all"] = float(s["delta_all"])
        out[f"{s['name']}:target"] = float(s["delta_target"])
    return out


def cases_fingerprint(cases: pd.DataFrame) -> str:
    """SHA-256 of the documented cases the weights are estimated on: a world records it, so a
    world estimated on another corpus (cases added, corrected or an office's own file) is
    generated again rather than silently reused."""
    text = cases.astype(str).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


def estimated_choice(cases: pd.DataFrame, parks: pd.DataFrame) -> dict[str, Any]:
    """The simulator's choice weights estimated on ``cases`` (what :func:`synth.simulate` takes)."""
    truth = synth._default_truth(1, 0)
    est = estimate(design(cases, parks, truth), default_start(truth))
    est["cases_fingerprint"] = cases_fingerprint(cases)
    return apply(truth, est)


def apply(truth: dict[str, Any], est: dict[str, Any]) -> dict[str, Any]:
    """``truth`` with β and the shock deltas replaced by the estimates."""
    out = {**truth, "beta": dict(truth["beta"]), "shocks": [dict(s) for s in truth["shocks"]]}
    params = est["parameters"]
    for name in synth.BETA_COMPONENTS:
        out["beta"][name] = float(params[name]["estimate"])
    for s in out["shocks"]:
        s["delta_all"] = float(params[f"{s['name']}:all"]["estimate"])
        s["delta_target"] = float(params[f"{s['name']}:target"]["estimate"])
    out["choice_estimates"] = est
    return out
