"""Real-case check: would the matcher have pointed documented relocations to where they went?

Why a module of its own: the simulated splits measure the ranker against the simulator that made
its training data; the 67 documented Beijing relocations in ``data/relocations.csv`` are the only
outside evidence.  Their reported destinations are free-text park names that must be matched to
the catalogue by explicit, reviewable rules (:data:`PARK_MATCH_RULE`, :data:`COUNTY_MATCH_RULE`),
and each miss gets a stated reason (excluded by a hard rule, not retrieved, ranked low), which is
what a reviewer needs to judge the cases one by one.

The model is scored by :meth:`matcher.core.Matcher.score` on the matcher's own candidates, the
officers' scorecard by :func:`training.baselines.scorecard_scores` on the same candidates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S
from features.pairs import code_index
from features.precedents import XIONGAN_COUNTIES, Precedents, function_mask
from features.validation import columns_from_records
from matcher import metrics as M
from matcher.constraints import RULES
from matcher.core import Matcher
from training.baselines import scorecard_scores
from training.report import rnd

XIONGAN_ADCODES = XIONGAN_COUNTIES  # 雄安新区 = 雄县/容城/安新, one destination
_PUNCT = re.compile(r"[\s·・•—–\-_、,，.。:：/（）()]")
_PREFIXES = ("河北省", "河北", "天津市", "天津", "北京市", "北京", "原")
PARK_MATCH_RULE = (
    "Names are normalised (punctuation and spaces removed; a leading 河北/天津/北京(省/市) or 原 "
    "dropped) and split into the main name and each bracketed alias. Tier 1 (specific): a destination "
    "name equals, or is contained in, a catalogue name. Tier 2 (enclosing zone): a catalogue name of "
    "≥4 characters is contained in the destination name (e.g. 雄安新区 for 雄安新区起步区第五组团). "
    "Tier 3 (fuzzy): difflib ratio ≥ 0.7 and the catalogue park lies in the destination county. The "
    "first non-empty tier gives the matched parks; a park-level hit is any matched park in the top k. "
    "Rows with no match are scored at county level only."
)
COUNTY_MATCH_RULE = (
    "County-level hit: a recommended park whose adcode equals destination_adcode "
    "(雄安新区 133100 = 雄县 130638 / 容城 130629 / 安新 130632), or a park-level hit."
)
WEIGHTING_RULE = "weighted_rate gives each (destination county, division, year) group a total weight of 1"


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
    """Equal adcodes, or both inside 雄安新区."""
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
    """The documented cases, every column as text (empty string where the report is silent)."""
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


def _quiet(_msg: str) -> None:
    return None


def real_relocations(
    matcher: Matcher, path: Path | None = None, progress: Callable[[str], None] = _quiet
) -> dict[str, Any]:
    """Top-10 county- and park-level hits of the model and the scorecard on every documented case."""
    df = load_relocations(path)
    progress(f"real relocations: {len(df)} documented cases")
    batch, errors = matcher.prepare(columns_from_records(relocation_records(df)), rows=np.arange(len(df)))
    _fa, cands, x = matcher.features(batch)
    scores = {
        "model": matcher.score(x, cands.parks),
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
            "weight": rnd(weight[i]),
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
        case["reason"] = miss_reason(
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
                "rate": rnd(float(v[ok].mean()) if ok.any() else float("nan")),
                "weighted_rate": rnd(
                    float((v[ok] * weight[ok]).sum() / weight[ok].sum()) if ok.any() else float("nan")
                ),
            }
    return {
        "n_cases": len(df),
        "n_scored": len(batch),
        "rejected": [e.as_dict() for e in errors],
        "park_match_rule": PARK_MATCH_RULE,
        "county_match_rule": COUNTY_MATCH_RULE,
        "weighting": WEIGHTING_RULE,
        "cases_with_park_match": int(sum(1 for c in cases if c["matched_parks"])),
        "cases_with_catalogue_park_in_county": int(
            sum(1 for c in cases if any(same_county(a, c["destination_adcode"]) for a in adcodes))
        ),
        "summary": summary,
        "misses_model_county@10": [c for c in cases if not c["model"]["county_hit@10"]],
        "cases": cases,
    }


def miss_reason(
    target: Sequence[int],
    matched: Sequence[int],
    cand: np.ndarray,
    infeasible: np.ndarray,
    best: int | None,
    names: np.ndarray,
) -> str:
    """Why the model's top 10 holds no park of the destination county, in a reviewer's words."""
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


# --- learning from the documented cases -------------------------------------------------------


def case_targets(df: pd.DataFrame, parks: pd.DataFrame) -> tuple[list[list[int]], list[list[int]]]:
    """Per case: the catalogue positions of its documented park (``destination_park_id``, else
    the name rules of :func:`match_parks`) and of every park in its destination county."""
    pos = {str(pid): j for j, pid in enumerate(parks[S.PARK_ID])}
    adcodes = parks[S.ADCODE].astype(str).tolist()
    matched: list[list[int]] = []
    county: list[list[int]] = []
    for r in df.itertuples(index=False):
        dest_ad = str(r.destination_adcode)
        pid = str(getattr(r, "destination_park_id", "") or "")
        hits = [pos[pid]] if pid in pos else match_parks(str(r.destination_park), dest_ad, parks)[0]
        matched.append(hits)
        county.append([j for j, a in enumerate(adcodes) if same_county(a, dest_ad)])
    return matched, county


def fit_precedents(df: pd.DataFrame, parks: pd.DataFrame) -> Precedents:
    """The precedent stage from documented cases (see :mod:`features.precedents`)."""
    matched, _ = case_targets(df, parks)
    div_pos = code_index()[0]
    masks = np.array([function_mask([f for f in str(v).split(";") if f]) for v in df["functions"]])
    divs = np.array([div_pos.get(str(c)[:2], -1) if c else -1 for c in df["industry_code"]], dtype=np.int64)
    park_pos = np.array([m[0] if len(m) == 1 else -1 for m in matched], dtype=np.int64)
    return Precedents().fit(
        masks,
        divs,
        df["destination_adcode"].astype(str).tolist(),
        park_pos,
        df["group_id"].astype(str).tolist(),
        parks[S.ADCODE].astype(str).tolist(),
        parks[S.LAT].to_numpy(np.float64),
        parks[S.LNG].to_numpy(np.float64),
    )


@dataclass
class CaseGroups:
    """Documented cases as ranking groups: features over the matcher's candidates and labels
    (2 the documented park, 1 another park of the destination county, 0 elsewhere, -1 padding)."""

    cases: pd.DataFrame
    x: np.ndarray
    labels: np.ndarray
    cand: np.ndarray
    matched: list[list[int]]
    county: list[list[int]]

    def flat(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = np.arange(len(self.labels)) if rows is None else np.asarray(rows)
        idx = idx[(self.labels[idx] > 0).any(axis=1)]
        valid = self.labels[idx] >= 0
        return self.x[idx][valid], self.labels[idx][valid], valid.sum(axis=1)


def case_groups(matcher: Matcher, df: pd.DataFrame, exclude_own_group: bool = True) -> CaseGroups:
    """Features of every documented case through the serving path (:meth:`Matcher.features`).

    With ``exclude_own_group`` a case's precedent features ignore its own relocation group, which
    is what a new firm sees; scoring a held-out fold needs no exclusion (its groups are not in the
    precedents), but it does no harm."""
    df = df.reset_index(drop=True)
    batch, errors = matcher.prepare(columns_from_records(relocation_records(df)), rows=np.arange(len(df)))
    if errors:
        e = errors[0]
        raise ValueError(f"documented case rejected: row {e.row}, {e.field}: {e.reason}")
    groups = df["group_id"].astype(str).tolist() if exclude_own_group else None
    _fa, cands, x = matcher.features(batch, exclude_groups=groups)
    matched, county = case_targets(df, matcher.parks)
    labels = np.zeros(cands.parks.shape, dtype=np.int64)
    for i in range(len(df)):
        labels[i] = np.where(
            np.isin(cands.parks[i], matched[i]),
            S.RELEVANCE_CHOSEN,
            np.where(np.isin(cands.parks[i], county[i]), S.RELEVANCE_SHORTLISTED, S.RELEVANCE_OTHER),
        )
    labels = np.where(cands.parks < 0, -1, labels)
    return CaseGroups(df, x, labels, cands.parks, matched, county)


def pressure_check(
    matcher: Matcher, cases: pd.DataFrame, firms: pd.DataFrame, table: Any = None
) -> dict[str, Any]:
    """How the documented movers score on relocation pressure against simulated firms of the
    same industries (GB/T division), as a check of the score, not a training target: the
    movers did move, so a pressure that ranks them below their simulated peers would be suspect.

    For each division with at least one mover: the movers' mean pressure, the simulated firms'
    mean, and overall the share of movers above the median of their division's simulated firms."""
    from features.pressure import relocation_pressure

    batch, _ = matcher.prepare(columns_from_records(relocation_records(cases)))
    movers = relocation_pressure(batch.cols, batch.imputed, table).score
    mdiv = np.array([str(c)[:2] for c in batch.cols[S.INDUSTRY_CODE]])
    sim_cols = {k: firms[k].to_numpy(object) for k in S.FIRM_COLUMNS if k in firms}
    for k in S.FIRM_LIST_COLUMNS:
        sim_cols[k] = np.array([list(v) for v in firms[k]] + [None], dtype=object)[:-1]
    sim_batch, _ = matcher.prepare(sim_cols)
    sim = relocation_pressure(sim_batch.cols, sim_batch.imputed, table).score
    sdiv = np.array([str(c)[:2] for c in sim_batch.cols[S.INDUSTRY_CODE]])
    by_div: dict[str, dict[str, float]] = {}
    above = []
    for d in sorted(set(mdiv)):
        peers = sim[sdiv == d]
        if not len(peers):
            continue
        mine = movers[mdiv == d]
        above.extend((mine > np.median(peers)).tolist())
        by_div[d] = {
            "movers": len(mine),
            "movers_mean": rnd(float(mine.mean())),
            "simulated": len(peers),
            "simulated_mean": rnd(float(peers.mean())),
        }
    return {
        "movers_mean": rnd(float(movers.mean())),
        "simulated_mean_same_divisions": rnd(float(sim[np.isin(sdiv, list(by_div))].mean())),
        "share_of_movers_above_division_median": rnd(float(np.mean(above))) if above else None,
        "by_division": by_div,
    }
