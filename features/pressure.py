"""Relocation pressure (容不下): how strongly Beijing's own policy pushes a firm out, in [0, 1].

A 招商 officer asks of a lead not only "would it fit us" but "does it have to move at all".  The
policy answers the second question in four ways, and each is one part of the score, kept with a
sentence that says where it comes from:

``restriction`` (禁限目录)
    《北京市新增产业的禁止和限制目录》, editions 2014, 2015, 2018 and 2022, shipped as the sourced
    table ``data/beijing_restrictions.csv`` (:class:`RestrictionTable`).  The latest edition in
    the table is the regime in force: a row of it whose code is a prefix of the firm's code and
    whose scope covers the firm's district gives 1.0 for 禁止 and 0.7 for 限制; a code listed only
    by an earlier edition gives 0.3 (the push happened, it has since been relaxed); none gives 0.
    Without the table this part is unknown and says so; no row is ever invented.
``function`` (疏解功能)
    The functions the 疏解 policy names: general manufacturing (production), regional wholesale
    markets, logistics bases and regional back offices give 1.0; the public services it moves
    in part (education, healthcare, administration) 0.6; anything else 0.2.
``space`` (用地规模)
    Land need on a log scale, ``log1p(mu) / log1p(200)`` clipped to [0, 1]: a firm that needs
    200 mu or more cannot find it inside Beijing's 减量发展 land budget.  An imputed need is
    marked （估）.
``core_area`` (核心区)
    Origin in the 首都功能核心区 (东城, 西城) 1.0, elsewhere in the 中心城区 0.6, elsewhere in Beijing
    0.2; unknown when the district is unknown.

The score is the weighted mean of the known parts (:data:`WEIGHTS`), so an unknown part neither
raises nor lowers it; the parts and their texts are always reported with it.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from features import reference as R
from features import schemas as S
from features.registry import crosswalk_2011

RESTRICTIONS_FILE = "beijing_restrictions.csv"
RESTRICTION_COLUMNS: tuple[str, ...] = (
    "edition",
    "code",
    "code_standard",
    "name_zh",
    "scope",
    "level",
    "rule",
    "exceptions",
    "source_url",
    "source_title",
    "source_class",
    "note",
)
EDITIONS: tuple[str, ...] = ("2014", "2015", "2018", "2022")
CODE_STANDARDS: tuple[str, ...] = ("2011", "2017")
LEVELS: tuple[str, ...] = ("禁止", "限制")
# Which Beijing districts each scope of the 目录 covers.  北京经济技术开发区 is a functional zone,
# not a district: a firm's district alone never says it is inside, so that scope is not applied.
CORE = ("东城区", "西城区")
CENTRAL = (*CORE, "朝阳区", "海淀区", "丰台区", "石景山区")
SCOPES: dict[str, tuple[str, ...] | None] = {
    "全市": None,
    "中心城区": CENTRAL,
    "首都功能核心区": CORE,
    "城市副中心": ("通州区",),
    "平原新城": ("顺义区", "大兴区", "昌平区", "房山区"),
    "生态涵养区": ("门头沟区", "平谷区", "怀柔区", "密云区", "延庆区", "昌平区", "房山区"),
    "北京经济技术开发区": (),
}
LEVEL_VALUE = {"禁止": 1.0, "限制": 0.7}

PARTS: tuple[str, ...] = S.PRESSURE_PARTS
PART_ZH: dict[str, str] = S.PRESSURE_PART_ZH
WEIGHTS: dict[str, float] = {"restriction": 0.4, "function": 0.3, "space": 0.15, "core_area": 0.15}
TARGETED_FUNCTIONS = ("production", "wholesale", "logistics", "back_office")
PUBLIC_FUNCTIONS = ("education", "healthcare", "administration")
FUNCTION_VALUE = {**dict.fromkeys(TARGETED_FUNCTIONS, 1.0), **dict.fromkeys(PUBLIC_FUNCTIONS, 0.6)}
OTHER_FUNCTION_VALUE = 0.2
SPACE_FULL_MU = 200.0
_CJK = re.compile(r"[\u4e00-\u9fff]")  # only a rule printed in Chinese is quoted to officers
_CODE_OK = frozenset("ABCDEFGHIJKLMNOPQRST")
_FUNCTION_ZH = {
    "production": "生产制造",
    "wholesale": "区域性批发",
    "logistics": "物流",
    "back_office": "区域性后台服务",
    "education": "教育",
    "healthcare": "医疗",
    "administration": "行政事业",
}


class RestrictionError(ValueError):
    """A row of the 禁限目录 table is unusable; the message names the row and the field."""


@dataclass(frozen=True)
class Restriction:
    """One row of the 目录, its code mapped to GB/T 4754-2017 (``codes``)."""

    row: int
    edition: int
    code: str
    code_standard: str
    codes: tuple[str, ...]
    name_zh: str
    scope: str
    level: str
    rule: str
    source_title: str
    source_url: str

    def covers(self, district: str) -> bool | None:
        """Does the scope include ``district``?  ``None`` when the district is unknown."""
        allowed = SCOPES[self.scope]
        if allowed is None:
            return True
        if not district:
            return None
        return district in allowed


@lru_cache(maxsize=1)
def _division_section() -> dict[str, str]:
    """2-digit 大类 → its 门类 letter, for rows that list a whole 门类."""
    df = R.load_industries()
    rows = zip(df["code"], df["parent"], df["level"], strict=True)
    return {str(c): str(p) for c, p, lv in rows if lv == "大类"}


def _map_2011(code: str) -> tuple[str, ...]:
    """A 2011 code at any level → the 2017 codes of the same level its 4-digit classes went to."""
    out = {t[: len(code)] for c, old in crosswalk_2011().items() if c.startswith(code) for t in old.targets}
    return tuple(sorted(c for c in out if len(c) == len(code)))


class RestrictionTable:
    """The 禁限目录 rows, validated; ``available`` is False when the file is absent."""

    def __init__(self, rows: Sequence[Restriction] = (), source: str = "", available: bool = True):
        self.rows = tuple(rows)
        self.source = source
        self.available = available
        self.latest = max((r.edition for r in self.rows), default=0)
        self.editions = "、".join(str(e) for e in sorted({r.edition for r in self.rows}))

    @classmethod
    def missing(cls, source: str = "") -> RestrictionTable:
        return cls((), source, available=False)

    @classmethod
    def load(cls, path: Path | None = None) -> RestrictionTable:
        """Read and validate every row; refuse the whole file on the first bad row, naming it.
        A missing file is not an error: the part is then reported as unavailable."""
        path = Path(path) if path is not None else R.data_file(RESTRICTIONS_FILE)
        if not path.exists():
            return cls.missing(str(path))
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            absent = [c for c in RESTRICTION_COLUMNS if c not in header]
            if absent:
                raise RestrictionError(f"{path.name}：缺少列 {'、'.join(absent)}")
            rows = [_parse_row(path.name, i, raw) for i, raw in enumerate(reader, start=2)]
        return cls(rows, str(path))

    def matches(self, code: str, district: str) -> list[Restriction]:
        """Rows whose code is a prefix of the firm's 4-digit code (a letter row covers its whole
        门类) and whose scope covers the district, or may cover it (unknown district)."""
        if not code:
            return []
        section = _division_section().get(code[:2], "")
        return [
            r
            for r in self.rows
            if any(code.startswith(c) or c == section for c in r.codes) and r.covers(district) is not False
        ]


def _parse_row(name: str, line: int, raw: Mapping[str, str | None]) -> Restriction:
    def get(col: str) -> str:
        return (raw.get(col) or "").strip()

    def bad(col: str, why: str) -> RestrictionError:
        return RestrictionError(f"{name} 第{line}行，字段 {col}：{why}")

    edition = get("edition")
    if edition not in EDITIONS:
        raise bad("edition", f"版本“{edition}”无效，应为 {'/'.join(EDITIONS)}")
    standard = get("code_standard")
    if standard not in CODE_STANDARDS:
        raise bad("code_standard", f"“{standard}”无效，应为 2011 或 2017")
    code = get("code")
    if not (
        (len(code) == 1 and code in _CODE_OK) or (code.isdigit() and code.isascii() and 2 <= len(code) <= 4)
    ):
        raise bad("code", f"行业代码“{code}”无效，应为门类字母或 2-4 位数字（保留前导零）")
    if code.isdigit():
        codes = _map_2011(code) if standard == "2011" else (code,)
        if not codes or (standard == "2017" and not R.is_industry_code(code)):
            raise bad("code", f"行业代码“{code}”不在 GB/T 4754-{standard} 中")
    else:
        codes = (code,)
    scope = get("scope")
    if scope not in SCOPES:
        raise bad("scope", f"适用范围“{scope}”无效，应为 {'、'.join(SCOPES)} 之一")
    level = get("level")
    if level not in LEVELS:
        raise bad("level", f"管理类别“{level}”无效，应为 禁止 或 限制")
    if not get("name_zh"):
        raise bad("name_zh", "行业名称为空")
    source_class = get("source_class")
    if source_class not in S.SOURCE_CLASSES:
        raise bad("source_class", f"来源类别“{source_class}”无效，应为 {'/'.join(S.SOURCE_CLASSES)}")
    url = get("source_url")
    if not url.startswith(("http://", "https://")):
        raise bad("source_url", "缺少来源网址")
    return Restriction(
        line,
        int(edition),
        code,
        standard,
        codes,
        get("name_zh"),
        scope,
        level,
        get("rule"),
        get("source_title"),
        url,
    )


@lru_cache(maxsize=4)
def default_restrictions() -> RestrictionTable:
    """The bundled table (or its absence), read once per process."""
    return RestrictionTable.load()


@dataclass
class Pressure:
    """Per firm: the score, each part (NaN when unknown) and, on request, the texts."""

    score: np.ndarray
    parts: dict[str, np.ndarray]
    texts: list[dict[str, str]] = field(default_factory=list)


def _restriction_part(table: RestrictionTable, code: str, district: str) -> tuple[float, str]:
    zh = PART_ZH["restriction"]
    if not table.available:
        return math.nan, f"{zh}：禁限目录数据暂缺，此项未计入"
    hits = table.matches(code, district)
    if hits:
        # the most recent edition that lists the code: the table is curated from sourced
        # provisions and may be partial, so a code missing from a later edition is not read
        # as relaxed
        edition = max(r.edition for r in hits)
        r = max((r for r in hits if r.edition == edition), key=lambda r: LEVEL_VALUE[r.level])
        return LEVEL_VALUE[r.level], (
            f"{zh}：{r.edition}年版目录在{r.scope}{r.level}{r.name_zh}（{r.code}）"
            f"{'，' + r.rule if _CJK.search(r.rule) else ''}"
        )
    return 0.0, f"{zh}：现有目录条文（{table.editions}年版）未列入该行业"


def _function_part(functions: Sequence[str]) -> tuple[float, str]:
    zh = PART_ZH["function"]
    hit = [f for f in functions if f in FUNCTION_VALUE]
    if not hit:
        return OTHER_FUNCTION_VALUE, f"{zh}：迁移功能不在疏解重点之列"
    value = max(FUNCTION_VALUE[f] for f in hit)
    names = "、".join(_FUNCTION_ZH[f] for f in hit)
    kind = "疏解重点" if value >= 1.0 else "部分疏解的公共服务"
    return value, f"{zh}：{names}属{kind}"


def _space_part(need: float, imputed: bool) -> tuple[float, str]:
    zh = PART_ZH["space"]
    if math.isnan(need):
        return math.nan, f"{zh}：用地需求未知"
    value = min(1.0, max(0.0, math.log1p(max(need, 0.0)) / math.log1p(SPACE_FULL_MU)))
    return value, f"{zh}：用地需求约{need:.0f}亩{'（估）' if imputed else ''}"


def _core_part(district: str) -> tuple[float, str]:
    zh = PART_ZH["core_area"]
    if not district:
        return math.nan, f"{zh}：所在区县未知"
    if district in CORE:
        return 1.0, f"{zh}：位于首都功能核心区（{district}）"
    if district in CENTRAL:
        return 0.6, f"{zh}：位于中心城区（{district}）"
    return 0.2, f"{zh}：位于{district}，不在中心城区"


@lru_cache(maxsize=1)
def _district_names() -> dict[str, str]:
    df = R._read_csv(R.data_file("beijing_districts.csv"))
    return {str(a): str(d) for a, d in zip(df["adcode"], df["district"], strict=True)}


def district_name(value: object) -> str:
    """A validated origin (a district name or its adcode) as the district's name; "" if unknown."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    hit = R.resolve_district(text)
    return _district_names().get(hit[0], text) if hit else ""


