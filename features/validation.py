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
* ``talent_level`` / ``beijing_ties`` / ``pollution_level``: the division's prior; a data centre
  moved on its own has the ties of :data:`DATA_CENTRE_TIES`.
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
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S
from features.embeddings import Inference
from features.registry import (
    FUNCTION_ZH,
    STATUS_WARNINGS,
    SUBSIDY_ZH,
    credit_code_outside_beijing,
    credit_code_problem,
    crosswalk_2011,
    has_content,
    industry_2011_from_name,
    industry_from_name,
    is_missing_marker,
    origin_from_address,
    parse_headcount,
    parse_origin,
    reused_codes,
)


class ScoredInferer(Protocol):
    """An inferer that says how sure it is and can stay within given code prefixes
    (:class:`features.embeddings.IndustryInferer`)."""

    def infer(
        self, texts: Sequence[str], allowed: Sequence[Sequence[str]] | None = None
    ) -> list[Inference]: ...


# A plain function from descriptions to codes is still accepted (tests, simple callers).
IndustryInferer = ScoredInferer | Callable[[Sequence[str]], Sequence[str]]

LAND_FUNCTIONS = frozenset({"production", "logistics", "wholesale", "data_center"})
# Beijing ties of a data centre moved on its own.  A data centre is run over the network: Beijing
# permits no new or expanded data centres and recommends 张北 to firms that need one (《北京市进一步
# 促进软件产业和集成电路产业发展若干政策》, reported by 张北县工信局, http://www.51chengbao.com/
# Article_30499.shtml), and the 京津冀 computing hub's cluster starts in 怀来, 张北 and 宣化, some
# 100-200 km out (四部委函复 2022, http://calabash-boy.com/system/2022/02/19/100882532.shtml).  Its
# division's prior (0.8 for 64, an office profile) would put 张北 beyond the imputed reach; 0.5
# gives 250 km.  The simulator draws such firms' ties around the same value.
DATA_CENTRE_TIES = 0.5
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
    name: str = ""  # the firm's name when the row has one, for the officer's summary

    def as_dict(self) -> dict[str, Any]:
        return {S.ROW: self.row, S.FIELD: self.field, S.ERROR: self.reason, S.FIRM_ID: self.firm_id}


@dataclass
class FirmBatch:
    """Validated, imputed firms as columns (object arrays for text/lists, float64 for numbers),
    with per firm the fields that were imputed and the warnings an officer should check."""

    rows: np.ndarray
    cols: dict[str, np.ndarray]
    imputed: list[list[str]] = field(default_factory=list)
    warnings: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def take(self, idx: np.ndarray) -> FirmBatch:
        return FirmBatch(
            self.rows[idx],
            {k: v[idx] for k, v in self.cols.items()},
            [self.imputed[i] for i in idx],
            [self.warnings[i] for i in idx] if self.warnings else [[] for _ in idx],
        )


# --- parsing helpers ------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """None, NaN, NA, a blank string or a registry's "not known" marker ("-", "暂无" …); called
    for every cell of a million-row file, so the common types are checked before pandas."""
    if value is None:
        return True
    kind = type(value)
    if kind is str:
        text = value.strip()
        return not text or is_missing_marker(text)
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


_LIST_SEPARATORS = ("；", "，", ",", "、", "/", "|")


def _as_list(value: Any) -> list[str]:
    if _missing(value):
        return []
    if isinstance(value, str):
        text = value
        for sep in _LIST_SEPARATORS:
            text = text.replace(sep, ";")
        return [p.strip() for p in text.split(";") if p.strip() and not is_missing_marker(p)]
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


def _is_number_cell(value: Any) -> bool:
    """A spreadsheet cell stored as a number: its leading zeros are already gone."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


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
    raise ValueError(f"“{value}”不是是/否（可填 是、否、true、false）")


def normalise_district(value: str) -> str | None:
    text = value.strip().removeprefix("北京市").removeprefix("北京")
    hit = R.resolve_district(text)
    return hit[0] if hit else None


def _code_name(code: str) -> str:
    return f"{code}（{R.industry_label(code)}）"


# --- validation -----------------------------------------------------------------------------

