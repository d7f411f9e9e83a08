"""Simulated relocation history of Beijing firms (the ranker's training and evaluation world).

No public register says which Beijing firm moved to which park and what else it weighed, so
parkmatch generates one.  The generator is a two-stage discrete-choice model whose parameters
are written to ``truth.json`` (and per-firm tastes to ``latent.parquet``), so evaluation can
score a ranker against the oracle that produced the choices.  The utility is deliberately *not*
built from the ranker's features: it uses random per-firm tastes (mixed logit), unobserved park
attractiveness, nonlinear forms, input-output linkages, path dependence and dated policy shocks.
See ``training/README.md`` for the model as an officer would argue with it.

Everything is vectorised numpy; firms relocating in a year are processed in random-order chunks so
that parks fill up against their (scaled) yearly capacity exactly as first-come, first-served.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import schemas as S
from features.pairs import (
    CAPITAL_PROVINCE,
    THEME_PLATFORM,
    capital_banned,
    purpose_masks,
    theme_allows,
    theme_codes,
)
from features.validation import DATA_CENTRE_TIES

VERSION = "synth-1.4"
YEARS: tuple[int, ...] = tuple(range(2014, 2025))
INFEASIBLE = -1e6  # oracle score of a pair the firm could not choose (finite so metrics stay defined)
CHUNK = 1024
POLLUTION_RANK = {"low": 0, "medium": 1, "high": 2}

# --- parameters (all written to truth.json) ------------------------------------------------

# Industry mix: relative weight of each 2-digit division among simulated firms.  Weighted
# toward what the policy moves (general manufacturing, wholesale markets and logistics, pharma,
# data centres, back offices, education and health) while keeping firms that should stay.
DIVISION_WEIGHTS: dict[str, float] = {
    **{
        d: 1.0
        for d in ("13", "14", "15", "17", "19", "20", "22", "24", "29", "30", "31", "32", "33", "41", "42")
    },
    **{d: 2.0 for d in ("18", "21", "23", "26", "34", "35", "36", "38", "39", "40")},
    "27": 4.0,
    "37": 0.6,
    "44": 0.3,
    **{d: 0.8 for d in ("47", "48", "49", "50")},
    "51": 12.0,
    "52": 4.0,
    "54": 2.5,
    "58": 2.0,
    "59": 4.0,
    "60": 0.5,
    "61": 0.8,
    "62": 1.2,
    "63": 0.6,
    "64": 3.0,
    "65": 7.0,
    "66": 1.5,
    "67": 1.5,
    "68": 1.0,
    "69": 1.0,
    "70": 1.5,
    "71": 1.0,
    "72": 7.0,
    "73": 2.0,
    "74": 2.0,
    "75": 2.0,
    "77": 0.5,
    "80": 0.8,
    "81": 0.5,
    "83": 2.5,
    "84": 2.5,
    "85": 0.3,
    "86": 1.0,
    "87": 1.0,
    "88": 1.0,
    "89": 0.3,
    "90": 0.5,
}
# Within a division, these 小类 get this share of the division's firms (rest uniform): pharma API
# makers and data-centre operators are the archetypal relocators the evaluation probes.
CODE_BOOST: dict[str, float] = {"2710": 0.45, "6450": 0.35, "6550": 0.4, "7211": 0.35, "5110": 0.1}

EMPLOYEE_SIGMA = 1.15  # lognormal spread of employees around the division median
PARETO_SHARE = 0.03  # share of firms drawn from a Pareto tail instead (large groups)
PARETO_ALPHA = 1.3

RELOCATION: dict[str, Any] = {
    "intercept": -2.9,
    "pressure": 1.1,  # × logit(relocation_pressure of the division)
    "land": 0.9,  # × log1p(land_need_mu)/log(101): 容不下, land-hungry firms cannot stay
    "ties": -1.2,  # × beijing_ties: 离不开
    "noise_sd": 0.8,  # firm-level unobserved propensity
    "functions": {
        "production": 0.4,
        "logistics": 0.5,
        "wholesale": 0.7,
        "data_center": 0.4,
        "back_office": 0.2,
        "headquarters": -0.6,
        "rnd": -0.3,
        "research": -0.3,
        "education": 0.3,
        "healthcare": 0.2,
        "administration": 0.0,
    },
    "district": {
        "东城区": 0.35,
        "西城区": 0.35,
        "朝阳区": 0.1,
        "海淀区": 0.0,
        "延庆区": -0.3,
        "密云区": -0.3,
        "怀柔区": -0.3,
        "平谷区": -0.3,
    },
}
# Year of the move by primary function group (2014..2024): production and markets went first,
# back offices and data centres next, headquarters, schools and hospitals last.
YEAR_WEIGHTS: dict[str, list[float]] = {
    "early": [6, 10, 12, 13, 12, 10, 8, 7, 6, 5, 4],
    "middle": [2, 4, 7, 10, 12, 12, 11, 10, 8, 6, 5],
    "late": [1, 2, 3, 7, 9, 12, 13, 12, 11, 10, 9],
}
YEAR_GROUP = {
    "production": "early",
    "logistics": "early",
    "wholesale": "early",
    "data_center": "middle",
    "back_office": "middle",
    "headquarters": "late",
    "rnd": "middle",
    "research": "late",
    "education": "late",
    "healthcare": "late",
    "administration": "late",
}

# Mean (median for random ones) utility coefficients.  Random ones get exp(sd·z) per firm.
BETA: dict[str, float] = {
    "chain": 3.0,  # × H(code, park)^0.7, GB/T hierarchy closeness
    "io": 0.6,  # × log1p(IO link / 0.02), strongest upstream+downstream NBS coefficient
    "agglomeration": 0.5,  # × log1p(earlier same-division arrivals / capacity scale)
    "land_price": 1.0,  # × land intensity × log(price / 1e5)
    "land_squeeze": 0.6,  # × max(0, log(land_need / (0.1·available)))^2
    "talent": 1.2,  # × talent_need^2 × log(0.05 + talent_pool)
    "subsidy": 0.8,  # × Σ_k w_k (subsidy_k/3)^1.5
    "registration": 1.0,  # × keeps_registration × (2.0·pharma + 0.6·ties)
    "distance": 1.0,  # × (0.15 + 1.5·ties^2) × (origin distance/100)^0.8
    "rail_time": 0.5,  # × ties × log1p(rail_minutes/60)
    "port": 1.2,  # × needs_port × (+1 port / −1 no port)
}
TASTE_SD: dict[str, float] = {
    "chain": 0.5,
    "land_price": 0.6,
    "talent": 0.5,
    "subsidy": 0.7,
    "registration": 0.5,
    "distance": 0.5,
}
SUBSIDY_WEIGHT = {"base": 0.25, "priority": 1.0}
XI_SD = 0.6  # unobserved park attractiveness ξ_j ~ N(0, XI_SD)
SHORTLIST_SCALE = 1.0  # Gumbel scale of the shortlisting stage
FINAL_SCALE = 0.5  # Gumbel scale of the final pick within the shortlist (site visits)
SHORTLIST_EXTRA_P = 0.45  # shortlist size = 2 + Binomial(4, p)
CAPACITY_SLACK = 1.6  # Σ scaled capacity = slack × relocations in the busiest year
LAND_FEASIBLE = 1.0  # infeasible when land_need_mu > LAND_FEASIBLE × available_land_mu

# Policy shocks: parks are identified by catalogue attributes, never by firm→park mappings.
SHOCKS: list[dict[str, Any]] = [
    {
        "name": "cangzhou_bohai_pharma",
        "rule": {"city": "沧州市", "name_contains_any": ["生物医药"]},
        "opens": 2015,
        "start": 2015,
        "ramp_years": 3,
        "delta_all": 0.2,
        "delta_target": 1.6,
        "target": {"divisions": ["27"]},
        "why": "北京·沧州渤海新区生物医药产业园 (2015): 异地监管 keeps Beijing drug registrations",
    },
    {
        "name": "xiongan",
        "rule": {"city": "雄安新区"},
        "opens": 2017,
        "start": 2017,
        "ramp_years": 4,
        "delta_all": 0.3,
        "delta_target": 1.2,
        "target": {
            "functions": ["headquarters", "education", "healthcare", "research"],
            "divisions": ["66", "72", "73", "83", "84"],
        },
        "why": (
            "雄安新区 announced 2017-04-01 as the concentrated receiving area for SOE HQs, "
            "universities, hospitals"
        ),
    },
    {
        "name": "tongzhou_admin",
        "rule": {"province": "北京市", "county": "通州区"},
        "opens": 2014,
        "start": 2019,
        "ramp_years": 2,
        "delta_all": 0.3,
        "delta_target": 1.0,
        "target": {"functions": ["headquarters", "back_office"], "divisions": ["66", "67", "69", "72", "92"]},
        "why": "Beijing municipal government moved to the Tongzhou sub-centre in January 2019",
    },
    {
        "name": "daxing_airport",
        "rule": {"name_contains_any": ["大兴国际机场"]},
        "opens": 2019,
        "start": 2019,
        "ramp_years": 2,
        "delta_all": 0.2,
        "delta_target": 0.8,
        "target": {"functions": ["logistics"], "divisions": ["56", "58", "59", "27"]},
        "why": "Daxing International Airport opened 2019-09-25; its zones cannot receive firms before",
    },
]

FUNCTION_SUBSIDIES: dict[str, tuple[str, ...]] = {
    "production": ("land", "equipment", "tax"),
    "logistics": ("land", "tax", "rent"),
    "wholesale": ("rent", "tax"),
    "data_center": ("land", "equipment", "tax"),
    "back_office": ("rent", "talent"),
    "headquarters": ("tax", "rent", "talent"),
    "rnd": ("rnd", "talent"),
    "research": ("rnd", "talent"),
    "education": ("land", "talent"),
    "healthcare": ("land", "talent", "equipment"),
    "administration": ("rent", "talent"),
}


# --- world ---------------------------------------------------------------------------------


@dataclass
class World:
    """One simulated history: what the ranker may see (firms, events) and what only evaluation
    may see (truth, latent tastes)."""

    firms: pd.DataFrame
    events: pd.DataFrame
    truth: dict[str, Any]
    latent: pd.DataFrame | None = None
    _agg_cache: np.ndarray | None = field(default=None, repr=False, compare=False)


# --- reference helpers ---------------------------------------------------------------------


def _reference() -> dict[str, Any]:
    from features.reference import beijing_districts, load_industries, load_priors

    return {"industries": load_industries(), "priors": load_priors(), "districts": beijing_districts()}


def _io_link_table(codes: list[str]) -> tuple[dict[str, int], np.ndarray]:
    from features.reference import io42_sector, load_io42

    table = load_io42(2020)
    pos = {c: i for i, c in enumerate(table.codes)}
    sectors = {c: io42_sector(c) for c in codes}
    return {c: pos[s] for c, s in sectors.items() if s in pos}, table.a


def _hierarchy(code: str, park_codes: list[str]) -> float:
    """GB/T closeness: same 小类 1.0, same 中类 0.8, same 大类 0.6, sibling 小类/中类 0.35."""
    best = 0.0
    for pc in park_codes:
        if code.startswith(pc) or pc.startswith(code):
            score = {2: 0.6, 3: 0.8, 4: 1.0}.get(min(len(pc), len(code)), 0.6)
        elif pc[:2] == code[:2]:
            score = 0.35
        else:
            continue
        best = max(best, score)
    return best


@dataclass
class _Parks:
    ids: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    dist_bj: np.ndarray
    rail: np.ndarray
    land: np.ndarray
    price: np.ndarray
    talent: np.ndarray
    subsidy: np.ndarray  # (P, 6) transformed (s/3)^1.5
    reg: np.ndarray
    port: np.ndarray
    max_poll: np.ndarray
    xi: np.ndarray
    opens: np.ndarray  # first year the park can receive firms
    shock_member: np.ndarray  # (n_shocks, P) bool
    designated_fn: np.ndarray  # (P,) bitmask over S.FUNCTIONS of the functions policy sends there
    purpose: np.ndarray  # (P,) what a single-purpose site accepts (features.pairs.purpose_mask); 0 = any
    designated_codes: list[list[str]]
    codes: list[list[str]]
    restricted: list[list[str]]
    theme: list[list[str] | None]  # a themed town's codes (features.pairs.theme_codes); None = any
    capital: np.ndarray  # (P,) bool: in Beijing, which takes no data centre moved alone
    capacity_real: np.ndarray


def _match_rule(parks: pd.DataFrame, rule: dict[str, Any]) -> np.ndarray:
    mask = np.ones(len(parks), dtype=bool)
    for key in ("province", "city", "county", "platform_group", "platform_type"):
        if key in rule:
            mask &= parks[key].astype(str).to_numpy() == rule[key]
    if "name_contains_any" in rule:
        names = parks[S.PARK_NAME].astype(str)
        hit = np.zeros(len(parks), dtype=bool)
        for sub in rule["name_contains_any"]:
            hit |= names.str.contains(sub, regex=False).to_numpy()
        mask &= hit
    return mask


# The simulator needs a value for every park; the catalogue leaves unknowns blank.  Unknown
# values get one neutral constant each (or, for capacity, a proxy from the approved area), so the
# simulated choices never vary on a value no source states.  These fills stay inside the
# simulator: the ranker and the reasons still see the catalogue's NaN.
SIM_FILL: dict[str, Any] = {
    "land_mu": 1e5,  # never binding
    "price_cny_per_mu": 2e5,
    "subsidy": 0.0,
    "registration": False,
    "pollution_rank": 2,
    "capacity": "approved_area_ha / median(approved_area_ha) × median(known capacity); "
    "median area if unknown",
}


# What a stated offer changes is learned from the simulated world, where a park's offer can be
# known to the simulator even though no source states it.  For a share of the parks whose
# catalogue value is unknown, each lever (land price, available land, the subsidy items together) gets a
# drawn value that the simulated firms weigh and that the ranker's simulated training groups see
# as stated; the other parks keep the neutral fills above and NaN in their features.  Without
# this the ranker would never see an offer vary (a handful of parks state one) and could not say
# what a park's change of offer would do (the what-if of the park's side).  The drawn values are
# simulation only: the catalogue, the reasons and serving never see them.
OFFER_SHARE = 0.5
OFFER_RANGES: dict[str, Any] = {
    "price_cny_per_mu": "log-uniform from half the lowest to the highest price the catalogue states",
    "land_mu": (20.0, 5000.0),  # log-uniform
    "subsidy": "an integer level 0–3, uniform",
}


def hash_unit(key: str) -> float:
    """A stable pseudo-random number in [0, 1) per key, for draws and splits that do not move
    between runs."""
    return int.from_bytes(hashlib.blake2b(str(key).encode(), digest_size=8).digest(), "big") / 2.0**64


def simulated_offers(parks: pd.DataFrame, share: float = OFFER_SHARE) -> pd.DataFrame:
    """The catalogue as the simulator knows it: unknown offers drawn for a stable share of the
    parks (keyed by park id and field, so the world and the training groups agree without
    storing the draw); stated values are kept as they are."""
    out = parks.copy()
    price = pd.to_numeric(parks[S.LAND_PRICE], errors="coerce")
    known = price.dropna().to_numpy(np.float64)
    lo_p, hi_p = (0.5 * known.min(), known.max()) if len(known) else (1e5, 1e6)
    lo_l, hi_l = OFFER_RANGES["land_mu"]

    def draw(lever: str, col: str, pid: str, value: Callable[[float], float]) -> float:
        # whether a park states a lever is drawn once per lever, so that the subsidy items are
        # stated together or not at all, as a park's policy document would
        if hash_unit(f"offer:{lever}:{pid}") >= share:
            return math.nan
        return value(hash_unit(f"value:{col}:{pid}"))

    ids = parks[S.PARK_ID].astype(str)
    fields: list[tuple[str, str, Callable[[float], float]]] = [
        ("price", S.LAND_PRICE, lambda u: round(math.exp(math.log(lo_p) + u * math.log(hi_p / lo_p)), -3)),
        ("land", S.AVAILABLE_LAND_MU, lambda u: round(math.exp(math.log(lo_l) + u * math.log(hi_l / lo_l)))),
        *(("subsidy", col, lambda u: float(min(int(u * 4), 3))) for col in S.SUBSIDY_COLUMNS),
    ]
    subsidies = parks[list(S.SUBSIDY_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    stated = {"subsidy": subsidies.notna().any(axis=1).to_numpy()}
    for lever, col, value in fields:
        now = pd.to_numeric(parks[col], errors="coerce")
        drawn = np.array([draw(lever, col, pid, value) for pid in ids], dtype=np.float64)
        if lever in stated:  # a park that states any item keeps its own document as it is
            drawn = np.where(stated[lever], np.nan, drawn)
        out[col] = now.where(now.notna(), drawn).to_numpy(np.float64)
    return out


def simulator_catalogue(parks: pd.DataFrame, truth: dict[str, Any]) -> pd.DataFrame:
    """The catalogue a world was generated over: with its simulated offers when it has them
    (worlds of earlier versions had none)."""
    offers = truth.get("simulated_offers")
    return simulated_offers(parks, float(offers["share"])) if offers else parks


def _limits(field: str) -> tuple[float, float]:
    lo, hi = S.FIRM_NUMERIC_LIMITS[field]
    return (0.0 if lo is None else float(lo), np.inf if hi is None else float(hi))


def _fill(col: pd.Series, value: float) -> np.ndarray:
    return pd.to_numeric(col, errors="coerce").fillna(value).to_numpy(np.float64)


def _capacity_proxy(parks: pd.DataFrame) -> np.ndarray:
    cap = pd.to_numeric(parks[S.CAPACITY_PER_YEAR], errors="coerce").to_numpy(np.float64)
    area = pd.to_numeric(parks[S.APPROVED_AREA_HA], errors="coerce").to_numpy(np.float64)
    med_area = float(np.nanmedian(area)) if np.isfinite(area).any() else 1.0
    area = np.where(np.isfinite(area), area, med_area)
    med_cap = float(np.nanmedian(cap)) if np.isfinite(cap).any() else 10.0
    return np.where(np.isfinite(cap), cap, np.maximum(area / max(med_area, 1e-9) * med_cap, 1.0))


def _park_context(parks: pd.DataFrame, truth: dict[str, Any]) -> _Parks:
    parks = parks.reset_index(drop=True)
    xi_map: dict[str, float] = truth["park_xi"]
    shocks = truth["shocks"]
    member = (
        np.stack([_match_rule(parks, s["rule"]) for s in shocks])
        if shocks
        else np.zeros((0, len(parks)), bool)
    )
    opens = np.full(len(parks), YEARS[0], dtype=np.int64)
    for s, m in zip(shocks, member, strict=True):
        opens[m] = np.maximum(opens[m], int(s["opens"]))
    sub = np.nan_to_num(
        parks[list(S.SUBSIDY_COLUMNS)].to_numpy(dtype=np.float64), nan=float(SIM_FILL["subsidy"])
    )
    return _Parks(
        ids=parks[S.PARK_ID].astype(str).to_numpy(),
        lat=parks[S.LAT].to_numpy(np.float64),
        lng=parks[S.LNG].to_numpy(np.float64),
        dist_bj=parks[S.DISTANCE_KM].to_numpy(np.float64),
        rail=parks[S.RAIL_MINUTES].to_numpy(np.float64),
        land=_fill(parks[S.AVAILABLE_LAND_MU], SIM_FILL["land_mu"]),
        price=np.maximum(_fill(parks[S.LAND_PRICE], SIM_FILL["price_cny_per_mu"]), 1e4),
        talent=parks[S.TALENT_POOL].to_numpy(np.float64),
        subsidy=(np.clip(sub, 0, 3) / 3.0) ** 1.5,
        reg=np.array(
            [bool(v) if v is not None and v == v else False for v in parks[S.KEEPS_BEIJING_REGISTRATION]]
        ),
        port=np.array([bool(v) if v is not None and v == v else False for v in parks[S.PORT_ACCESS]]),
        max_poll=parks[S.MAX_POLLUTION_LEVEL].map(POLLUTION_RANK).fillna(2).to_numpy(np.int64),
        xi=np.array([float(xi_map.get(pid, 0.0)) for pid in parks[S.PARK_ID].astype(str)]),
        opens=opens,
        shock_member=member,
        designated_fn=np.array(
            [
                sum(1 << S.FUNCTIONS.index(f) for f in (v or []) if f in S.FUNCTIONS)
                for v in parks[S.DESIGNATED_FUNCTIONS]
            ],
            dtype=np.int64,
        ),
        purpose=purpose_masks(parks),
        designated_codes=[list(v or []) for v in parks[S.DESIGNATED_INDUSTRIES]],
        codes=[list(c) for c in parks[S.INDUSTRY_CODES]],
        restricted=[list(c) for c in parks[S.RESTRICTED_INDUSTRIES]],
        theme=[
            codes if ptype == THEME_PLATFORM else None
            for ptype, codes in zip(parks[S.PLATFORM_TYPE], theme_codes(parks), strict=True)
        ],
        capital=(parks[S.PROVINCE] == CAPITAL_PROVINCE).to_numpy(bool),
        capacity_real=_capacity_proxy(parks),
    )


@dataclass
class _CodeTable:
    """Per (firm industry code, park) quantities that only depend on the code."""

    codes: list[str]
    index: dict[str, int]
    chain: np.ndarray  # (C, P) H^0.7
    io: np.ndarray  # (C, P) log1p(link/0.02)
    restricted: np.ndarray  # (C, P) bool
    designated: np.ndarray  # (C, P) bool: the code falls under an industry policy sends to the park
    off_theme: np.ndarray  # (C, P) bool: the park is a themed town and the code is not its theme


def _code_table(codes: list[str], pk: _Parks) -> _CodeTable:
    codes = sorted(set(codes))
    P = len(pk.ids)
    chain = np.zeros((len(codes), P))
    io = np.zeros((len(codes), P))
    restricted = np.zeros((len(codes), P), dtype=bool)
    designated = np.zeros((len(codes), P), dtype=bool)
    off_theme = np.zeros((len(codes), P), dtype=bool)
    all_park_codes = sorted({c for cs in pk.codes for c in cs} | set(codes))
    sector, a = _io_link_table(all_park_codes)
    for ci, code in enumerate(codes):
        s = sector.get(code)
        for j in range(P):
            chain[ci, j] = _hierarchy(code, pk.codes[j]) ** 0.7
            restricted[ci, j] = any(code.startswith(r) for r in pk.restricted[j])
            designated[ci, j] = any(code.startswith(r) for r in pk.designated_codes[j])
            theme = pk.theme[j]
            off_theme[ci, j] = theme is not None and not theme_allows(code, theme)
            if s is not None:
                link = 0.0
                for pc in pk.codes[j]:
                    sp = sector.get(pc)
                    if sp is not None and sp != s:
                        link = max(link, float(a[sp, s] + a[s, sp]))
                io[ci, j] = math.log1p(link / 0.02)
    return _CodeTable(
        codes, {c: i for i, c in enumerate(codes)}, chain, io, restricted, designated, off_theme
    )


@dataclass
class _FirmArrays:
    code_idx: np.ndarray
    div: np.ndarray
    func_mask: np.ndarray
    prio_mask: np.ndarray
    land_need: np.ndarray
    talent: np.ndarray
    ties: np.ndarray
    max_dist: np.ndarray
    needs_port: np.ndarray
    poll: np.ndarray
    origin_lat: np.ndarray
    origin_lng: np.ndarray
    taste: dict[str, np.ndarray]

    def take(self, rows: np.ndarray) -> _FirmArrays:
        return _FirmArrays(
            **{k: getattr(self, k)[rows] for k in self.__dataclass_fields__ if k != "taste"},
            taste={k: v[rows] for k, v in self.taste.items()},
        )


def _shock_strength(shock: dict[str, Any], year: np.ndarray) -> np.ndarray:
    """Linear ramp from the start year: announcements take years to turn into moves."""
    t = (year - int(shock["start"]) + 1) / float(shock["ramp_years"])
    return np.clip(t, 0.0, 1.0)


def _shock_targets(shock: dict[str, Any], div: np.ndarray, func_mask: np.ndarray) -> np.ndarray:
    tgt = shock["target"]
    hit = np.isin(div, [int(d) for d in tgt.get("divisions", [])])
    for f in tgt.get("functions", []):
        hit |= (func_mask >> S.FUNCTIONS.index(f)) & 1 == 1
    return hit


# Names of the utility's components, in the order of :func:`_components`'s columns.  Each
# component already carries its sign and the firm's random taste, so V = ξ + X·β with every β
# an attractiveness weight that theory expects to be non-negative.
BETA_COMPONENTS: tuple[str, ...] = (
    "chain",
    "io",
    "agglomeration",
    "land_price",
    "land_squeeze",
    "talent",
    "subsidy",
    "registration",
    "distance",
    "rail_time",
    "port",
    "designated_function",
    "designated_industry",
)


def shock_components(shocks: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(f"{s['name']}:{part}" for s in shocks for part in ("all", "target"))


def _components(
    truth: dict[str, Any],
    pk: _Parks,
    ct: _CodeTable,
    fa: _FirmArrays,
    park: np.ndarray,
    year: np.ndarray,
    agg: np.ndarray | None,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Utility components X (pairs × (BETA_COMPONENTS + shock parts)) and hard feasibility for
    pairs (fa[i], park[i], year[i]).  One definition serves the generator and the estimator
    (:mod:`training.choice`), so the estimated weights are the generator's weights."""
    from features.reference import haversine_km

    tz = fa.taste
    pollution_ok = fa.poll <= pk.max_poll[park]
    feasible = (
        (pk.dist_bj[park] <= fa.max_dist)
        & ~ct.restricted[fa.code_idx, park]
        & ~ct.off_theme[fa.code_idx, park]
        & ~(pk.capital[park] & capital_banned(fa.func_mask))
        & pollution_ok
        & (fa.land_need <= LAND_FEASIBLE * pk.land[park])
        & (year >= pk.opens[park])
        & ((pk.purpose[park] == 0) | ((fa.func_mask & pk.purpose[park]) != 0))
    )
    shocks = truth["shocks"]
    x = np.zeros((len(park), len(BETA_COMPONENTS) + 2 * len(shocks)))
    x[:, 0] = tz["chain"] * ct.chain[fa.code_idx, park]
    x[:, 1] = ct.io[fa.code_idx, park]
    if agg is not None:
        yi = np.clip(year - YEARS[0], 0, len(YEARS) - 1)
        x[:, 2] = np.log1p(agg[yi, fa.div, park] / max(scale, 1e-9))
    intensity = np.sqrt(np.minimum(fa.land_need / 100.0, 1.5))
    x[:, 3] = -tz["land_price"] * intensity * np.log(pk.price[park] / 1e5)
    squeeze = np.maximum(0.0, np.log(np.maximum(fa.land_need, 1e-3) / (0.1 * np.maximum(pk.land[park], 1.0))))
    x[:, 4] = -(squeeze**2)
    x[:, 5] = tz["talent"] * fa.talent**2 * np.log(0.05 + pk.talent[park])
    bits = ((fa.prio_mask[:, None] >> np.arange(len(S.SUBSIDY_ITEMS))) & 1).astype(np.float64)
    w = SUBSIDY_WEIGHT["base"] + SUBSIDY_WEIGHT["priority"] * bits
    x[:, 6] = tz["subsidy"] * np.einsum("ij,ij->i", w, pk.subsidy[park])
    pharma = (fa.div == 27).astype(np.float64)
    x[:, 7] = tz["registration"] * pk.reg[park] * (2.0 * pharma + 0.6 * fa.ties)
    d = haversine_km(fa.origin_lat, fa.origin_lng, pk.lat[park], pk.lng[park])
    x[:, 8] = -tz["distance"] * (0.15 + 1.5 * fa.ties**2) * (d / 100.0) ** 0.8
    x[:, 9] = -fa.ties * np.log1p(pk.rail[park] / 60.0)
    x[:, 10] = fa.needs_port * np.where(pk.port[park], 1.0, -1.0)
    x[:, 11] = (fa.func_mask & pk.designated_fn[park]) != 0
    x[:, 12] = ct.designated[fa.code_idx, park]
    base = len(BETA_COMPONENTS)
    for k, shock in enumerate(shocks):
        member = pk.shock_member[k, park]
        if not member.any():
            continue
        strength = _shock_strength(shock, year) * member
        x[:, base + 2 * k] = strength
        x[:, base + 2 * k + 1] = strength * _shock_targets(shock, fa.div, fa.func_mask)
    return x, feasible