def relocation_pressure(
    cols: Mapping[str, np.ndarray],
    imputed: Sequence[Sequence[str]] | None = None,
    table: RestrictionTable | None = None,
    texts: bool = False,
) -> Pressure:
    """Pressure for every firm of validated, imputed columns (see the module docstring)."""
    table = table if table is not None else default_restrictions()
    codes = cols[S.INDUSTRY_CODE]
    n = len(codes)
    districts = cols.get(S.ORIGIN_DISTRICT, np.full(n, "", dtype=object))
    parts = {p: np.full(n, np.nan) for p in PARTS}
    out_texts: list[dict[str, str]] = []
    cache: dict[tuple[str, str], tuple[float, str]] = {}
    for i in range(n):
        district = district_name(districts[i])
        key = (str(codes[i]), district)
        if key not in cache:
            cache[key] = _restriction_part(table, *key)
        values = {
            "restriction": cache[key],
            "function": _function_part(list(cols[S.FUNCTIONS_COL][i])),
            "space": _space_part(
                float(cols[S.LAND_NEED_MU][i]), bool(imputed and S.LAND_NEED_MU in imputed[i])
            ),
            "core_area": _core_part(district),
        }
        for p, (v, _) in values.items():
            parts[p][i] = v
        if texts:
            out_texts.append({p: t for p, (_, t) in values.items()})
    w = np.array([WEIGHTS[p] for p in PARTS])
    stacked = np.stack([parts[p] for p in PARTS], axis=1)
    known = ~np.isnan(stacked)
    total = (np.where(known, stacked, 0.0) * w).sum(axis=1)
    score = total / np.maximum((known * w).sum(axis=1), 1e-9)
    return Pressure(np.clip(score, 0.0, 1.0), parts, out_texts)