# How the industry of a row is to be settled once the inferer is at hand (see ``impute``).
PLAN = "_industry_plan"
GIVEN = "given"  # the code column holds a GB/T 4754-2017 code
INFER = "infer"  # infer from the description, within the listed prefixes (empty: any class)
REUSED = "reused"  # a code valid in both editions with different meanings: the description decides


def _column(cols: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    if name in cols:
        arr = np.asarray(cols[name], dtype=object)
        if arr.shape != (n,):
            raise ValueError(f"column {name!r} has {arr.shape[0]} values for {n} rows")
        return arr
    return np.full(n, None, dtype=object)


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value).strip()


def _clean_code(value: Any) -> tuple[str, bool]:
    """(code text, stored as a number).  ``C2631`` and ``I 6510`` as registries print them lose
    the 门类 letter; ``2631.0`` from a float column becomes ``2631``."""
    number = _is_number_cell(value)
    text = _as_code(value).replace(" ", "")
    if len(text) >= 3 and text[0].isalpha() and text[0].isupper() and text[1:].isdigit():
        text = text[1:]
    return text, number


class _Industry:
    """Settles one row's industry from 行业代码, 行业代码(2011), 所属行业 and 经营范围.

    The result is ``(code, plan, allowed, warning)`` or an error text: ``plan`` says whether the
    code stands (GIVEN), must be inferred from the description within ``allowed`` prefixes
    (INFER), or is a code whose meaning changed between editions (REUSED, ``allowed`` holding the
    2011 reading's 2017 classes).
    """

    def __init__(self, has_description: bool):
        self.has_description = has_description

    def from_2011(self, code: str, label: str) -> tuple[str, str, list[str], str | None] | str:
        old = crosswalk_2011().get(code)
        if old is None:
            return self.unknown(code, label)
        targets = [t for t in old.targets if R.is_industry_code(t)]
        if len(targets) == 1:
            return (
                targets[0],
                GIVEN,
                [],
                f"{label} {code}（2011 版：{old.name}）按 2017 版 {_code_name(targets[0])} 计",
            )
        if self.has_description:
            names = "、".join(targets)
            return (
                "",
                INFER,
                targets,
                f"{label} {code}（2011 版：{old.name}）在 2017 版拆为 {names}，已按经营范围选定",
            )
        return (
            f"{label} {code}（2011 版：{old.name}）在 2017 版拆为 {'、'.join(targets)}，"
            "无法确定；请填写 2017 版代码或经营范围"
        )

    def unknown(self, code: str, label: str) -> tuple[str, str, list[str], str | None] | str:
        if self.has_description:
            return ("", INFER, [], f"{label}“{code}”不是有效的 GB/T 4754 代码，已按经营范围推断行业")
        if not (code.isdigit() and 2 <= len(code) <= 4):
            return f"{label}“{code}”不是 GB/T 4754-2017 行业代码（应为 2 至 4 位数字）"
        return f"{label}“{code}”不是 GB/T 4754-2017 的行业代码"

    def from_code(self, raw: Any, label: str, name_hint: str) -> tuple[str, str, list[str], str | None] | str:
        code, number = _clean_code(raw)
        if number and len(code) in (1, 3):
            padded = "0" + code
            if R.is_industry_code(padded) and R.is_industry_code(code):
                if self.has_description:
                    return (
                        "",
                        INFER,
                        [padded, code],
                        f"{label}以数字 {code} 保存，可能是 {_code_name(padded)} "
                        f"也可能是 {_code_name(code)}，"
                        "已按经营范围选定；请把该列设为文本",
                    )
                return (
                    f"{label}以数字 {code} 保存，无法判断是 {_code_name(padded)} 还是 {_code_name(code)}；"
                    "请把该列设为文本后重填"
                )
            if R.is_industry_code(padded) or crosswalk_2011().get(padded):
                code = padded
        if R.is_industry_code(code):
            if code in reused_codes():
                old = crosswalk_2011()[code]
                if name_hint and industry_2011_from_name(name_hint) == code:
                    return self.from_2011(code, label)
                return (code, REUSED, list(old.targets), None)
            return (code, GIVEN, [], None)
        if code in crosswalk_2011():
            return self.from_2011(code, label)
        return self.unknown(code, label)

    def from_name(self, text: str) -> tuple[str, str, list[str], str | None] | str:
        label = S.FIELD_ZH[S.INDUSTRY_NAME]
        code = industry_from_name(text)
        if code is None:
            old = industry_2011_from_name(text)
            if old is not None:
                return self.from_2011(old, label)
            if self.has_description:
                return ("", INFER, [], f"{label}“{text}”不是 GB/T 4754-2017 的类目名称，已按经营范围推断")
            return f"{label}“{text}”不是 GB/T 4754-2017 的类目名称，且没有经营范围可供推断"
        if code.isdigit() and len(code) == 4:
            return (code, GIVEN, [], None)
        prefixes = [code] if code.isdigit() else sorted(c for c in _divisions_of_section(code))
        if self.has_description:
            return ("", INFER, prefixes, None)
        if code.isdigit():
            return (
                code,
                GIVEN,
                [],
                f"{label}只到{'大类' if len(code) == 2 else '中类'} {_code_name(code)}，按该类匹配",
            )
        return f"{label}“{text}”只到门类，且没有经营范围可供推断具体行业"


