"""Features of a (firm, candidate park) pair, computed for whole batches at once.

The names in :data:`FEATURE_NAMES` are the contract between training and serving: the model
bundle records them and refuses to load if the code computes anything else.  Each feature
belongs to one decision criterion (:data:`FEATURE_CRITERION`), which is how LightGBM's
contributions are turned into reasons an officer can repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S
from features.precedents import function_mask
from features.trade_text import TradeText, park_trade_texts
from features.validation import POLLUTION_ORDER, FirmBatch

FEATURES: tuple[tuple[str, str], ...] = (
    ("chain_depth", "industry_chain"),
    ("chain_covers", "industry_chain"),
    ("chain_io", "industry_chain"),
    ("chain_partners", "industry_chain"),
    ("embedding_sim", "industry_chain"),
    ("cluster_share", "industry_chain"),
    ("trade_text", "industry_chain"),
    ("land_ratio_log", "land"),
    ("land_need_log", "land"),
    ("land_price_log", "land"),
    ("land_cost_log", "land"),
    ("land_floor_log", "land"),
    ("talent_level", "talent"),
    ("talent_pool", "talent"),
    ("talent_gap", "talent"),
    ("subsidy_match", "subsidy"),
    ("subsidy_total", "subsidy"),
    ("keeps_registration", "subsidy"),
    ("registration_x_ties", "subsidy"),
    ("registration_pharma", "subsidy"),
    ("distance_km", "proximity"),
    ("origin_distance_km", "proximity"),
    ("rail_minutes", "proximity"),
    ("ties_x_distance", "proximity"),
    ("ties_x_rail", "proximity"),
    ("distance_over_max", "proximity"),
    ("beijing_ties", "proximity"),
    ("platform_type_id", "platform"),
    ("park_level", "platform"),
    ("platform_group", "platform"),
    ("fn_production", "platform"),
    ("fn_headquarters", "platform"),
    ("fn_logistics_wholesale", "platform"),
    ("fn_data_center", "platform"),
    ("fn_education_health", "platform"),
    ("fn_research", "platform"),
    ("capacity_log", "platform"),
    ("park_popularity", "platform"),
    ("port_match", "platform"),
    ("port_access", "platform"),
    ("pollution_headroom", "platform"),
    ("employees_log", "platform"),
    ("decision_year", "platform"),
    ("designated_function", "designation"),
    ("designated_industry", "designation"),
    ("designated_any", "designation"),
    ("precedent_function", "precedent"),
    ("precedent_division", "precedent"),
    ("precedent_park", "precedent"),
    ("precedent_nearby_function", "precedent"),
    ("precedent_nearby_division", "precedent"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
# The columns :class:`features.precedents.Precedents` fills, in its order.
PRECEDENT_FEATURES: tuple[str, ...] = (
    "precedent_function",
    "precedent_division",
    "precedent_park",
    "precedent_nearby_function",
    "precedent_nearby_division",
)
FEATURE_CRITERION: dict[str, str] = dict(FEATURES)
CATEGORICAL_FEATURES: tuple[str, ...] = ("platform_type_id",)
# Directions the domain is certain of: a park designated for what the firm moves never loses by
# it, more documented precedent never hurts, more spare land (relative to need) never hurts, a
# better subsidy match never hurts, a closer industry code never hurts, and for a firm tied
# to Beijing more distance never helps.  A park's own offer moves one way only: a lower land price
# (and so a lower land cost), richer subsidies and a larger talent pool never hurt, so the
# what-if of the park's side can never be told that a better offer lowers the park.
MONOTONE: dict[str, int] = {
    "land_price_log": -1,
    "land_cost_log": -1,
    "subsidy_total": 1,
    "talent_pool": 1,
    "talent_gap": 1,
    "designated_function": 1,
    "precedent_function": 1,
    "precedent_park": 1,
    "precedent_nearby_function": 1,
    "land_ratio_log": 1,
    "subsidy_match": 1,
    "chain_depth": 1,
    "chain_covers": 1,
    "trade_text": 1,
    "ties_x_distance": -1,
}
LEVEL_ORDER = {"national": 3, "provincial": 2, "platform": 2, "other": 1}
GROUP_ORDER = {"2": 3, "4": 2, "46": 1}


@lru_cache(maxsize=1)
def code_index() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Positions of every 2-, 3- and 4-digit GB/T code, for boolean code-set matrices."""
    codes = sorted(R.numeric_industry_codes())
    return tuple({c: i for i, c in enumerate(x for x in codes if len(x) == n)} for n in (2, 3, 4))  # type: ignore[return-value]


