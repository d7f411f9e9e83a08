"""Column-wise validation and imputation of firm profiles.

The API, batch files and evaluation all come through here: a single profile is a batch of
one.  Work is done per column over object arrays rather than per row through pydantic, so a
million-row registry extract validates in seconds while applying exactly the limits declared in
``features.schemas``.

Imputation rules (reported back per firm in ``imputed``; priors from data/industry_priors.csv):

* ``industry_code``: inferred from ``description`` by the bundle's industry inferer.
* ``functions``: the first typical function of the firm's division.
* ``employees``: the division's median firm size.
* ``land_need_mu``: employees × land per 100 employees ÷ 100, only for functions that occupy
  land (production, logistics, wholesale, data_center); otherwise 0 (office space only).
* ``floor_area_need_m2``: employees × floor area per employee.
* ``talent_level`` / ``beijing_ties`` / ``pollution_level``: the division's prior.
* ``needs_port``: true when at least half the division's firms need a seaport.
* ``max_distance_km``: 100 + 300 × (1 − beijing_ties): a firm fully tied to Beijing stays
  within about 100 km (one hour by road or rail), an untied one looks as far as 400 km,
  which spans the whole region.
* ``subsidy_priorities``: by function (production → land, equipment, tax; rnd/research →
  talent, rnd; headquarters/back_office → tax, rent; logistics/wholesale → land, rent;
  data_center → land, equipment; education/healthcare → land, talent).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S

IndustryInferer = Callable[[Sequence[str]], Sequence[str]]

LAND_FUNCTIONS = frozenset({"production", "logistics", "wholesale", "data_center"})
FUNCTION_SUBSIDIES: dict[str, tuple[str, ...]] = {
    "production": ("land", "equipment", "tax"),
    "rnd": ("talent", "rnd"),
    "research": ("talent", "rnd"),
    "headquarters": ("tax", "rent"),
    "back_office": ("tax", "rent"),
    "logistics": ("land", "rent"),
    "wholesale": ("land", "rent"),
    "data_center": ("land", "equipment"),
    "education": ("land", "talent"),
    "healthcare": ("land", "talent"),
}
POLLUTION_ORDER = {level: i for i, level in enumerate(S.POLLUTION_LEVELS)}


@dataclass(frozen=True)
class RowError:
    """Why one input row was rejected; ``row`` is the 1-based data row of the input."""

    row: int
    field: str
    reason: str
    firm_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {S.ROW: self.row, S.FIELD: self.field, S.ERROR: self.reason, S.FIRM_ID: self.firm_id}


@dataclass
class FirmBatch:
    """Validated, imputed firms as columns (object arrays for text/lists, float64 for numbers)."""

    rows: np.ndarray
    cols: dict[str, np.ndarray]
    imputed: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def take(self, idx: np.ndarray) -> FirmBatch:
        return FirmBatch(
            self.rows[idx], {k: v[idx] for k, v in self.cols.items()}, [self.imputed[i] for i in idx]
        )


# --- parsing helpers ------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """None, NaN, NA or a blank string; called for every cell of a million-row file, so the
    common types are checked before falling back to pandas."""
    if value is None:
        return True
    kind = type(value)
    if kind is str:
        return not value.strip()
    if kind is float or kind is np.float64:
        return bool(value != value)
    if kind is int or kind is bool or kind is list:
        return False
    if isinstance(value, list | tuple | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_list(value: Any) -> list[str]:
    if _missing(value):
        return []
    if isinstance(value, str):
        return [
            p.strip()
            for p in value.replace("；", ";").replace("，", ";").replace(",", ";").split(";")
            if p.strip()
        ]
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v).strip() for v in value if not _missing(v)]
    return [str(value).strip()]


def _as_code(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text


_TRUE = {"true", "1", "yes", "y", "是", "需要", "t"}
_FALSE = {"false", "0", "no", "n", "否", "不需要", "f"}


def _as_bool(value: Any) -> bool | None:
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes/no (true/false, 是/否)")


def normalise_district(value: str) -> str | None:
    text = value.strip().removeprefix("北京市").removeprefix("北京")
    hit = R.resolve_district(text)
    return hit[0] if hit else None


# --- validation -----------------------------------------------------------------------------


def _column(cols: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    if name in cols:
        arr = np.asarray(cols[name], dtype=object)
        if arr.shape != (n,):
            raise ValueError(f"column {name!r} has {arr.shape[0]} values for {n} rows")
        return arr
    return np.full(n, None, dtype=object)


def validate_columns(
    cols: Mapping[str, Any], rows: Sequence[int] | np.ndarray | None = None
) -> tuple[FirmBatch, list[RowError]]:
    """Check every field of every row; return the valid rows (not yet imputed) and one error
    per rejected row naming its first bad field.  Unknown columns are the caller's concern
    (the batch reader and the API reject them before this point)."""
    n = len(next(iter(cols.values()))) if cols else 0
    row_numbers = np.arange(1, n + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    errors: dict[int, RowError] = {}
    firm_ids = _column(cols, S.FIRM_ID, n)
    ids_out = np.empty(n, dtype=object)
    for i, v in enumerate(firm_ids):
        ids_out[i] = "" if _missing(v) else _as_code(v)

    def bad(i: int, fld: str, reason: str) -> None:
        if i not in errors:
            errors[i] = RowError(int(row_numbers[i]), fld, reason, str(ids_out[i]))

    out: dict[str, np.ndarray] = {S.FIRM_ID: ids_out}
    names = _column(cols, S.NAME, n)
    out[S.NAME] = np.empty(n, dtype=object)
    for i, v in enumerate(names):
        if _missing(v):
            bad(i, S.NAME, "name is required")
            out[S.NAME][i] = ""
        else:
            out[S.NAME][i] = str(v).strip()
    desc = _column(cols, S.DESCRIPTION, n)
    out[S.DESCRIPTION] = np.array(["" if _missing(v) else str(v).strip() for v in desc] or [], dtype=object)

    codes = _column(cols, S.INDUSTRY_CODE, n)
    out[S.INDUSTRY_CODE] = np.empty(n, dtype=object)
    for i, v in enumerate(codes):
        code = _as_code(v)
        out[S.INDUSTRY_CODE][i] = code
        if code and not R.is_industry_code(code):
            if not (code.isdigit() and 2 <= len(code) <= 4):
                bad(i, S.INDUSTRY_CODE, f"{code!r} is not a GB/T 4754-2017 code (2-4 digits)")
            else:
                bad(i, S.INDUSTRY_CODE, f"unknown GB/T 4754-2017 industry code {code!r}")
        if not code and not out[S.DESCRIPTION][i]:
            bad(
                i,
                S.INDUSTRY_CODE,
                "give industry_code or description: the industry cannot be known otherwise",
            )

    origin = _column(cols, S.ORIGIN_DISTRICT, n)
    out[S.ORIGIN_DISTRICT] = np.empty(n, dtype=object)
    for i, v in enumerate(origin):
        if _missing(v):
            out[S.ORIGIN_DISTRICT][i] = ""
            continue
        adcode = normalise_district(_as_code(v))
        if adcode is None:
            bad(i, S.ORIGIN_DISTRICT, f"{v!r} is not a Beijing district (name such as 海淀区, or its adcode)")
            out[S.ORIGIN_DISTRICT][i] = ""
        else:
            out[S.ORIGIN_DISTRICT][i] = adcode

    for name, allowed in ((S.FUNCTIONS_COL, S.FUNCTIONS), (S.SUBSIDY_PRIORITIES, S.SUBSIDY_ITEMS)):
        arr = _column(cols, name, n)
        out[name] = np.empty(n, dtype=object)
        for i, v in enumerate(arr):
            items = _as_list(v)
            unknown = [x for x in items if x not in allowed]
            if unknown:
                bad(i, name, f"unknown value {unknown[0]!r}; allowed: {', '.join(allowed)}")
            out[name][i] = list(dict.fromkeys(x for x in items if x in allowed))

    partners = _column(cols, S.CHAIN_PARTNER_CODES, n)
    out[S.CHAIN_PARTNER_CODES] = np.empty(n, dtype=object)
    for i, v in enumerate(partners):
        items = [_as_code(x) for x in _as_list(v)]
        unknown = [x for x in items if not R.is_industry_code(x)]
        if unknown:
            bad(i, S.CHAIN_PARTNER_CODES, f"unknown GB/T 4754-2017 industry code {unknown[0]!r}")
        out[S.CHAIN_PARTNER_CODES][i] = [x for x in items if R.is_industry_code(x)]

    for name, (low, high) in S.FIRM_NUMERIC_LIMITS.items():
        arr = _column(cols, name, n)
        vals = np.full(n, np.nan)
        for i, v in enumerate(arr):
            if _missing(v):
                continue
            try:
                if isinstance(v, bool | np.bool_):
                    raise ValueError
                num = float(str(v).strip().replace(",", "")) if isinstance(v, str) else float(v)
            except (TypeError, ValueError):
                bad(i, name, f"{v!r} is not a number")
                continue
            if not math.isfinite(num) or (low is not None and num < low) or (high is not None and num > high):
                bad(i, name, f"{v!r} is outside [{low}, {high}]")
                continue
            if name == S.EMPLOYEES and not float(num).is_integer():
                bad(i, name, f"{v!r} is not a whole number of employees")
                continue
            vals[i] = num
        out[name] = vals

    port = _column(cols, S.NEEDS_PORT, n)
    out[S.NEEDS_PORT] = np.empty(n, dtype=object)
    for i, v in enumerate(port):
        try:
            out[S.NEEDS_PORT][i] = _as_bool(v)
        except ValueError as exc:
            bad(i, S.NEEDS_PORT, str(exc))
            out[S.NEEDS_PORT][i] = None

    pol = _column(cols, S.POLLUTION_LEVEL, n)
    out[S.POLLUTION_LEVEL] = np.empty(n, dtype=object)
    for i, v in enumerate(pol):
        if _missing(v):
            out[S.POLLUTION_LEVEL][i] = ""
            continue
        text = str(v).strip().lower()
        text = {"低": "low", "中": "medium", "高": "high"}.get(text, text)
        if text not in POLLUTION_ORDER:
            bad(i, S.POLLUTION_LEVEL, f"{v!r} is not low/medium/high")
        out[S.POLLUTION_LEVEL][i] = text if text in POLLUTION_ORDER else ""

    keep = np.array([i not in errors for i in range(n)], dtype=bool)
    idx = np.flatnonzero(keep)
    batch = FirmBatch(row_numbers[idx], {k: v[idx] for k, v in out.items()}, [[] for _ in idx])
    return batch, sorted(errors.values(), key=lambda e: e.row)


# --- imputation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Priors:
    """Industry priors as arrays indexed by a division's position, for vectorised lookup."""

    divisions: dict[str, int]
    employees: np.ndarray
    land_per_100: np.ndarray
    floor_per_emp: np.ndarray
    talent: np.ndarray
    ties: np.ndarray
    port_share: np.ndarray
    pollution: list[str]
    functions: list[list[str]]

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Priors:
        return cls(
            divisions={d: i for i, d in enumerate(df.index)},
            employees=df["employees_median"].to_numpy(float),
            land_per_100=df["land_mu_per_100_employees"].to_numpy(float),
            floor_per_emp=df["floor_m2_per_employee"].to_numpy(float),
            talent=df["talent_level"].to_numpy(float),
            ties=df["beijing_ties"].to_numpy(float),
            port_share=df["needs_port_share"].to_numpy(float),
            pollution=[str(p) for p in df["pollution_level"]],
            functions=[_as_list(f) or ["production"] for f in df["functions"]],
        )

    @classmethod
    def bundled(cls) -> Priors:
        return cls.from_frame(R.load_priors())