def _divisions_of_section(letter: str) -> list[str]:
    df = R.load_industries()
    return [str(c) for c, parent in zip(df["code"], df["parent"], strict=True) if parent == letter]


def validate_columns(
    cols: Mapping[str, Any], rows: Sequence[int] | np.ndarray | None = None
) -> tuple[FirmBatch, list[RowError]]:
    """Check every field of every row; return the valid rows (not yet imputed) and one error
    per rejected row naming its first bad field, in Chinese.  Registry habits are read rather
    than rejected (see :mod:`features.registry`), each with a warning on the row.  Unknown
    columns are the caller's concern (the batch reader and the API reject them before this)."""
    n = len(next(iter(cols.values()))) if cols else 0
    row_numbers = np.arange(1, n + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    errors: dict[int, RowError] = {}
    warnings: list[list[str]] = [[] for _ in range(n)]
    firm_ids = _column(cols, S.FIRM_ID, n)
    credit = _column(cols, S.CREDIT_CODE, n)
    ids_out = np.empty(n, dtype=object)
    out: dict[str, np.ndarray] = {S.FIRM_ID: ids_out}
    out[S.CREDIT_CODE] = np.empty(n, dtype=object)
    for i in range(n):
        cc = _text(credit[i]).upper()
        out[S.CREDIT_CODE][i] = cc
        ids_out[i] = _as_code(firm_ids[i]) if not _missing(firm_ids[i]) else cc
        if cc:
            problem = credit_code_problem(cc)
            if problem:
                warnings[i].append(problem)
            elif credit_code_outside_beijing(cc):
                warnings[i].append(f"统一社会信用代码 {cc} 的登记机关不在北京（第 3-8 位 {cc[2:8]}）")

    raw_names = [_text(v) for v in _column(cols, S.NAME, n)]

    def bad(i: int, fld: str, reason: str) -> None:
        if i not in errors:
            errors[i] = RowError(int(row_numbers[i]), fld, reason, str(ids_out[i]), raw_names[i])

    for name in (S.LEGAL_REP, S.PHONE, S.REG_CAPITAL):
        arr = _column(cols, name, n)
        out[name] = np.array([_as_code(v) for v in arr] or [], dtype=object)

    names = _column(cols, S.NAME, n)
    out[S.NAME] = np.empty(n, dtype=object)
    for i, v in enumerate(names):
        if _missing(v):
            bad(i, S.NAME, "缺少企业名称")
            out[S.NAME][i] = ""
        else:
            out[S.NAME][i] = str(v).strip()

    status = _column(cols, S.REG_STATUS, n)
    for i, v in enumerate(status):
        text = _text(v)
        for key, message in STATUS_WARNINGS.items():
            if key in text:
                warnings[i].append(message)
                break

    desc = _column(cols, S.DESCRIPTION, n)
    out[S.DESCRIPTION] = np.empty(n, dtype=object)
    for i, v in enumerate(desc):
        text = _text(v)
        if text and not has_content(text):
            warnings[i].append("经营范围没有可识别的文字（只有符号或控制字符），未用于推断行业")
            text = ""
        out[S.DESCRIPTION][i] = text

    codes = _column(cols, S.INDUSTRY_CODE, n)
    codes_2011 = _column(cols, S.INDUSTRY_CODE_2011, n)
    industry_names = _column(cols, S.INDUSTRY_NAME, n)
    out[S.INDUSTRY_CODE] = np.full(n, "", dtype=object)
    plans = np.empty(n, dtype=object)
    for i in range(n):
        resolver = _Industry(bool(out[S.DESCRIPTION][i]))
        name_hint = _text(industry_names[i])
        result: tuple[str, str, list[str], str | None] | str
        fld = S.INDUSTRY_CODE
        if not _missing(codes[i]):
            result = resolver.from_code(codes[i], S.FIELD_ZH[S.INDUSTRY_CODE], name_hint)
        elif not _missing(codes_2011[i]):
            fld = S.INDUSTRY_CODE_2011
            code, as_number = _clean_code(codes_2011[i])
            if as_number and len(code) in (1, 3):
                code = "0" + code
            result = resolver.from_2011(code, S.FIELD_ZH[S.INDUSTRY_CODE_2011])
        elif name_hint:
            fld = S.INDUSTRY_NAME
            if name_hint.isdigit() or _is_number_cell(industry_names[i]):
                result = resolver.from_code(industry_names[i], S.FIELD_ZH[S.INDUSTRY_NAME], "")
            else:
                result = resolver.from_name(name_hint)
        elif out[S.DESCRIPTION][i]:
            result = ("", INFER, [], None)
        else:
            result = "请填写行业代码、所属行业或经营范围：否则无法判断企业的行业"
        if isinstance(result, str):
            bad(i, fld, result)
            plans[i] = (GIVEN, [])
            continue
        code, plan, allowed, warning = result
        out[S.INDUSTRY_CODE][i] = code
        plans[i] = (plan, allowed)
        if warning:
            warnings[i].append(warning)
    out[PLAN] = plans

    origin = _column(cols, S.ORIGIN_DISTRICT, n)
    address = _column(cols, S.REG_ADDRESS, n)
    out[S.ORIGIN_DISTRICT] = np.empty(n, dtype=object)
    for i, v in enumerate(origin):
        out[S.ORIGIN_DISTRICT][i] = ""
        addr = _text(address[i])
        if _missing(v):
            found = origin_from_address(addr) if addr else None
            if found is not None:
                out[S.ORIGIN_DISTRICT][i] = found.adcode or ""
                if found.note:
                    warnings[i].append(found.note)
            continue
        parsed = parse_origin(_as_code(v))
        if parsed is None:
            found = origin_from_address(addr) if addr else None
            if found is not None and found.adcode:
                out[S.ORIGIN_DISTRICT][i] = found.adcode
                warnings[i].append(f"所属区县“{v}”无法识别，按注册地址所在的区计")
                continue
            bad(i, S.ORIGIN_DISTRICT, f"“{v}”不是北京的区（应填 海淀区 这样的区名或其行政区划代码）")
            continue
        out[S.ORIGIN_DISTRICT][i] = parsed.adcode or ""
        if parsed.note:
            warnings[i].append(parsed.note)

    for name, allowed_values, zh in (
        (S.FUNCTIONS_COL, S.FUNCTIONS, FUNCTION_ZH),
        (S.SUBSIDY_PRIORITIES, S.SUBSIDY_ITEMS, SUBSIDY_ZH),
    ):
        arr = _column(cols, name, n)
        out[name] = np.empty(n, dtype=object)
        for i, v in enumerate(arr):
            items = [zh.get(x, x) for x in _as_list(v)]
            unknown = [x for x in items if x not in allowed_values]
            if unknown:
                choices = "、".join(dict.fromkeys(k for k, val in zh.items() if val in allowed_values))
                bad(
                    i,
                    name,
                    f"无法识别的取值“{unknown[0]}”；可填：{choices}（或 {', '.join(allowed_values)}）",
                )
            out[name][i] = list(dict.fromkeys(x for x in items if x in allowed_values))

    partners = _column(cols, S.CHAIN_PARTNER_CODES, n)
    out[S.CHAIN_PARTNER_CODES] = np.empty(n, dtype=object)
    for i, v in enumerate(partners):
        items = [_as_code(x) for x in _as_list(v)]
        unknown = [x for x in items if not R.is_industry_code(x)]
        if unknown:
            bad(i, S.CHAIN_PARTNER_CODES, f"“{unknown[0]}”不是 GB/T 4754-2017 行业代码")
        out[S.CHAIN_PARTNER_CODES][i] = [x for x in items if R.is_industry_code(x)]

    insured = _column(cols, S.INSURED_EMPLOYEES, n)
    for name, (low, high) in S.FIRM_NUMERIC_LIMITS.items():
        arr = _column(cols, name, n)
        vals = np.full(n, np.nan)
        label = S.FIELD_ZH[name]
        for i, v in enumerate(arr):
            if _missing(v):
                if name == S.EMPLOYEES and not _missing(insured[i]):
                    num = _number(insured[i])
                    if num is not None and num >= 1 and float(num).is_integer():
                        vals[i] = num
                        warnings[i].append(f"员工人数未填，按参保人数 {int(num)} 人计")
                continue
            note = None
            num = _number(v)
            if num is None and name == S.EMPLOYEES and isinstance(v, str):
                num, note = parse_headcount(v)
            if num is None:
                bad(i, name, f"{label}“{v}”不是数字")
                continue
            if not math.isfinite(num) or (low is not None and num < low) or (high is not None and num > high):
                bad(i, name, f"{label}“{v}”超出允许范围 [{_fmt(low)}, {_fmt(high)}]")
                continue
            if name == S.EMPLOYEES and not float(num).is_integer():
                bad(i, name, f"{label}“{v}”不是整数")
                continue
            if note:
                warnings[i].append(note)
            vals[i] = num
        out[name] = vals

    port = _column(cols, S.NEEDS_PORT, n)
    out[S.NEEDS_PORT] = np.empty(n, dtype=object)
    for i, v in enumerate(port):
        try:
            out[S.NEEDS_PORT][i] = _as_bool(v)
        except ValueError as exc:
            bad(i, S.NEEDS_PORT, f"{S.FIELD_ZH[S.NEEDS_PORT]}：{exc}")
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
            bad(
                i,
                S.POLLUTION_LEVEL,
                f"{S.FIELD_ZH[S.POLLUTION_LEVEL]}“{v}”应为 低、中、高（low/medium/high）",
            )
        out[S.POLLUTION_LEVEL][i] = text if text in POLLUTION_ORDER else ""

    notes = _column(cols, S.INPUT_NOTES, n)
    for i, v in enumerate(notes):
        if isinstance(v, list | tuple):
            warnings[i].extend(str(x) for x in v)
        elif isinstance(v, str) and v.strip():
            warnings[i].append(v.strip())

    keep = np.array([i not in errors for i in range(n)], dtype=bool)
    idx = np.flatnonzero(keep)
    batch = FirmBatch(
        row_numbers[idx],
        {k: v[idx] for k, v in out.items()},
        [[] for _ in idx],
        [warnings[i] for i in idx],
    )
    return batch, sorted(errors.values(), key=lambda e: e.row)


def _number(v: Any) -> float | None:
    if isinstance(v, bool | np.bool_):
        return None
    try:
        return float(str(v).strip().replace(",", "")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None


def _fmt(x: float | None) -> str:
    if x is None:
        return "不限"
    return f"{x:g}"


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


def _run_inferer(
    infer_industry: IndustryInferer, texts: list[str], allowed: list[list[str]]
) -> list[Inference]:
    if hasattr(infer_industry, "infer"):
        return list(infer_industry.infer(texts, allowed))
    assert callable(infer_industry)
    return [Inference(str(code), 1.0) for code in infer_industry(texts)]


def settle_industry(batch: FirmBatch, infer_industry: IndustryInferer | None) -> list[int]:
    """Infer the codes the validator left open (see ``PLAN``) and decide the reused codes, in
    place; returns the positions whose description yielded no code at all (to be rejected)."""
    c = batch.cols
    n = len(batch)
    if not batch.imputed:
        batch.imputed = [[] for _ in range(n)]
    if not batch.warnings:
        batch.warnings = [[] for _ in range(n)]
    imputed = batch.imputed
    failed: list[int] = []
    plans = c.get(PLAN)
    if plans is None:
        plans = np.empty(n, dtype=object)
        plans[:] = [(GIVEN, []) for _ in range(n)]
        c[PLAN] = plans
    unsure = c.get(S.INDUSTRY_UNCERTAIN)
    if unsure is None:
        unsure = c[S.INDUSTRY_UNCERTAIN] = np.zeros(n, dtype=bool)
    todo = [i for i in range(n) if plans[i][0] in (INFER, REUSED) or not c[S.INDUSTRY_CODE][i]]
    if todo:
        if infer_industry is None:
            raise ValueError("industry_code is missing and no industry inferer is available")
        texts = [str(c[S.DESCRIPTION][i]) for i in todo]
        found = _run_inferer(
            infer_industry, texts, [list(plans[i][1]) if plans[i][0] == INFER else [] for i in todo]
        )
        for i, res in zip(todo, found, strict=True):
            kind, allowed = plans[i]
            if kind == REUSED:
                # A valid 2017 code is never re-read silently: the officer is told when the
                # description fits the code's 2011 meaning instead, and can correct it.
                code = str(c[S.INDUSTRY_CODE][i])
                old = crosswalk_2011()[code]
                if res.code is not None and any(res.code.startswith(t) for t in allowed):
                    batch.warnings[i].append(
                        f"行业代码 {code} 在 2017 版是“{R.industry_label(code)}”，在 2011 版是“{old.name}”；"
                        f"经营范围更符合 2011 版的含义，如为旧代码请改填 2017 版 {_code_name(res.code)}"
                    )
                plans[i] = (GIVEN, [])
                continue
            if res.code is None:
                failed.append(i)
                continue
            plans[i] = (GIVEN, [])
            c[S.INDUSTRY_CODE][i] = res.code
            imputed[i].append(S.INDUSTRY_CODE)
            if res.uncertain:
                unsure[i] = True
                how = (
                    f"行业大类推断正确的把握约 {res.confidence:.0%}"
                    if res.calibrated
                    else f"相似度 {res.confidence:.2f}"
                )
                batch.warnings[i].append(
                    f"行业由经营范围推断为 {_code_name(res.code)}，把握不大（{how}），请核实或填写行业代码"
                )
    return failed


def impute(batch: FirmBatch, priors: Priors, infer_industry: IndustryInferer | None) -> FirmBatch:
    """Fill missing fields from industry priors and record, per firm, what was filled."""
    n = len(batch)
    c = batch.cols
    if settle_industry(batch, infer_industry):
        raise ValueError("some descriptions yield no industry code; call prepare(), which rejects them")
    imputed = [list(x) for x in batch.imputed]

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
    data_centre_only = np.array([list(f) == ["data_center"] for f in c[S.FUNCTIONS_COL]], dtype=bool)
    fill(S.BEIJING_TIES, np.where(data_centre_only, DATA_CENTRE_TIES, priors.ties[div_idx]))
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
    return FirmBatch(batch.rows, c, imputed, batch.warnings)


_FUNCTION_LABEL = {v: k for k, v in reversed(list(FUNCTION_ZH.items()))}
_SUBSIDY_LABEL = {v: k for k, v in reversed(list(SUBSIDY_ZH.items()))}
_VALUE_TEXT: dict[str, Callable[[Any], str]] = {
    S.INDUSTRY_CODE: lambda v: _code_name(str(v)),
    S.FUNCTIONS_COL: lambda v: "、".join(_FUNCTION_LABEL.get(x, x) for x in v),
    S.EMPLOYEES: lambda v: f"{v:.0f} 人",
    S.LAND_NEED_MU: lambda v: f"{v:.1f} 亩",
    S.FLOOR_AREA_NEED_M2: lambda v: f"{v:.0f} 平方米",
    S.TALENT_LEVEL: lambda v: f"{v:.2f}",
    S.BEIJING_TIES: lambda v: f"{v:.2f}",
    S.MAX_DISTANCE_KM: lambda v: f"{v:.0f} 公里",
    S.NEEDS_PORT: lambda v: "是" if v else "否",
    S.POLLUTION_LEVEL: lambda v: {"low": "低", "medium": "中", "high": "高"}.get(str(v), str(v)),
    S.SUBSIDY_PRIORITIES: lambda v: "、".join(_SUBSIDY_LABEL.get(x, x) for x in v) or "无",
    S.REVENUE_CNY_10K: lambda v: f"{v:.0f} 万元",
    S.ORIGIN_DISTRICT: lambda v: _district_name(str(v)),
    S.CHAIN_PARTNER_CODES: lambda v: "、".join(_code_name(str(x)) for x in v),
}


def _district_name(adcode: str) -> str:
    """A Beijing district's name for its adcode (validation stores the code)."""
    names = R.beijing_districts().astype({"adcode": str}).set_index("adcode")["district"]
    return str(names.get(adcode, adcode))


def function_label(function: str) -> str:
    """The Chinese word an officer uses for a function (``production`` → 生产)."""
    return _FUNCTION_LABEL.get(function, function)


def firm_values(batch: FirmBatch, i: int) -> dict[str, str]:
    """Every field of firm ``i`` that has a value, as an officer reads it, in input order; the
    imputed ones are the texts of :func:`imputed_values` (marked 估), the rest are as given.

    A brief shows the profile the ranking actually used, so a guessed value is never mistaken
    for one the firm stated."""
    imputed = imputed_values(batch, i)
    out: dict[str, str] = {}
    for name in S.FIRM_COLUMNS:
        if name in (S.FIRM_ID, S.NAME):
            continue
        if name in imputed:
            out[name] = imputed[name]
            continue
        col = batch.cols.get(name)
        value = None if col is None else col[i]
        if _missing(value) or (isinstance(value, list) and not value):
            continue
        out[name] = _VALUE_TEXT.get(name, str)(value)
    return out


def imputed_values(batch: FirmBatch, i: int) -> dict[str, str]:
    """The value used for each imputed field of firm ``i``, as an officer reads it, marked 估
    (an inferred code with low confidence is marked 估，待核实)."""
    out: dict[str, str] = {}
    unsure = batch.cols.get(S.INDUSTRY_UNCERTAIN)
    for name in batch.imputed[i]:
        text = _VALUE_TEXT.get(name, str)(batch.cols[name][i])
        mark = "估"
        if name == S.INDUSTRY_CODE and unsure is not None and bool(unsure[i]):
            mark = "估，待核实"
        out[name] = f"{text}（{mark}）"
    return out


def imputed_values_text(batch: FirmBatch, i: int) -> str:
    return "；".join(f"{S.FIELD_ZH.get(k, k)} {v}" for k, v in imputed_values(batch, i).items())


# --- entry points ---------------------------------------------------------------------------


def columns_from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    recs = list(records)
    out: dict[str, np.ndarray] = {}
    for name in S.INPUT_COLUMNS:
        arr = np.empty(len(recs), dtype=object)
        for i, r in enumerate(recs):
            arr[i] = r.get(name)
        out[name] = arr
    return out


def columns_from_frame(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: df[name].to_numpy(dtype=object) for name in S.INPUT_COLUMNS if name in df.columns}


def prepare(
    cols: Mapping[str, Any],
    priors: Priors,
    infer_industry: IndustryInferer | None,
    rows: Sequence[int] | np.ndarray | None = None,
) -> tuple[FirmBatch, list[RowError]]:
    """Validate then impute: the one way raw firm data becomes a :class:`FirmBatch`.  A row whose
    description has no word the inferer knows is rejected here rather than given a code."""
    batch, errors = validate_columns(cols, rows)
    failed = settle_industry(batch, infer_industry)
    if failed:
        for i in failed:
            errors.append(
                RowError(
                    int(batch.rows[i]),
                    S.DESCRIPTION,
                    "经营范围中没有可识别的行业用语，无法推断行业；请填写行业代码或所属行业",
                    str(batch.cols[S.FIRM_ID][i]),
                    str(batch.cols[S.NAME][i]),
                )
            )
        keep = np.setdiff1d(np.arange(len(batch)), np.asarray(failed))
        batch = batch.take(keep)
        errors.sort(key=lambda e: e.row)
    return impute(batch, priors, infer_industry), errors