def code_of_ids(ids: np.ndarray) -> str:
    """The deepest code one row of :func:`firm_code_ids` names ("" when none)."""
    idx = code_index()
    for k in (2, 1, 0):
        if ids[k] >= 0:
            return next(c for c, j in idx[k].items() if j == ids[k])
    return ""


def firm_code_ids(codes: np.ndarray) -> np.ndarray:
    """(n, 3) positions of a code's 2/3/4-digit prefixes; -1 where the code is shorter."""
    idx = code_index()
    out = np.full((len(codes), 3), -1, dtype=np.int64)
    for i, code in enumerate(codes):
        for k, n in enumerate((2, 3, 4)):
            if len(code) >= n:
                out[i, k] = idx[k].get(code[:n], -1)
    return out


@dataclass(frozen=True)
class CodeSets:
    """Per-park sets of GB/T codes as boolean matrices (last column is an always-false pad)."""

    exact: tuple[np.ndarray, np.ndarray, np.ndarray]
    prefix: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def build(cls, code_lists: list[list[str]]) -> CodeSets:
        idx = code_index()
        exact = [np.zeros((len(code_lists), len(m) + 1), dtype=bool) for m in idx]
        prefix = [np.zeros((len(code_lists), len(m) + 1), dtype=bool) for m in idx]
        for p, codes in enumerate(code_lists):
            for code in codes:
                k = len(code) - 2
                exact[k][p, idx[k][code]] = True
                for kk in range(k + 1):
                    prefix[kk][p, idx[kk][code[: kk + 2]]] = True
        return cls(tuple(exact), tuple(prefix))  # type: ignore[arg-type]

    def covers(self, parks: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Does a park code equal the firm code or contain it (27 contains 2710)?"""
        out = np.zeros(parks.shape, dtype=bool)
        for k in range(3):
            col = ids[:, k][:, None] if ids.ndim == 2 and parks.ndim == 2 else ids[..., k]
            out |= self.exact[k][parks, col]
        return out

    def within(self, parks: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Is the firm code covered by a park code, or a prefix of one (a firm coded only 88 and
        a park code 8810)?  ``ids`` as :func:`firm_code_ids` (-1 reads the always-false pad)."""
        out = self.covers(parks, ids)
        for k in range(3):
            col = ids[:, k][:, None]
            ends = ids[:, k + 1][:, None] < 0 if k < 2 else np.ones_like(col, dtype=bool)
            out |= self.prefix[k][parks, col] & (col >= 0) & ends
        return out

    def depth(self, parks: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Digits shared with the closest park code: 0, 2, 3 or 4."""
        out = np.zeros(parks.shape, dtype=np.float32)
        for k, digits in enumerate((2, 3, 4)):
            col = ids[:, k][:, None]
            out = np.where(self.prefix[k][parks, col], digits, out)
        return out


@dataclass(frozen=True)
class ParkArrays:
    """The catalogue as arrays, built once per model load."""

    frame: pd.DataFrame
    ids: np.ndarray
    industries: CodeSets
    restricted: CodeSets
    designated_codes: CodeSets
    theme: CodeSets  # what a themed town takes (theme_codes); no codes for any other park
    theme_codes: list[list[str]]
    prov: dict[str, np.ndarray]  # provenance level per reported field, per park
    io_link: np.ndarray
    io_codes: tuple[str, ...]
    num: dict[str, np.ndarray]
    codes: list[list[str]]
    text: dict[str, list[str]]
    trade: TradeText  # the parks' stated specialism (主导产业 and name) as trade words

    @classmethod
    def build(cls, parks: pd.DataFrame) -> ParkArrays:
        io = R.load_io42()
        sectors = [[s for s in (R.io42_sector(c) for c in codes) if s] for codes in parks[S.INDUSTRY_CODES]]
        link = np.zeros((len(parks), len(io.codes) + 1), dtype=np.float32)
        both = io.a + io.a.T
        for p, secs in enumerate(sectors):
            if secs:
                rows = [io.index(s) for s in secs]
                link[p, :-1] = both[:, rows].max(axis=1)
        subsidies = parks[list(S.SUBSIDY_COLUMNS)].to_numpy(np.float32)  # NaN where unknown
        fn_pos = {f: i for i, f in enumerate(S.FUNCTIONS)}
        designated = np.zeros(len(parks), dtype=np.int64)
        for p, fns in enumerate(parks[S.DESIGNATED_FUNCTIONS]):
            for f in fns:
                designated[p] |= 1 << fn_pos[f]
        purpose = purpose_masks(parks)
        num = {
            "lat": parks[S.LAT].to_numpy(np.float64),
            "lng": parks[S.LNG].to_numpy(np.float64),
            "land": parks[S.AVAILABLE_LAND_MU].to_numpy(np.float32),
            "price": parks[S.LAND_PRICE].to_numpy(np.float32),
            "floor": parks[S.LAND_PRICE_FLOOR].to_numpy(np.float32),
            "grade": parks[S.LAND_GRADE].to_numpy(np.float32),
            "talent": parks[S.TALENT_POOL].to_numpy(np.float32),
            "subsidies": subsidies,
            # the support sources state, summed: 0 when none is (see _stated_share)
            "subsidy_total": _stated_share(subsidies),
            "subsidy_any": (~np.isnan(subsidies)).any(axis=1),
            "keeps_reg": _tristate(parks[S.KEEPS_BEIJING_REGISTRATION]),
            "distance": parks[S.DISTANCE_KM].to_numpy(np.float32),
            "rail": parks[S.RAIL_MINUTES].to_numpy(np.float32),
            "port": _tristate(parks[S.PORT_ACCESS]),
            "pollution": parks[S.MAX_POLLUTION_LEVEL].map(POLLUTION_ORDER).to_numpy(np.float32),
            "capacity": parks[S.CAPACITY_PER_YEAR].to_numpy(np.float32),
            "platform_type": parks[S.PLATFORM_TYPE]
            .map({t: i for i, t in enumerate(S.PLATFORM_TYPES)})
            .to_numpy(np.float32),
            "level": parks[S.LEVEL].map(LEVEL_ORDER).fillna(1).to_numpy(np.float32),
            "group": parks[S.PLATFORM_GROUP].map(GROUP_ORDER).fillna(0).to_numpy(np.float32),
            "designated": designated,
            "purpose": purpose,
            # an office district of the state: its rule reads the function imputed from the code
            "office": purpose == function_mask(sorted(ADMINISTRATIVE_FUNCTIONS)),
            "theme": (parks[S.PLATFORM_TYPE] == THEME_PLATFORM).to_numpy(bool),
            "capital": (parks[S.PROVINCE] == CAPITAL_PROVINCE).to_numpy(bool),
        }
        themes = theme_codes(parks)
        provenance = [R.park_provenance(r) for r in parks.to_dict("records")]
        prov = {f: np.array([pv[f] for pv in provenance], dtype=object) for f in S.PROVENANCE_FIELDS}
        return cls(
            frame=parks.reset_index(drop=True),
            ids=parks[S.PARK_ID].to_numpy(object),
            industries=CodeSets.build(list(parks[S.INDUSTRY_CODES])),
            restricted=CodeSets.build(list(parks[S.RESTRICTED_INDUSTRIES])),
            designated_codes=CodeSets.build(list(parks[S.DESIGNATED_INDUSTRIES])),
            theme=CodeSets.build(themes),
            theme_codes=themes,
            prov=prov,
            io_link=link,
            io_codes=io.codes,
            num=num,
            codes=[list(c) for c in parks[S.INDUSTRY_CODES]],
            trade=TradeText(park_trade_texts(parks)),
            text={
                col: ["" if v is None or v != v else str(v) for v in parks[col]]
                for col in (
                    S.PARK_ID,
                    S.PARK_NAME,
                    S.PROVINCE,
                    S.CITY,
                    S.COUNTY,
                    S.ADCODE,
                    S.PLATFORM_TYPE,
                    S.PLATFORM_GROUP,
                    S.LAND_GRADE,
                )
            },
        )

    def __len__(self) -> int:
        return len(self.ids)

    def known(self, field: str, p: int) -> bool:
        return str(self.prov[field][p]) != "unknown"

    def estimated(self, field: str, p: int) -> bool:
        return str(self.prov[field][p]) == "estimated"


# Sites built for one trade: a wholesale market's stalls, a logistics hub's warehouses and a data
# centre base's power and cooling serve the functions they were designated for and nothing else.
# A hospital or a headquarters is never sent there, however close its county's precedents are.
PURPOSE_PLATFORMS = frozenset({"trade_market", "logistics_hub", "data_center_base"})
# What such a site takes when the catalogue states no designation for it: the trade it was built
# for.  The platform type is itself a catalogue fact (a 商贸城 is a market whether or not a
# designation document was found), so 固安's 国际商贸城 or a 内陆港 is never offered to a software
# firm or a hospital; a stated designation, when there is one, says which functions instead.
PURPOSE_OF_PLATFORM: dict[str, frozenset[str]] = {
    "trade_market": frozenset({"wholesale"}),
    "logistics_hub": frozenset({"logistics"}),
    "data_center_base": frozenset({"data_center"}),
}
# Functions a site of one of them also accepts: a market's merchants need its warehousing and a
# logistics hub hosts distribution wholesale (documented: 新发地's sites are both).
KINDRED_FUNCTIONS: tuple[frozenset[str], ...] = (frozenset({"wholesale", "logistics"}),)


# A site designated for public administration alone (the 副中心's 行政办公区, built for the
# municipal Party and government bodies) is an office district of the state, not a business
# park: it takes public bodies and nothing else, whatever kind of platform it is catalogued as.
# Whether a firm is a public body follows from its code (the priors impute administration for
# divisions 91-95 alone), so this rule binds on an imputed function too: an internet firm whose
# functions were not given never sees the office district.
ADMINISTRATIVE_FUNCTIONS = frozenset({"administration"})


def purpose_mask(platform_type: Any, designated: Sequence[str] | None) -> int:
    """Bitmask over ``S.FUNCTIONS`` of what a single-purpose site accepts; 0 when the park is
    not one (any function may go there).  A market, logistics hub or data centre base with no
    known designation takes its platform's trade (:data:`PURPOSE_OF_PLATFORM`)."""
    if designated and set(designated) <= ADMINISTRATIVE_FUNCTIONS:
        return function_mask(sorted(set(designated)))
    if platform_type not in PURPOSE_PLATFORMS:
        return 0
    accepted = set(designated) if designated else set(PURPOSE_OF_PLATFORM[str(platform_type)])
    for kin in KINDRED_FUNCTIONS:
        if accepted & kin:
            accepted |= kin
    return function_mask(sorted(accepted))


def purpose_masks(parks: pd.DataFrame) -> np.ndarray:
    """(P,) int64 :func:`purpose_mask` of every park of a catalogue frame: what serving's hard
    rule and the simulator's feasibility both read."""
    return np.array(
        [
            purpose_mask(t, fns)
            for t, fns in zip(parks[S.PLATFORM_TYPE], parks[S.DESIGNATED_FUNCTIONS], strict=True)
        ],
        dtype=np.int64,
    )


# Beijing's catalogue of prohibited new industries bans new and expanded data centres in the
# whole city (2018 edition; cloud data centres with a PUE below 1.4 excepted;
# data/beijing_restrictions.csv): a data centre moved on its own is not sent to a park in Beijing.
# A firm that also moves offices or R&D keeps Beijing's parks for those.
CAPITAL_BANNED_FUNCTIONS = frozenset({"data_center"})
CAPITAL_PROVINCE = "北京市"


def capital_banned(fn_mask: np.ndarray) -> np.ndarray:
    """Does a bitmask over ``S.FUNCTIONS`` move only functions Beijing bans (a data centre)?"""
    banned = function_mask(sorted(CAPITAL_BANNED_FUNCTIONS))
    return (fn_mask != 0) & ((fn_mask & ~banned) == 0)


# A themed cultural or tourism town (the 副中心's 环球度假区 文化旅游区, 台湖演艺小镇, 宋庄艺术创意小镇) is
# a district of theatres, studios, galleries and hotels with no industrial land: it takes the
# trades of its theme (its designated industries, else its leading ones) and no other.  A
# development zone's 主导产业 list is not exclusive (芦台's list is building materials, yet four
# furniture makers went there), so only this platform type binds by industry.
THEME_PLATFORM = "theme_town"


def theme_codes(parks: pd.DataFrame) -> list[list[str]]:
    """Per park, the GB/T codes a themed town takes; an empty list for every other park."""
    return [
        list(designated or codes or []) if ptype == THEME_PLATFORM else []
        for ptype, designated, codes in zip(
            parks[S.PLATFORM_TYPE], parks[S.DESIGNATED_INDUSTRIES], parks[S.INDUSTRY_CODES], strict=True
        )
    ]


def theme_allows(code: str, codes: Sequence[str]) -> bool:
    """Is an industry code within a themed town's codes: one is a prefix of the other (a town
    of 88 takes 8810; a firm coded only 88 may go to a town of 8810)."""
    return any(code.startswith(c) or c.startswith(code) for c in codes)


def _tristate(col: pd.Series) -> np.ndarray:
    """True → 1, False → 0, unknown (None/NaN) → NaN."""
    return np.array([np.nan if v is None or v != v else float(bool(v)) for v in col], dtype=np.float32)


def _stated_share(a: np.ndarray) -> np.ndarray:
    """Σ stated levels / (3 × items): the support the park's documents state, 0 when they state
    none.  This is what a firm can count on, so an item no source states adds nothing: one
    stated item at level 1 reads as one item's worth (not as every item at level 1), and stating
    an item never lowers the value.  Unknown levels themselves stay NaN in the catalogue and in
    ``subsidy_match``, which the criterion score reads."""
    known = ~np.isnan(a)
    return (np.where(known, a, 0.0).sum(axis=1) / (3.0 * a.shape[1])).astype(np.float32)


FUNCTION_FLAGS: dict[str, tuple[str, ...]] = {
    "fn_production": ("production",),
    "fn_headquarters": ("headquarters", "back_office"),
    "fn_logistics_wholesale": ("logistics", "wholesale"),
    "fn_data_center": ("data_center",),
    "fn_education_health": ("education", "healthcare"),
    "fn_research": ("rnd", "research"),
}


@dataclass(frozen=True)
class FirmArrays:
    """A validated, imputed :class:`FirmBatch` as the arrays pair features need."""

    code_ids: np.ndarray
    io_sector: np.ndarray
    partner_divs: np.ndarray
    partner_count: np.ndarray
    is_pharma: np.ndarray
    num: dict[str, np.ndarray]
    given: dict[str, np.ndarray]
    division: np.ndarray
    fn_mask: np.ndarray  # bitmask over S.FUNCTIONS of what the firm moves
    trade: np.ndarray  # (n, parks) trade-word cosine of the description to each park; NaN without one

    @classmethod
    def build(cls, batch: FirmBatch, parks: ParkArrays) -> FirmArrays:
        """Every list- or code-valued column is looked up once per distinct value (a registry
        repeats its industry codes, functions and districts thousands of times), then spread
        back to the rows: the per-firm Python work is one key per column."""
        c = batch.cols
        n = len(batch)
        codes = c[S.INDUSTRY_CODE]
        code_keys, code_inv = _distinct(codes)
        io_pos = {s: i for i, s in enumerate(parks.io_codes)}
        pad = len(parks.io_codes)
        io_sector = np.array(
            [io_pos.get(R.io42_sector(code) or "", pad) for code in code_keys], dtype=np.int64
        )[code_inv]
        is_pharma = np.array([code.startswith("27") for code in code_keys], dtype=np.float32)[code_inv]
        ids = firm_code_ids(np.asarray(code_keys, dtype=object))[code_inv]

        div_idx = code_index()[0]
        partner_keys, partner_inv = _distinct(c[S.CHAIN_PARTNER_CODES], tuple)
        partner_divs = [sorted({div_idx[p[:2]] for p in partners}) for partners in partner_keys]
        width = max((len(d) for d in partner_divs), default=0) or 1
        pdiv_u = np.full((len(partner_keys), width), len(div_idx), dtype=np.int64)
        for i, divs in enumerate(partner_divs):
            pdiv_u[i, : len(divs)] = divs
        pdiv = pdiv_u[partner_inv]
        pcount = np.array([len(d) for d in partner_divs], dtype=np.float32)[partner_inv]

        fn_keys, fn_inv = _distinct(c[S.FUNCTIONS_COL], tuple)
        flags = {
            name: np.array([bool(set(fns).intersection(want)) for fns in fn_keys], dtype=np.float32)[fn_inv]
            for name, want in FUNCTION_FLAGS.items()
        }
        fn_pos = {f: i for i, f in enumerate(S.FUNCTIONS)}
        fn_mask = np.array(
            [sum(1 << fn_pos[f] for f in set(fns) if f in fn_pos) for fns in fn_keys], dtype=np.int64
        )[fn_inv]

        prio_keys, prio_inv = _distinct(c[S.SUBSIDY_PRIORITIES], tuple)
        prio_u = np.zeros((len(prio_keys), len(S.SUBSIDY_ITEMS)), dtype=np.float32)
        item_pos = {s: i for i, s in enumerate(S.SUBSIDY_ITEMS)}
        for i, items in enumerate(prio_keys):
            for s in items:
                prio_u[i, item_pos[s]] = 1.0
        prio = prio_u[prio_inv] if n else np.zeros((0, len(S.SUBSIDY_ITEMS)), dtype=np.float32)

        origin_keys, origin_inv = _distinct(c[S.ORIGIN_DISTRICT])
        origin_u = np.array([_origin(ad) for ad in origin_keys], dtype=np.float64).reshape(-1, 2)
        pollution_keys, pollution_inv = _distinct(c[S.POLLUTION_LEVEL])
        num = {
            "land_need": c[S.LAND_NEED_MU].astype(np.float32),
            "talent": c[S.TALENT_LEVEL].astype(np.float32),
            "ties": c[S.BEIJING_TIES].astype(np.float32),
            "max_distance": c[S.MAX_DISTANCE_KM].astype(np.float32),
            "employees": c[S.EMPLOYEES].astype(np.float32),
            "needs_port": c[S.NEEDS_PORT].astype(np.float32),
            "pollution": np.array([POLLUTION_ORDER[v] for v in pollution_keys], dtype=np.float32)[
                pollution_inv
            ],
            "priorities": prio,
            "origin_lat": origin_u[origin_inv, 0] if n else np.zeros(0),
            "origin_lng": origin_u[origin_inv, 1] if n else np.zeros(0),
            **flags,
        }
        imputed_keys, imputed_inv = _distinct(batch.imputed or [[] for _ in range(n)], tuple)
        given = {
            name: np.array([name not in imp for imp in imputed_keys], dtype=bool)[imputed_inv]
            for name in (S.POLLUTION_LEVEL, S.LAND_NEED_MU, S.MAX_DISTANCE_KM, S.NEEDS_PORT, S.FUNCTIONS_COL)
        }
        trade = parks.trade.similarity([str(d or "") for d in c[S.DESCRIPTION]])
        return cls(ids, io_sector, pdiv, pcount, is_pharma, num, given, ids[:, 0], fn_mask, trade)


def _distinct(values: Any, key: Callable[[Any], Hashable] | None = None) -> tuple[list[Any], np.ndarray]:
    """(distinct values in first-seen order, each row's position among them); ``key`` makes
    list values hashable (``tuple``)."""
    seen: dict[Hashable, int] = {}
    inv = np.fromiter(
        (seen.setdefault(v if key is None else key(v), len(seen)) for v in values),
        dtype=np.int64,
        count=len(values),
    )
    return list(seen), inv


def _origin(district: str) -> tuple[float, float]:
    """A firm's origin point: its Beijing district's, or the city centre when none is given."""
    hit = R.resolve_district(district) if district else None
    return (hit[1], hit[2]) if hit else (S.BEIJING_LAT, S.BEIJING_LNG)


def pair_features(
    firms: FirmArrays,
    parks: ParkArrays,
    cand: np.ndarray,
    sim: np.ndarray,
    history: tuple[np.ndarray, np.ndarray] | None = None,
    years: np.ndarray | None = None,
    precedent: np.ndarray | None = None,
) -> np.ndarray:
    """Feature tensor (n, k, len(FEATURE_NAMES)) for candidate park positions ``cand`` (n, k).

    ``history`` is ``(cluster, popularity)`` from :class:`features.history.ArrivalHistory`;
    without it both are 0, the value of a park with an average share of earlier movers.
    ``precedent`` is the (n, k, 3) output of :class:`features.precedents.Precedents`; without it
    the three precedent features are 0.  Unknown catalogue values stay NaN in the features they
    feed, so the ranker's trees route them as missing instead of reading a template number.
    Padding candidates (-1) produce finite junk rows that callers mask out.
    """
    n, k = cand.shape
    cp = np.where(cand < 0, 0, cand)
    fn = firms.num
    pn = parks.num
    # One contiguous (n, k) plane per feature: writing a feature is then one sequential pass,
    # where writing it into (n, k, features) strides across every row.  The result is the
    # (n, k, features) view of these planes; scoring reads it in cache-sized blocks.
    out = np.empty((len(FEATURE_NAMES), n, k), dtype=np.float32)
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}

    def put(name: str, value: np.ndarray) -> None:
        out[col[name]] = value

    ids = firms.code_ids
    ids_pad = np.where(ids < 0, np.array([parks.industries.exact[j].shape[1] - 1 for j in range(3)]), ids)
    depth = parks.industries.depth(cp, ids_pad)
    covers = parks.industries.covers(cp, ids_pad)
    put("chain_depth", depth / 4.0)
    put("chain_covers", covers)
    put("chain_io", parks.io_link[cp, firms.io_sector[:, None]])
    div_prefix = parks.industries.prefix[0]
    present = np.zeros((n, k), dtype=np.float32)
    for j in range(firms.partner_divs.shape[1]):
        present += div_prefix[cp, firms.partner_divs[:, j][:, None]]
    put(
        "chain_partners",
        np.where(
            firms.partner_count[:, None] > 0, present / np.maximum(firms.partner_count[:, None], 1), -1.0
        ),
    )
    put("embedding_sim", sim)
    put("cluster_share", history[0] if history is not None else np.zeros((n, k), np.float32))
    put("park_popularity", history[1] if history is not None else np.zeros((n, k), np.float32))
    put("trade_text", np.take_along_axis(firms.trade, cp, axis=1))

    need = fn["land_need"][:, None]
    land = pn["land"][cp]
    price = pn["price"][cp]
    put("land_ratio_log", np.log1p(land) - np.log1p(need))
    put("land_need_log", np.broadcast_to(np.log1p(need), (n, k)))
    put("land_price_log", np.log(np.maximum(price, 1.0)))
    put("land_cost_log", np.log1p(need * price / 1e4))
    put("land_floor_log", np.log(np.maximum(pn["floor"][cp], 1.0)))

    talent = fn["talent"][:, None]
    pool = pn["talent"][cp]
    put("talent_level", np.broadcast_to(talent, (n, k)))
    put("talent_pool", pool)
    put("talent_gap", pool - talent)

    prio = fn["priorities"]
    nprio = prio.sum(axis=1, keepdims=True)
    park_sub = pn["subsidies"][cp]  # (n, k, 6)
    known = (~np.isnan(park_sub)).astype(np.float32)
    stated = np.einsum("nkj,nj->nk", known, prio)  # prioritised items a source states
    # the share of the firm's prioritised items at full level, unstated items adding nothing
    match = np.einsum("nkj,nj->nk", np.nan_to_num(park_sub), prio) / (3.0 * np.maximum(nprio, 1.0))
    match = np.where(stated > 0, match, np.nan)
    total = np.where(pn["subsidy_any"][cp], pn["subsidy_total"][cp], np.nan)
    put("subsidy_match", np.where(nprio > 0, match, total))
    put("subsidy_total", pn["subsidy_total"][cp])
    reg = pn["keeps_reg"][cp]
    ties = fn["ties"][:, None]
    put("keeps_registration", reg)
    put("registration_x_ties", reg * ties)
    put("registration_pharma", reg * firms.is_pharma[:, None])

    dist = pn["distance"][cp]
    rail = pn["rail"][cp]
    put("distance_km", dist)
    origin = R.haversine_km(
        fn["origin_lat"][:, None], fn["origin_lng"][:, None], pn["lat"][cp], pn["lng"][cp]
    )
    put("origin_distance_km", origin)
    put("rail_minutes", rail)
    put("ties_x_distance", ties * dist / 100.0)
    put("ties_x_rail", ties * rail / 60.0)
    put("distance_over_max", dist / np.maximum(fn["max_distance"][:, None], 1.0))
    put("beijing_ties", np.broadcast_to(ties, (n, k)))

    put("platform_type_id", pn["platform_type"][cp])
    put("park_level", pn["level"][cp])
    put("platform_group", pn["group"][cp])
    for name in FUNCTION_FLAGS:
        put(name, np.broadcast_to(fn[name][:, None], (n, k)))
    put("capacity_log", np.log1p(pn["capacity"][cp]))
    port = pn["port"][cp]
    put("port_match", port * fn["needs_port"][:, None])
    put("port_access", port)
    put("pollution_headroom", pn["pollution"][cp] - fn["pollution"][:, None])
    put("employees_log", np.broadcast_to(np.log1p(fn["employees"][:, None]), (n, k)))
    year = np.full(n, np.nan, np.float32) if years is None else np.asarray(years, np.float32)
    put("decision_year", np.broadcast_to(year[:, None], (n, k)))
    park_fn = pn["designated"][cp]
    put("designated_function", ((park_fn & firms.fn_mask[:, None]) != 0).astype(np.float32))
    put("designated_industry", parks.designated_codes.covers(cp, ids_pad))
    put("designated_any", (park_fn != 0).astype(np.float32))
    if precedent is None:
        precedent = np.zeros((n, k, 5), dtype=np.float32)
    for j, name in enumerate(PRECEDENT_FEATURES):
        put(name, precedent[:, :, j])
    return out.transpose(1, 2, 0)


# --- criterion scores -----------------------------------------------------------------------


def criterion_scores(x: np.ndarray) -> np.ndarray:
    """Five interpretable scores in [0, 1] from a feature matrix (rows, features).

    These are not the model's contributions: they are plain-language readings of the pair
    (how much of the land need is met, how close, …) that an officer can check by hand.  A
    criterion that rests only on unknown catalogue values is NaN (shown as 未知), never a guess.
    """
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    f = lambda name: x[:, col[name]]  # noqa: E731
    depth = np.where(f("chain_covers") > 0, 1.0, f("chain_depth"))
    partners = f("chain_partners")
    chain_extra = np.where(partners >= 0, partners, np.clip(f("embedding_sim"), 0, 1))
    industry = 0.6 * depth + 0.2 * np.clip(f("chain_io") / 0.05, 0, 1) + 0.2 * chain_extra
    need = np.expm1(f("land_need_log"))
    avail_ratio = np.exp(f("land_ratio_log"))  # (1+avail)/(1+need); NaN when land is unknown
    price_log = f("land_price_log")
    price_log = np.where(np.isnan(price_log), f("land_floor_log"), price_log)
    with np.errstate(invalid="ignore"):
        price_ok = 1.0 - 0.4 * np.clip(np.log(np.exp(price_log) / 1e5) / np.log(20.0), 0, 1)
        avail_ok = np.where(need > 0, np.clip(avail_ratio, 0, 1), np.nan)
    land = np.where(np.isnan(avail_ok), price_ok, np.where(np.isnan(price_ok), avail_ok, avail_ok * price_ok))
    talent = np.clip(f("talent_pool") / np.maximum(f("talent_level"), 0.05), 0, 1)
    match, reg = f("subsidy_match"), f("registration_x_ties")
    subsidy = np.where(
        np.isnan(match) & np.isnan(reg), np.nan, np.nan_to_num(match) + 0.2 * np.nan_to_num(reg)
    )
    ties = f("beijing_ties")
    proximity = np.exp(-f("distance_km") / (50.0 + 450.0 * (1.0 - ties)))
    out = np.stack([industry, land, talent, subsidy, proximity], axis=1)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