def beta_vector(truth: dict[str, Any]) -> np.ndarray:
    b = truth["beta"]
    parts = [float(b.get(name, 0.0)) for name in BETA_COMPONENTS]
    for shock in truth["shocks"]:
        parts += [float(shock["delta_all"]), float(shock["delta_target"])]
    return np.asarray(parts, dtype=np.float64)


def _utility(
    truth: dict[str, Any],
    pk: _Parks,
    ct: _CodeTable,
    fa: _FirmArrays,
    park: np.ndarray,
    year: np.ndarray,
    agg: np.ndarray | None,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic utility V = ξ + X·β and hard feasibility for pairs (fa[i], park[i], year[i])."""
    x, feasible = _components(truth, pk, ct, fa, park, year, agg, scale)
    return pk.xi[park] + x @ beta_vector(truth), feasible


# --- firm generation ------------------------------------------------------------------------


_ZIHAO = list(
    "华盛博鑫泰恒瑞达远通中科创新汇联宏金源德嘉信诚安康宇航天润丰益和美佳明志卓越腾飞鼎辰星光耀弘毅同仁尚品启元智合永昌隆兴旺祥福顺利凯旋众邦夏东方时代"
)
_NAME_WORDS: dict[str, list[str]] = {
    "13": ["食品", "粮油"],
    "14": ["食品", "乳业"],
    "15": ["饮品", "酒业", "茶业"],
    "17": ["纺织"],
    "18": ["服饰", "服装"],
    "19": ["皮具", "鞋业"],
    "20": ["木业"],
    "21": ["家具", "家居"],
    "22": ["纸业", "包装"],
    "23": ["印刷", "印务"],
    "24": ["文体用品", "工艺品"],
    "26": ["化工", "精细化工"],
    "27": ["医药", "制药", "药业", "生物技术"],
    "29": ["塑胶", "橡塑"],
    "30": ["建材", "新材料"],
    "31": ["钢铁", "金属材料"],
    "32": ["有色金属", "合金材料"],
    "33": ["金属制品", "五金"],
    "34": ["机械", "设备", "装备"],
    "35": ["机械设备", "专用设备", "仪器设备"],
    "36": ["汽车零部件", "汽车配件"],
    "37": ["航空设备", "轨道交通设备"],
    "38": ["电气", "电器", "电力设备"],
    "39": ["电子", "通信设备", "电子科技"],
    "40": ["仪器仪表", "测控技术"],
    "41": ["实业"],
    "42": ["再生资源", "环保科技"],
    "44": ["能源", "电力"],
    "47": ["建设", "建筑工程"],
    "48": ["工程建设", "路桥"],
    "49": ["安装工程"],
    "50": ["装饰工程", "装饰"],
    "51": ["商贸", "贸易", "经贸", "供应链"],
    "52": ["商贸", "零售"],
    "54": ["运输", "物流"],
    "56": ["航空服务"],
    "58": ["货运代理", "国际物流"],
    "59": ["物流", "仓储", "储运"],
    "60": ["快递"],
    "61": ["酒店管理"],
    "62": ["餐饮管理"],
    "63": ["通信技术", "传媒"],
    "64": ["网络科技", "信息技术", "数据科技"],
    "65": ["软件", "信息技术", "科技", "数据技术"],
    "66": ["金融服务", "投资"],
    "67": ["资本管理", "基金管理"],
    "68": ["保险代理", "保险经纪"],
    "69": ["融资租赁", "金融信息服务"],
    "70": ["房地产开发", "置业"],
    "71": ["租赁"],
    "72": ["企业管理", "咨询", "商务服务", "管理咨询"],
    "73": ["科技", "技术研究院"],
    "74": ["工程技术", "检测技术", "设计"],
    "75": ["科技", "技术推广"],
    "77": ["环境科技"],
    "80": ["家政服务"],
    "81": ["维修服务"],
    "83": ["教育科技", "培训", "教育咨询"],
    "84": ["医疗", "健康管理", "医院管理"],
    "85": ["养老服务"],
    "86": ["文化传媒", "出版"],
    "87": ["影视", "文化传媒"],
    "88": ["文化艺术", "文化发展"],
    "89": ["体育文化"],
    "90": ["娱乐", "文化娱乐"],
}
_SUFFIXES = ["有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司", "集团有限公司"]
_SYNONYMS = [
    ("制造", "生产"),
    ("制造", "加工"),
    ("批发", "销售"),
    ("批发", "经销"),
    ("仓储", "储运"),
    ("服务", "业务"),
    ("开发", "研发"),
    ("管理", "运营"),
    ("制品", "产品"),
    ("运输", "运输配送"),
]
_TEMPLATES = [
    "主要从事{x}。",
    "公司专注于{x}，{f}。",
    "经营范围：{x}；{g}。",
    "以{x}为主营业务，{f}，{g}。",
    "我司是一家{s}企业，业务涵盖{x}及相关配套服务。",
    "{f}，主营{x}。",
    "从事{x}多年，{g}。",
    "{s}企业，核心业务为{x}，{f}。",
]
_FUNC_PHRASES = {
    "production": ["拥有自有生产车间", "具备规模化生产能力", "生产基地位于本市"],
    "rnd": ["设有研发中心", "持续投入技术研发", "拥有多项专利"],
    "headquarters": ["承担集团总部管理职能", "下设多家分支机构"],
    "logistics": ["配套仓储配送体系", "自建物流车队"],
    "wholesale": ["面向全国批发分销", "经营实体批发市场商户"],
    "data_center": ["运营自有数据机房", "提供服务器托管服务"],
    "back_office": ["设有后台运营及客服中心", "承担结算与共享服务"],
    "education": ["开设全日制及培训课程", "拥有专职教师团队"],
    "healthcare": ["设有门诊及住院部", "提供专科诊疗服务"],
    "research": ["承担科研项目", "建有重点实验室"],
    "administration": ["承担行政管理及公共服务职能"],
}
_GENERIC = [
    "技术开发、技术咨询、技术服务",
    "货物进出口、技术进出口",
    "销售自产产品",
    "企业管理咨询",
    "会议服务",
    "信息咨询（不含中介服务）",
]
_SCALE = ["小型", "中型", "成长型", "老牌", "国有控股", "民营", "高新技术", "外资"]


def _code_variants(code: str, names: dict[str, str]) -> list[str]:
    """Several ways a firm might describe the same 小类, so text inference is not a lookup."""
    own = names.get(code, code)
    out = [own, own]
    if code[:3] in names and names[code[:3]] != own:
        out.append(names[code[:3]])
    if code[:2] in names:
        out.append(names[code[:2]].rstrip("业") + "相关业务")
    for a, b in _SYNONYMS:
        if a in own:
            out.append(own.replace(a, b))
    return out


def _weights_and_codes(ref: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    ind = ref["industries"]
    small = ind[(ind["level"] == "小类") & ind["code"].str.isdigit()]["code"].tolist()
    priors = ref["priors"]
    codes: list[str] = []
    weights: list[float] = []
    for div, w in DIVISION_WEIGHTS.items():
        if div not in priors.index:
            continue
        members = [c for c in small if c[:2] == div]
        if not members:
            continue
        boosted = {c: CODE_BOOST[c] for c in members if c in CODE_BOOST}
        rest = [c for c in members if c not in boosted]
        left = 1.0 - sum(boosted.values())
        for c in members:
            share = boosted.get(c, left / max(len(rest), 1))
            codes.append(c)
            weights.append(w * share)
    p = np.asarray(weights)
    return codes, p / p.sum()


def _chain_partners(codes: list[str], ref: dict[str, Any]) -> dict[str, list[str]]:
    """Top IO partner sectors (2 upstream, 2 downstream) mapped back to GB/T 大类 codes."""
    from features.reference import io42_sector, load_crosswalk, load_io42

    table = load_io42(2020)
    walk = load_crosswalk()
    by_sector: dict[str, list[str]] = {}
    for gbt, (s42, _s153) in sorted(walk.items()):
        if len(gbt) == 2 and gbt in ref["priors"].index:
            by_sector.setdefault(s42, []).append(gbt)
    out: dict[str, list[str]] = {}
    for code in sorted({c[:2] for c in codes}):
        s = io42_sector(code)
        if s is None or s not in table.codes:
            out[code] = []
            continue
        i = table.index(s)
        up = np.argsort(-table.a[:, i], kind="stable")
        down = np.argsort(-table.a[i, :], kind="stable")
        picked: list[str] = []
        for order in (up, down):
            n = 0
            for k in order:
                sec = table.codes[int(k)]
                if sec == s or table.a[k, i] + table.a[i, k] <= 0:
                    continue
                for g in by_sector.get(sec, [])[:1]:
                    if g not in picked and g != code:
                        picked.append(g)
                        n += 1
                if n >= 2:
                    break
        out[code] = picked[:4]
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 0.02, 0.98)
    return np.asarray(np.log(p / (1 - p)))


def _masks_to_lists(masks: np.ndarray, items: list[str] | tuple[str, ...]) -> list[list[str]]:
    cache: dict[int, list[str]] = {}
    out: list[list[str]] = []
    for m in masks.tolist():
        lst = cache.get(m)
        if lst is None:
            lst = [items[k] for k in range(len(items)) if (m >> k) & 1]
            cache[m] = lst
        out.append(list(lst))
    return out


def _generate_firms(
    n: int, rng: np.random.Generator, ref: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    priors: pd.DataFrame = ref["priors"]
    names: dict[str, str] = dict(zip(ref["industries"]["code"], ref["industries"]["name"], strict=True))
    districts: pd.DataFrame = ref["districts"]

    codes, p = _weights_and_codes(ref)
    code_idx = rng.choice(len(codes), size=n, p=p)
    code_arr = np.array(codes)[code_idx]
    div_str = np.array([c[:2] for c in codes])[code_idx]
    div = div_str.astype(np.int64)
    pr = priors.loc[[c[:2] for c in codes]]

    def prior(col: str) -> np.ndarray:
        return np.asarray(pr[col].to_numpy()[code_idx])

    dw = districts["legal_entity_units"].to_numpy(np.float64)
    origin = rng.choice(len(districts), size=n, p=dw / dw.sum())

    # functions: the division's listed functions, first always, each other with prob 0.45;
    # a few firms add a headquarters or back-office function
    fn_lists = [
        [f for f in str(v).split(";") if f in S.FUNCTIONS] or ["back_office"] for v in pr["functions"]
    ]
    fmat = np.zeros((len(codes), len(S.FUNCTIONS)), dtype=np.int64)
    fprimary = np.zeros(len(codes), dtype=np.int64)
    for ci, fl in enumerate(fn_lists):
        fprimary[ci] = S.FUNCTIONS.index(fl[0])
        for f in fl[1:]:
            fmat[ci, S.FUNCTIONS.index(f)] = 1
    extra = (fmat[code_idx] == 1) & (rng.random((n, len(S.FUNCTIONS))) < 0.45)
    extra[:, S.FUNCTIONS.index("headquarters")] |= rng.random(n) < 0.04
    # a firm may declare any subset of its division's functions; the primary one leads
    primary = fprimary[code_idx]
    func_mask = (1 << primary) | (extra.astype(np.int64) << np.arange(len(S.FUNCTIONS))).sum(axis=1)

    # size: lognormal around the division median, with a Pareto tail
    med = prior("employees_median").astype(np.float64)
    emp = med * np.exp(EMPLOYEE_SIGMA * rng.standard_normal(n))
    tail = rng.random(n) < PARETO_SHARE
    emp = np.where(tail, med * 5 * (1 + rng.pareto(PARETO_ALPHA, n)), emp)
    hq = (func_mask >> S.FUNCTIONS.index("headquarters")) & 1 == 1
    emp = np.where(hq, emp * 2.5, emp)
    employees = np.clip(np.round(emp), 1, 200_000).astype(np.int64)

    land_rate = prior("land_mu_per_100_employees").astype(np.float64)
    land_need = np.round(employees / 100.0 * land_rate * np.exp(0.5 * rng.standard_normal(n)), 1)
    floor = np.round(
        employees * prior("floor_m2_per_employee").astype(np.float64) * np.exp(0.35 * rng.standard_normal(n)),
        0,
    )
    # a simulated firm must be one an officer could enter: keep needs inside the schema's limits
    land_need = np.clip(land_need, *_limits(S.LAND_NEED_MU))
    floor = np.clip(floor, *_limits(S.FLOOR_AREA_NEED_M2))
    rev_per = np.where(div <= 46, 80.0, 60.0) * np.exp(0.6 * rng.standard_normal(n))  # 万元 per employee
    revenue = np.round(employees * rev_per, 1)

    def beta_around(mean: np.ndarray, conc: float) -> np.ndarray:
        m = np.clip(mean, 0.03, 0.97)
        return np.asarray(rng.beta(m * conc, (1 - m) * conc))

    talent = np.round(beta_around(prior("talent_level").astype(np.float64), 12.0), 3)
    ties_mean = np.where(
        func_mask == 1 << S.FUNCTIONS.index("data_center"),
        DATA_CENTRE_TIES,  # a data centre moved on its own (features.validation)
        prior("beijing_ties").astype(np.float64)
        + 0.15 * hq
        + 0.1 * ((func_mask >> S.FUNCTIONS.index("rnd")) & 1),
    )
    ties = np.round(beta_around(ties_mean, 10.0), 3)
    max_dist = np.round(
        np.clip(40 + 450 * (1 - ties) ** 1.5 * np.exp(0.35 * rng.standard_normal(n)), 30, 900), 0
    )
    needs_port = rng.random(n) < prior("needs_port_share").astype(np.float64)
    poll_base = pd.Series(prior("pollution_level")).map(POLLUTION_RANK).to_numpy(np.int64)
    shift = rng.choice([-1, 0, 1], size=n, p=[0.12, 0.8, 0.08])
    poll = np.clip(poll_base + shift, 0, 2)

    prio = np.zeros(n, dtype=np.int64)
    for fi, f in enumerate(S.FUNCTIONS):
        has = (func_mask >> fi) & 1 == 1
        for item in FUNCTION_SUBSIDIES[f]:
            pick = has & (rng.random(n) < 0.6)
            prio |= pick.astype(np.int64) << S.SUBSIDY_ITEMS.index(item)

    partners = _chain_partners(codes, ref)
    div_codes = sorted({c[:2] for c in codes})
    slots = np.array([partners[d] + [""] * (4 - len(partners[d])) for d in div_codes], dtype=object)
    div_pos = {d: i for i, d in enumerate(div_codes)}
    firm_div_pos = np.array([div_pos[c[:2]] for c in codes])[code_idx]
    has_chain = rng.random(n) < 0.35
    slot_mask = (rng.random((n, 4)) < 0.55) & has_chain[:, None] & (slots[firm_div_pos] != "")

    # names: 北京 + 字号 + 行业词 + 公司 form; nothing about the destination
    zi = np.array(_ZIHAO)
    z1 = zi[rng.integers(0, len(zi), n)]
    z2 = zi[rng.integers(0, len(zi), n)]
    word_pick = rng.random(n)
    form = rng.random(n)
    suffix = np.array(_SUFFIXES)[rng.integers(0, len(_SUFFIXES), n)]
    name_out: list[str] = []
    for a, bch, d, wp, fm, sf in zip(z1, z2, div_str, word_pick, form, suffix, strict=True):
        words = _NAME_WORDS.get(d, ["科技", "实业"])
        w = words[int(wp * len(words))]
        zh = a + bch if a != bch else a + "达"
        if fm < 0.85:
            name_out.append(f"北京{zh}{w}{sf}")
        elif fm < 0.95:
            name_out.append(f"{zh}（北京）{w}{sf}")
        else:
            name_out.append(f"北京市{zh}{w}{sf}")

    # descriptions
    variants = {c: _code_variants(c, names) for c in codes}
    t_idx = rng.integers(0, len(_TEMPLATES), n)
    v_pick = rng.random(n)
    f_pick = rng.random(n)
    g_idx = rng.integers(0, len(_GENERIC), n)
    s_idx = rng.integers(0, len(_SCALE), n)
    second = rng.random(n) < 0.25
    desc: list[str] = []
    for k in range(n):
        c = code_arr[k]
        vs = variants[c]
        x = vs[int(v_pick[k] * len(vs))]
        if second[k]:
            x = x + "、" + vs[(int(v_pick[k] * len(vs)) + 1) % len(vs)]
        fp = _FUNC_PHRASES[S.FUNCTIONS[int(primary[k])]]
        desc.append(
            _TEMPLATES[t_idx[k]].format(
                x=x, f=fp[int(f_pick[k] * len(fp))], g=_GENERIC[g_idx[k]], s=_SCALE[s_idx[k]]
            )
        )

    width = max(7, len(str(n)))
    firms = pd.DataFrame(
        {
            S.FIRM_ID: [f"F{i:0{width}d}" for i in range(1, n + 1)],
            S.NAME: name_out,
            S.DESCRIPTION: desc,
            S.INDUSTRY_CODE: code_arr.astype(object),
            S.ORIGIN_DISTRICT: districts["district"].to_numpy()[origin],
            S.FUNCTIONS_COL: _masks_to_lists(func_mask, S.FUNCTIONS),
            S.EMPLOYEES: employees,
            S.LAND_NEED_MU: land_need,
            S.FLOOR_AREA_NEED_M2: floor,
            S.REVENUE_CNY_10K: revenue,
            S.TALENT_LEVEL: talent,
            S.BEIJING_TIES: ties,
            S.MAX_DISTANCE_KM: max_dist,
            S.NEEDS_PORT: needs_port,
            S.POLLUTION_LEVEL: np.array(S.POLLUTION_LEVELS, dtype=object)[poll],
            S.SUBSIDY_PRIORITIES: _masks_to_lists(prio, S.SUBSIDY_ITEMS),
            S.CHAIN_PARTNER_CODES: _chain_lists(slot_mask, slots, firm_div_pos),
        }
    )
    internal = {
        "div": div,
        "func_mask": func_mask,
        "primary": primary,
        "prio_mask": prio,
        "poll": poll,
        "origin": origin,
        "pressure": prior("relocation_pressure").astype(np.float64),
    }
    return firms, internal


def _chain_lists(slot_mask: np.ndarray, slots: np.ndarray, firm_div_pos: np.ndarray) -> list[list[str]]:
    keys = firm_div_pos * 16 + (slot_mask.astype(np.int64) << np.arange(4)).sum(axis=1)
    cache: dict[int, list[str]] = {}
    out: list[list[str]] = []
    for k in keys.tolist():
        lst = cache.get(k)
        if lst is None:
            row = slots[k // 16]
            lst = [str(row[s]) for s in range(4) if (k % 16 >> s) & 1]
            cache[k] = lst
        out.append(list(lst))
    return out


# --- simulation -----------------------------------------------------------------------------


def _default_truth(n: int, seed: int) -> dict[str, Any]:
    return {
        "version": VERSION,
        "seed": int(seed),
        "n_firms": int(n),
        "years": list(YEARS),
        "division_weights": DIVISION_WEIGHTS,
        "code_boost": CODE_BOOST,
        "employees": {"sigma": EMPLOYEE_SIGMA, "pareto_share": PARETO_SHARE, "pareto_alpha": PARETO_ALPHA},
        "relocation": RELOCATION,
        "year_weights": YEAR_WEIGHTS,
        "year_group": YEAR_GROUP,
        "beta": BETA,
        "taste_sd": TASTE_SD,
        "subsidy_weight": SUBSIDY_WEIGHT,
        "xi_sd": XI_SD,
        "shortlist_scale": SHORTLIST_SCALE,
        "final_scale": FINAL_SCALE,
        "shortlist_extra_p": SHORTLIST_EXTRA_P,
        "land_feasible": LAND_FEASIBLE,
        "shocks": SHOCKS,
        "infeasible_score": INFEASIBLE,
        "unknown_fills": SIM_FILL,
    }


def catalogue_fingerprint(parks: pd.DataFrame) -> str:
    """What a world depends on of the catalogue: ids, points, codes, land and capacity."""
    cols = [S.PARK_ID, S.LAT, S.LNG, S.INDUSTRY_CODES, S.AVAILABLE_LAND_MU, S.CAPACITY_PER_YEAR]
    text = parks[cols].astype(str).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


def simulate_firms(n_firms: int, seed: int) -> pd.DataFrame:
    """Firms alone, drawn as :func:`simulate` draws them (same generator, no relocation
    decisions): a registry to index for leads, at a million rows, without the choice stage."""
    if n_firms <= 0:
        raise ValueError(f"n_firms must be a positive integer, got {n_firms!r}")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(4)[0])
    firms, _ = _generate_firms(int(n_firms), rng, _reference())
    return firms


def simulate(
    n_firms: int, seed: int, parks: pd.DataFrame | None = None, choice: dict[str, Any] | None = None
) -> World:
    """Generate firms and their relocation decisions.  Deterministic given (n_firms, seed, parks,
    choice).  ``choice`` replaces the choice weights (``beta``, ``shocks``) and records how they
    were obtained (``choice_estimates``, see :mod:`training.choice`)."""
    if not isinstance(n_firms, (int, np.integer)) or isinstance(n_firms, bool) or n_firms <= 0:
        raise ValueError(f"n_firms must be a positive integer, got {n_firms!r}")
    if parks is None:
        from features.reference import load_parks

        parks = load_parks()
    parks = parks.reset_index(drop=True)
    n = int(n_firms)
    ss = np.random.SeedSequence(int(seed))
    rng_firms, rng_reloc, rng_park, rng_choice = (np.random.default_rng(s) for s in ss.spawn(4))

    ref = _reference()
    firms, inner = _generate_firms(n, rng_firms, ref)

    truth = _default_truth(n, seed)
    if choice is not None:
        truth.update({k: choice[k] for k in ("beta", "shocks", "choice_estimates") if k in choice})
    truth["park_xi"] = {
        pid: round(float(x), 6)
        for pid, x in zip(parks[S.PARK_ID], rng_park.normal(0, XI_SD, len(parks)), strict=True)
    }
    truth["catalogue"] = {"n_parks": len(parks), "fingerprint": catalogue_fingerprint(parks)}
    truth["simulated_offers"] = {"share": OFFER_SHARE, "ranges": OFFER_RANGES}
    pk = _park_context(simulator_catalogue(parks, truth), truth)
    truth["shock_parks"] = {
        s["name"]: pk.ids[m].tolist() for s, m in zip(SHOCKS, pk.shock_member, strict=True)
    }

    # stage 1: who relocates, and when
    rl = RELOCATION
    fmask = inner["func_mask"]
    func_eff = np.zeros(n)
    for fi, f in enumerate(S.FUNCTIONS):
        func_eff += rl["functions"][f] * ((fmask >> fi) & 1)
    dist_eff = firms[S.ORIGIN_DISTRICT].map(rl["district"]).fillna(0.0).to_numpy(np.float64)
    land = firms[S.LAND_NEED_MU].to_numpy(np.float64)
    ties = firms[S.BEIJING_TIES].to_numpy(np.float64)
    propensity = (
        rl["intercept"]
        + rl["pressure"] * _logit(inner["pressure"])
        + rl["land"] * np.log1p(land) / math.log(101)
        + rl["ties"] * ties
        + func_eff
        + dist_eff
        + rl["noise_sd"] * rng_reloc.standard_normal(n)
    )
    wants = rng_reloc.random(n) < 1 / (1 + np.exp(-propensity))
    group = np.array([YEAR_GROUP[f] for f in S.FUNCTIONS])[inner["primary"]]
    year = np.zeros(n, dtype=np.int64)
    for g, w in YEAR_WEIGHTS.items():
        sel = group == g
        pw = np.asarray(w, dtype=np.float64)
        year[sel] = rng_reloc.choice(YEARS, size=int(sel.sum()), p=pw / pw.sum())

    # per-firm random tastes (drawn for every firm so the stream does not depend on stage 1)
    # stored as float32 in latent.parquet, so the generator uses the float32 values too
    taste = {
        k: np.exp(sd * rng_reloc.standard_normal(n)).astype(np.float32).astype(np.float64)
        for k, sd in TASTE_SD.items()
    }
    latent = pd.DataFrame(
        {
            S.FIRM_ID: firms[S.FIRM_ID],
            "relocation_propensity": propensity.astype(np.float32),
            **{f"taste_{k}": v.astype(np.float32) for k, v in taste.items()},
        }
    )

    ct = _code_table(sorted(set(firms[S.INDUSTRY_CODE])), pk)
    districts = ref["districts"]
    fa = _FirmArrays(
        code_idx=np.array([ct.index[c] for c in firms[S.INDUSTRY_CODE]], dtype=np.int64),
        div=inner["div"],
        func_mask=fmask,
        prio_mask=inner["prio_mask"],
        land_need=land,
        talent=firms[S.TALENT_LEVEL].to_numpy(np.float64),
        ties=ties,
        max_dist=firms[S.MAX_DISTANCE_KM].to_numpy(np.float64),
        needs_port=firms[S.NEEDS_PORT].to_numpy(bool).astype(np.float64),
        poll=inner["poll"],
        origin_lat=districts["lat"].to_numpy(np.float64)[inner["origin"]],
        origin_lng=districts["lng"].to_numpy(np.float64)[inner["origin"]],
        taste=taste,
    )

    # capacity scaled to the world: Σ scaled capacity = slack × movers in the busiest year
    per_year = np.bincount(year[wants] - YEARS[0], minlength=len(YEARS))
    scale = CAPACITY_SLACK * max(int(per_year.max()), 1) / float(pk.capacity_real.sum())
    cap = np.maximum(1, np.round(pk.capacity_real * scale)).astype(np.int64)
    truth["capacity"] = {
        "slack": CAPACITY_SLACK,
        "scale": scale,
        "rule": "capacity_j = max(1, round(capacity_per_year_j × scale)) per year",
        "per_park": {pid: int(c) for pid, c in zip(pk.ids, cap, strict=True)},
    }

    P = len(pk.ids)
    agg = np.zeros((len(YEARS), 100, P), dtype=np.float64)  # arrivals before year t, by division
    chosen = np.full(n, -1, dtype=np.int64)
    shortlists: dict[int, np.ndarray] = {}
    order_all = rng_choice.permutation(n)
    for yi, y in enumerate(YEARS):
        if yi > 0:
            agg[yi] = agg[yi - 1]
        movers = order_all[(wants & (year == y))[order_all]]
        remaining = cap.copy()
        for start in range(0, len(movers), CHUNK):
            rows = movers[start : start + CHUNK]
            m = len(rows)
            sub = fa.take(rows)
            pr = np.repeat(np.arange(m), P)
            pp = np.tile(np.arange(P), m)
            v, feas = _utility(truth, pk, ct, sub.take(pr), pp, np.full(m * P, y), agg, scale)
            v = v.reshape(m, P)
            feas = feas.reshape(m, P)
            e1 = rng_choice.gumbel(0, SHORTLIST_SCALE, (m, P))
            e2 = rng_choice.gumbel(0, FINAL_SCALE, (m, P))
            k = 2 + rng_choice.binomial(4, SHORTLIST_EXTRA_P, m)
            # What the firm considers and visits is decided before it learns which parks are
            # full this year: the recorded shortlist keeps those visits even when the park that
            # finally signs it is a fallback.
            visited = np.argsort(-np.where(feas, v + e1, -np.inf), axis=1, kind="stable")[:, :7]
            pending = np.arange(m)
            while len(pending):
                ok = feas[pending] & (remaining > 0)[None, :]
                n_ok = ok.sum(axis=1)
                stay = n_ok < 2
                pending = pending[~stay]
                ok = ok[~stay]
                if not len(pending):
                    break
                perceived = np.where(ok, v[pending] + e1[pending], -np.inf)
                rank = np.argsort(np.argsort(-perceived, axis=1, kind="stable"), axis=1, kind="stable")
                in_short = ok & (rank < np.minimum(k[pending], ok.sum(axis=1))[:, None])
                final = np.where(in_short, v[pending] + e2[pending], -np.inf)
                pick = final.argmax(axis=1)
                # first come, first served within the chunk order
                o = np.lexsort((np.arange(len(pick)), pick))
                first = np.r_[0, np.flatnonzero(np.diff(pick[o])) + 1]
                seq = np.arange(len(pick)) - np.repeat(first, np.diff(np.r_[first, len(pick)]))
                pos = np.empty(len(pick), dtype=np.int64)
                pos[o] = seq
                accepted = pos < remaining[pick]
                for r_local, j in zip(pending[accepted], pick[accepted], strict=True):
                    gi = int(rows[r_local])
                    chosen[gi] = int(j)
                    seen = [int(p) for p in visited[r_local] if feas[r_local, p] and p != j]
                    shortlists[gi] = np.array([int(j), *seen[: int(k[r_local]) - 1]], dtype=np.int64)
                np.subtract.at(remaining, pick[accepted], 1)
                pending = pending[~accepted]
        # path dependence: this year's arrivals count from next year on
        done = np.flatnonzero((chosen >= 0) & (year == y))
        if yi + 1 < len(YEARS):
            np.add.at(agg[yi + 1], (fa.div[done], chosen[done]), 1.0)

    relocated = np.flatnonzero(chosen >= 0)
    relocated = relocated[np.lexsort((relocated, year[relocated]))]
    width = max(7, len(str(len(relocated))))
    events = pd.DataFrame(
        {
            S.EVENT_ID: [f"E{i:0{width}d}" for i in range(1, len(relocated) + 1)],
            S.FIRM_ID: firms[S.FIRM_ID].to_numpy()[relocated],
            S.YEAR: year[relocated].astype(np.int64),
            S.CHOSEN_PARK_ID: pk.ids[chosen[relocated]],
            S.SHORTLIST_PARK_IDS: [sorted(pk.ids[shortlists[int(i)]].tolist()) for i in relocated],
        }
    )
    firms["relocates"] = chosen >= 0
    truth["n_events"] = len(events)
    truth["n_wanting_to_move"] = int(wants.sum())
    truth["relocation_rate"] = round(len(events) / n, 6)
    world = World(firms=firms, events=events, truth=_jsonable(truth), latent=latent)
    world._agg_cache = agg
    return world


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON so the in-memory truth equals what load_world reads back."""
    return json.loads(json.dumps(obj, ensure_ascii=False, default=float))


# --- oracle --------------------------------------------------------------------------------


def _agg_from_events(world: World, n_parks_ids: np.ndarray) -> np.ndarray:
    pos = {pid: j for j, pid in enumerate(n_parks_ids)}
    agg = np.zeros((len(YEARS), 100, len(n_parks_ids)))
    ev = world.events
    if len(ev):
        code = world.firms.set_index(S.FIRM_ID)[S.INDUSTRY_CODE].reindex(ev[S.FIRM_ID]).astype(str)
        div = code.str[:2].astype(int).to_numpy()
        park = ev[S.CHOSEN_PARK_ID].map(pos)
        ok = park.notna().to_numpy()
        yi = ev[S.YEAR].to_numpy(np.int64) - YEARS[0]
        counts = np.zeros((len(YEARS), 100, len(n_parks_ids)))
        np.add.at(counts, (np.clip(yi[ok], 0, len(YEARS) - 1), div[ok], park[ok].astype(int).to_numpy()), 1.0)
        agg[1:] = np.cumsum(counts, axis=0)[:-1]
    return agg


def _firm_arrays_from_frame(firms: pd.DataFrame, ct: _CodeTable, latent: pd.DataFrame | None) -> _FirmArrays:
    from features.reference import beijing_districts

    n = len(firms)
    d = beijing_districts().set_index("district")
    origin = firms[S.ORIGIN_DISTRICT].astype(object)
    lat = origin.map(d["lat"]).fillna(S.BEIJING_LAT).to_numpy(np.float64)
    lng = origin.map(d["lng"]).fillna(S.BEIJING_LNG).to_numpy(np.float64)

    def mask(col: str, items: tuple[str, ...]) -> np.ndarray:
        pos = {f: i for i, f in enumerate(items)}
        return np.array(
            [sum(1 << pos[x] for x in set(v) if x in pos) if v is not None else 0 for v in firms[col]],
            dtype=np.int64,
        )

    taste = {k: np.ones(n) for k in TASTE_SD}
    if latent is not None:
        lat_t = latent.set_index(S.FIRM_ID).reindex(firms[S.FIRM_ID])
        for k in TASTE_SD:
            taste[k] = lat_t[f"taste_{k}"].fillna(1.0).to_numpy(np.float64)
    codes = firms[S.INDUSTRY_CODE].astype(str)
    return _FirmArrays(
        code_idx=np.array([ct.index[c] for c in codes], dtype=np.int64),
        div=codes.str[:2].astype(int).to_numpy(),
        func_mask=mask(S.FUNCTIONS_COL, S.FUNCTIONS),
        prio_mask=mask(S.SUBSIDY_PRIORITIES, S.SUBSIDY_ITEMS),
        land_need=firms[S.LAND_NEED_MU].to_numpy(np.float64),
        talent=firms[S.TALENT_LEVEL].to_numpy(np.float64),
        ties=firms[S.BEIJING_TIES].to_numpy(np.float64),
        max_dist=firms[S.MAX_DISTANCE_KM].to_numpy(np.float64),
        needs_port=firms[S.NEEDS_PORT].astype(bool).to_numpy().astype(np.float64),
        poll=firms[S.POLLUTION_LEVEL].map(POLLUTION_RANK).fillna(0).to_numpy(np.int64),
        origin_lat=lat,
        origin_lng=lng,
        taste=taste,
    )


def oracle_scores(
    world_or_truth: World | dict[str, Any],
    firms: pd.DataFrame,
    parks: pd.DataFrame,
    firm_rows: np.ndarray,
    park_rows: np.ndarray,
    year: np.ndarray | None = None,
) -> np.ndarray:
    """The generating utility without its noise, for (firms.iloc[firm_rows[i]], parks.iloc[park_rows[i]]).

    With a World the firm's own random tastes and the path-dependence term (earlier arrivals,
    recomputed from the events) are included, so ranking by this score is the best any model can
    do.  With only the truth dict, tastes are at their median (1) and path dependence is left out.
    Infeasible pairs (hard rules, park not open yet) score ``INFEASIBLE``.  ``year`` defaults to
    the firm's event year if it moved, else the last simulated year.
    """
    if isinstance(world_or_truth, World):
        world: World | None = world_or_truth
        truth = world_or_truth.truth
    else:
        world, truth = None, world_or_truth
    firm_rows = np.asarray(firm_rows, dtype=np.int64)
    park_rows = np.asarray(park_rows, dtype=np.int64)
    if firm_rows.shape != park_rows.shape:
        raise ValueError("firm_rows and park_rows must have the same shape")
    parks = parks.reset_index(drop=True)
    pk = _park_context(simulator_catalogue(parks, truth), truth)
    used = firms.iloc[np.unique(firm_rows)] if len(firm_rows) else firms.iloc[:0]
    ct = _code_table(sorted(set(used[S.INDUSTRY_CODE].astype(str))), pk)
    sub = firms.iloc[firm_rows].reset_index(drop=True)
    fa = _firm_arrays_from_frame(sub, ct, world.latent if world is not None else None)
    if year is None:
        y = np.full(len(firm_rows), YEARS[-1], dtype=np.int64)
        if world is not None and len(world.events):
            ev_year = world.events.set_index(S.FIRM_ID)[S.YEAR]
            y = sub[S.FIRM_ID].map(ev_year).fillna(YEARS[-1]).to_numpy(np.int64)
    else:
        y = np.broadcast_to(np.asarray(year, dtype=np.int64), firm_rows.shape).copy()
    agg = None
    scale = float(truth.get("capacity", {}).get("scale", 1.0))
    if world is not None:
        agg = _agg_from_events(world, pk.ids)
    v, feas = _utility(truth, pk, ct, fa, park_rows, y, agg, scale)
    return np.where(feas, v, INFEASIBLE)


# --- persistence ---------------------------------------------------------------------------


_LIST = pa.list_(pa.string())


def _firm_schema(firms: pd.DataFrame) -> pa.Schema:
    types: dict[str, pa.DataType] = {
        S.FIRM_ID: pa.string(),
        S.NAME: pa.string(),
        S.DESCRIPTION: pa.string(),
        S.INDUSTRY_CODE: pa.string(),
        S.ORIGIN_DISTRICT: pa.string(),
        S.FUNCTIONS_COL: _LIST,
        S.EMPLOYEES: pa.int64(),
        S.LAND_NEED_MU: pa.float64(),
        S.FLOOR_AREA_NEED_M2: pa.float64(),
        S.REVENUE_CNY_10K: pa.float64(),
        S.TALENT_LEVEL: pa.float64(),
        S.BEIJING_TIES: pa.float64(),
        S.MAX_DISTANCE_KM: pa.float64(),
        S.NEEDS_PORT: pa.bool_(),
        S.POLLUTION_LEVEL: pa.string(),
        S.SUBSIDY_PRIORITIES: _LIST,
        S.CHAIN_PARTNER_CODES: _LIST,
        "relocates": pa.bool_(),
    }
    return pa.schema([(c, types[c]) for c in firms.columns])


def _events_schema() -> pa.Schema:
    return pa.schema(
        [
            (S.EVENT_ID, pa.string()),
            (S.FIRM_ID, pa.string()),
            (S.YEAR, pa.int64()),
            (S.CHOSEN_PARK_ID, pa.string()),
            (S.SHORTLIST_PARK_IDS, _LIST),
        ]
    )


def _write_table(df: pd.DataFrame, schema: pa.Schema | None, path: Path) -> None:
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata(None)  # no pandas/version metadata: bytes depend on data only
    pq.write_table(table, path, compression="zstd", row_group_size=256_000)


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ValueError(
            f"{out_dir} exists and is not empty; pass overwrite=True (--overwrite) to replace it"
        )
    parent = out_dir.parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"cannot create {out_dir}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write under {probe}: permission denied")