def impute(batch: FirmBatch, priors: Priors, infer_industry: IndustryInferer | None) -> FirmBatch:
    """Fill missing fields from industry priors and record, per firm, what was filled."""
    n = len(batch)
    c = batch.cols
    imputed = [list(x) for x in batch.imputed] if batch.imputed else [[] for _ in range(n)]

    need_code = [i for i in range(n) if not c[S.INDUSTRY_CODE][i]]
    if need_code:
        if infer_industry is None:
            raise ValueError("industry_code is missing and no industry inferer is available")
        guesses = infer_industry([str(c[S.DESCRIPTION][i]) for i in need_code])
        for i, code in zip(need_code, guesses, strict=True):
            c[S.INDUSTRY_CODE][i] = code
            imputed[i].append(S.INDUSTRY_CODE)

    div_idx = np.array(
        [priors.divisions.get(str(code)[:2], -1) for code in c[S.INDUSTRY_CODE]], dtype=np.int64
    )
    if (div_idx < 0).any():
        bad = c[S.INDUSTRY_CODE][np.flatnonzero(div_idx < 0)[0]]
        raise ValueError(f"no industry prior for division of {bad!r}")

    for i in range(n):
        if not c[S.FUNCTIONS_COL][i]:
            c[S.FUNCTIONS_COL][i] = [priors.functions[div_idx[i]][0]]
            imputed[i].append(S.FUNCTIONS_COL)

    def fill(name: str, values: np.ndarray) -> None:
        col = c[name]
        miss = np.isnan(col)
        if miss.any():
            col[miss] = values[miss]
            for i in np.flatnonzero(miss):
                imputed[i].append(name)

    fill(S.EMPLOYEES, np.round(priors.employees[div_idx]))
    land_use = np.array([bool(LAND_FUNCTIONS.intersection(f)) for f in c[S.FUNCTIONS_COL]], dtype=bool)
    fill(
        S.LAND_NEED_MU,
        np.where(land_use, c[S.EMPLOYEES] * priors.land_per_100[div_idx] / 100.0, 0.0).round(1),
    )
    fill(S.FLOOR_AREA_NEED_M2, (c[S.EMPLOYEES] * priors.floor_per_emp[div_idx]).round(0))
    fill(S.TALENT_LEVEL, priors.talent[div_idx])
    fill(S.BEIJING_TIES, priors.ties[div_idx])
    fill(S.MAX_DISTANCE_KM, 100.0 + 300.0 * (1.0 - c[S.BEIJING_TIES]))

    for i in range(n):
        if c[S.NEEDS_PORT][i] is None:
            c[S.NEEDS_PORT][i] = bool(priors.port_share[div_idx[i]] >= 0.5)
            imputed[i].append(S.NEEDS_PORT)
        if not c[S.POLLUTION_LEVEL][i]:
            c[S.POLLUTION_LEVEL][i] = priors.pollution[div_idx[i]]
            imputed[i].append(S.POLLUTION_LEVEL)
        if not c[S.SUBSIDY_PRIORITIES][i]:
            items: list[str] = []
            for f in c[S.FUNCTIONS_COL][i]:
                items.extend(FUNCTION_SUBSIDIES.get(f, ()))
            c[S.SUBSIDY_PRIORITIES][i] = list(dict.fromkeys(items))
            imputed[i].append(S.SUBSIDY_PRIORITIES)
    c[S.NEEDS_PORT] = c[S.NEEDS_PORT].astype(bool)
    return FirmBatch(batch.rows, c, imputed)


# --- entry points ---------------------------------------------------------------------------


def columns_from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    recs = list(records)
    out: dict[str, np.ndarray] = {}
    for name in S.FIRM_COLUMNS:
        arr = np.empty(len(recs), dtype=object)
        for i, r in enumerate(recs):
            arr[i] = r.get(name)
        out[name] = arr
    return out


def columns_from_frame(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: df[name].to_numpy(dtype=object) for name in S.FIRM_COLUMNS if name in df.columns}


def prepare(
    cols: Mapping[str, Any],
    priors: Priors,
    infer_industry: IndustryInferer | None,
    rows: Sequence[int] | np.ndarray | None = None,
) -> tuple[FirmBatch, list[RowError]]:
    """Validate then impute: the one way raw firm data becomes a :class:`FirmBatch`."""
    batch, errors = validate_columns(cols, rows)
    return impute(batch, priors, infer_industry), errors