def write_world(world: World, out_dir: Path, overwrite: bool = False) -> None:
    """Write atomically: a reader sees either the old world or the complete new one."""
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    old: Path | None = None
    try:
        _write_table(world.firms, _firm_schema(world.firms), tmp / "firms.parquet")
        _write_table(world.events, _events_schema(), tmp / "events.parquet")
        if world.latent is not None:
            _write_table(world.latent, None, tmp / "latent.parquet")
        (tmp / "truth.json").write_text(
            json.dumps(world.truth, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the world is an ordinary directory
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.rename(out_dir, old / "w")
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "w").exists() and not out_dir.exists():
            os.rename(old / "w", out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _lists(df: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    for c in cols:
        if c in df.columns:
            df[c] = [list(v) if v is not None else [] for v in df[c]]
    return df


def load_world(dir: str | Path) -> World:
    """Read a world written by :func:`write_world`; list columns come back as Python lists."""
    d = Path(dir)
    for name in ("firms.parquet", "events.parquet", "truth.json"):
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d / name} not found: not a simulated world directory")
    firms = _lists(pq.read_table(d / "firms.parquet").to_pandas(), S.FIRM_LIST_COLUMNS)
    events = _lists(pq.read_table(d / "events.parquet").to_pandas(), (S.SHORTLIST_PARK_IDS,))
    truth = json.loads((d / "truth.json").read_text(encoding="utf-8"))
    latent = pq.read_table(d / "latent.parquet").to_pandas() if (d / "latent.parquet").is_file() else None
    return World(firms=firms, events=events, truth=truth, latent=latent)


# --- command line ---------------------------------------------------------------------------


def cli_synth(n_firms: int, seed: int, out: Path, overwrite: bool) -> int:
    """``parkmatch synth``: simulate, write, and say what came out."""
    if n_firms <= 0:
        raise ValueError(f"--firms must be a positive integer, got {n_firms}")
    out = Path(out)
    _check_out_dir(out, overwrite)
    t0 = time.perf_counter()
    from features.reference import load_parks
    from training.choice import estimated_choice
    from training.relocations import load_relocations

    parks = load_parks()
    print("estimating the choice weights on the documented cases ...", file=sys.stderr, flush=True)
    choice = estimated_choice(load_relocations(), parks)
    print(f"simulating {n_firms:,} Beijing firms (seed {seed}) ...", file=sys.stderr, flush=True)
    world = simulate(n_firms, seed, parks, choice=choice)
    t1 = time.perf_counter()
    print(f"  simulated in {t1 - t0:.1f}s; writing {out} ...", file=sys.stderr, flush=True)
    write_world(world, out, overwrite=overwrite)
    t2 = time.perf_counter()
    ev = world.events
    rate = len(ev) / n_firms
    print(f"firms:            {n_firms:,}")
    print(f"events:           {len(ev):,}")
    print(f"relocation rate:  {rate:.1%}")
    print(f"capacity scale:   {world.truth['capacity']['scale']:.4g}")
    if len(ev):
        names = parks.set_index(S.PARK_ID)[S.PARK_NAME]
        print("top destinations:")
        for pid, cnt in ev[S.CHOSEN_PARK_ID].value_counts().head(5).items():
            print(f"  {pid:<8} {names.get(pid, '?')}  {cnt:,}")
    print(f"seconds:          {t2 - t0:.1f}")
    return 0
