"""How the values of real registry exports (企查查, 天眼查, 国家企业信用信息公示系统) are read.

Officers paste what the registries give them.  Those lists say "-" for an unknown headcount,
still carry GB/T 4754-2011 codes, name 北京经济技术开发区 where a district is expected and mark
dissolved firms as 注销.  Each rule here turns one such habit into the value parkmatch needs, or
into a warning the officer sees next to the firm, instead of a rejected row or a silent change of
meaning.  The tables behind the rules are in ``data/`` with their sources in ``data/SOURCES.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from features import reference as R

# Cells that registries and association spreadsheets use for "not known".
MISSING_MARKERS = frozenset(
    {"-", "--", "—", "——", "/", "／", "无", "暂无", "未知", "不详", "未公开", "n/a", "na"}
)

FUNCTION_ZH: dict[str, str] = {
    "生产": "production",
    "制造": "production",
    "生产制造": "production",
    "研发": "rnd",
    "研发中心": "rnd",
    "总部": "headquarters",
    "地区总部": "headquarters",
    "物流": "logistics",
    "仓储": "logistics",
    "仓储物流": "logistics",
    "批发": "wholesale",
    "批发市场": "wholesale",
    "商贸": "wholesale",
    "数据中心": "data_center",
    "后台": "back_office",
    "后台服务": "back_office",
    "后台办公": "back_office",
    "教育": "education",
    "培训": "education",
    "医疗": "healthcare",
    "医院": "healthcare",
    "科研": "research",
    "研究": "research",
    "科研院所": "research",
    "行政办公": "administration",
    "行政事业单位": "administration",
}
SUBSIDY_ZH: dict[str, str] = {
    "税收": "tax",
    "税收优惠": "tax",
    "土地": "land",
    "用地": "land",
    "租金": "rent",
    "房租": "rent",
    "人才": "talent",
    "设备": "equipment",
    "研发": "rnd",
}
# 登记状态 values after which a firm may no longer exist or may already have moved.
STATUS_WARNINGS: dict[str, str] = {
    "注销": "登记状态为注销：企业可能已不存在，请先核实",
    "吊销": "登记状态为吊销：营业执照已被吊销，请先核实",
    "撤销": "登记状态为撤销：登记已被撤销，请先核实",
    "迁出": "登记状态为迁出：企业可能已迁离北京，请先核实",
    "停业": "登记状态为停业，请先核实",
    "清算": "登记状态为清算，请先核实",
}
# Provinces and municipalities other than Beijing, as they open an address.
OTHER_REGIONS: tuple[str, ...] = (
    "天津",
    "河北",
    "山西",
    "内蒙古",
    "辽宁",
    "吉林",
    "黑龙江",
    "上海",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "广西",
    "海南",
    "重庆",
    "四川",
    "贵州",
    "云南",
    "西藏",
    "陕西",
    "甘肃",
    "青海",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
    "台湾",
)
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_CONTENT = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")
_RANGE = re.compile(r"^(\d+)\s*[-~～至到]\s*(\d+)\s*人?$")
_BELOW = re.compile(r"^(?:少于|小于|不足|低于)\s*(\d+)\s*人?$")
_ABOVE = re.compile(r"^(\d+)\s*人?\s*(?:以上|及以上|\+)$")
_NUMBER_WITH_UNIT = re.compile(r"^(\d+(?:\.\d+)?)\s*人$")


# Lowercasing never shortens a string, so a longer text (every real description) is no marker.
_MARKER_MAX_LEN = max(len(m) for m in MISSING_MARKERS)


def is_missing_marker(text: str) -> bool:
    t = text.strip()
    return len(t) <= _MARKER_MAX_LEN and t.lower() in MISSING_MARKERS


def has_content(text: str) -> bool:
    """True if the text holds at least one letter, digit or Han character: emoji, punctuation,
    control characters and NULs say nothing about a firm's trade and must not yield a code."""
    return bool(_CONTENT.search(text))


# 经营范围 as registries print it: a list of items separated by ；，、 with licence notes in
# brackets ("（依法须经批准的项目，经相关部门批准后方可开展经营活动）") and headings ("许可项目：",
# "一般项目：").  Read as one text, the boilerplate and the items every firm lists (技术开发、技术咨询、
# 货物进出口 …) outweigh the trade, and a pharmaceutical plant reads as 7310 research.
_SCOPE_BRACKETS = re.compile(r"[（(][^（）()]{0,80}[）)]")
_SCOPE_HEADINGS = re.compile(
    r"(?:许可经营项目|一般经营项目|许可项目|一般项目|经营范围)\s*[:：]\s*(?:无(?=[；;。，,、\s]|$))?"
)
_SCOPE_SPLIT = re.compile(r"[；;。，,、\n]")
# Items found in the scopes of firms of every trade, named in the wording of the
# 经营范围规范表述目录; they say nothing about which trade the firm is in.
GENERIC_SCOPE_ITEMS: frozenset[str] = frozenset(
    {
        "技术服务",
        "技术开发",
        "技术咨询",
        "技术交流",
        "技术转让",
        "技术推广",
        "货物进出口",
        "技术进出口",
        "进出口",
        "进出口业务",
        "进出口代理",
        "自营和代理各类商品及技术的进出口业务",
        "以自有资金从事投资活动",
        "企业管理咨询",
        "信息咨询",
        "信息咨询服务",
        "经济信息咨询",
        "国内贸易",
        "实业投资",
        "房屋租赁",
        "自有房屋租赁",
        "非居住房地产租赁",
    }
)


# The activity a text names decides the GB/T section before the product does: GB/T 4754-2017
# classifies by activity, so 保健品生产 is 1492 保健食品制造 (C), not 5126 营养和保健品批发 (F), which
# shares every product character.  Each entry is (words, first division, last division) of the
# section the words name: 制造业 C 13–43, 批发业 51, 交通运输、仓储和邮政业 G 53–60, 研究和试验发展 73.
ACTIVITY_SECTIONS: tuple[tuple[re.Pattern[str], int, int], ...] = (
    (re.compile(r"生产|制造|加工|制品|工厂"), 13, 43),
    (re.compile(r"批发|经销|商户|商贸"), 51, 51),
    (re.compile(r"物流|仓储|快递|运输|配送"), 53, 60),
    (re.compile(r"研究院|研究所|实验室|研究中心|科研"), 73, 73),
)


def activity_divisions(text: str) -> list[tuple[int, int]]:
    """The division ranges of the activities ``text`` names (see :data:`ACTIVITY_SECTIONS`)."""
    return [(lo, hi) for words, lo, hi in ACTIVITY_SECTIONS if words.search(text)]


def scope_clauses(text: str) -> list[str]:
    """The trade-bearing items of a business scope, in the order the firm lists them: brackets
    and headings removed, generic items dropped.  A short description gives one or two items."""
    text = _SCOPE_HEADINGS.sub("；", _SCOPE_BRACKETS.sub("", text))
    items = (item.strip() for item in _SCOPE_SPLIT.split(text))
    return [item for item in items if item and has_content(item) and item not in GENERIC_SCOPE_ITEMS]


def parse_headcount(text: str) -> tuple[float | None, str | None]:
    """A headcount cell as registries print it → (number, note).  ``"50-99人"`` (企查查's 人员规模)
    becomes the band's midpoint with a note saying so; ``"少于50人"`` half the bound; ``"500人以上"``
    the bound.  ``(None, None)`` means "not a headcount pattern": the caller reports the cell."""
    t = text.strip().replace(",", "").replace("，", "")
    m = _NUMBER_WITH_UNIT.match(t)
    if m:
        return float(m.group(1)), None
    m = _RANGE.match(t)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        return float(
            round((lo + hi) / 2)
        ), f"员工人数按区间“{text.strip()}”的中值 {round((lo + hi) / 2)} 人计"
    m = _BELOW.match(t)
    if m:
        n = max(int(m.group(1)) // 2, 1)
        return float(n), f"员工人数“{text.strip()}”按 {n} 人计"
    m = _ABOVE.match(t)
    if m:
        return float(m.group(1)), f"员工人数“{text.strip()}”按下限 {m.group(1)} 人计"
    return None, None


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a well-formed 统一社会信用代码 (GB 32100-2015: 18 characters, no I, O, Z,
    S or V), or None.  The check digit is not verified: registry typos are rare, lost characters
    are common."""
    if not _CREDIT_CODE.match(code.upper()):
        return f"统一社会信用代码“{code}”不是 18 位的有效格式"
    return None


def credit_code_outside_beijing(code: str) -> bool:
    """Characters 3-8 are the registering authority's GB/T 2260 division code; Beijing's start 11."""
    return len(code) == 18 and code[2:4].isdigit() and code[2:4] != "11"


@dataclass(frozen=True)
class Origin:
    """Where a firm sits in Beijing, as read from 所属区县 or the registered address."""

    adcode: str | None
    note: str | None = None
    outside_beijing: bool = False


@lru_cache(maxsize=1)
def functional_zones() -> tuple[tuple[str, str, str], ...]:
    """(zone, district, note), longest zone name first so 北京经济技术开发区 wins over 经济技术开发区."""
    df = R._read_csv(R.data_file("beijing_functional_zones.csv"))
    rows = [(str(r.zone), str(r.district), str(r.note)) for r in df.itertuples()]
    return tuple(sorted(rows, key=lambda r: -len(r[0])))


@lru_cache(maxsize=1)
def _district_names() -> tuple[tuple[str, str], ...]:
    df = R.beijing_districts()
    names = [(str(d), str(a)) for d, a in zip(df["district"], df["adcode"], strict=True)]
    return tuple(sorted(names, key=lambda r: -len(r[0])))


def _district_adcode(text: str) -> str | None:
    t = text.strip().removeprefix("北京市").removeprefix("北京")
    hit = R.resolve_district(t)
    return hit[0] if hit else None


def _outside(text: str) -> bool:
    t = text.strip()
    return not t.startswith("北京") and any(t.startswith(p) for p in OTHER_REGIONS)


def parse_origin(text: str) -> Origin | None:
    """A 所属区县 cell: a district (海淀区, 海淀, 110108), a functional zone (北京经济技术开发区, 亦庄,
    mapped to its district with a note) or a place outside Beijing (flagged).  None: unrecognised."""
    t = text.strip()
    code = _district_adcode(t)
    if code is not None:
        return Origin(code)
    for zone, district, note in functional_zones():
        if zone in t:
            return Origin(_district_adcode(district), f"{t} 按{district}计（{note}）")
    if _outside(t):
        return Origin(None, f"所在地“{t}”不在北京", outside_beijing=True)
    return None


def origin_from_address(address: str) -> Origin | None:
    """The district named in a registered address (北京市海淀区…, or a functional zone such as
    北京经济技术开发区…); a non-Beijing address is flagged; None when nothing can be read."""
    t = address.strip()
    if not t:
        return None
    if _outside(t):
        return Origin(None, f"注册地址“{t[:30]}”不在北京", outside_beijing=True)
    body = t.removeprefix("北京市").removeprefix("北京")
    for name, adcode in _district_names():
        if body.startswith(name) or (name in body[:12]):
            return Origin(adcode, None)
    for zone, district, note in functional_zones():
        if zone in t:
            return Origin(_district_adcode(district), f"注册地址在{zone}，按{district}计（{note}）")
    return None


# --- GB/T 4754-2011 → 2017 ------------------------------------------------------------------


@dataclass(frozen=True)
class OldCode:
    """One GB/T 4754-2011 小类 and where it went in 2017."""

    code: str
    name: str
    targets: tuple[str, ...]
    relation: str  # same, renamed, moved, split, merged


@lru_cache(maxsize=1)
def crosswalk_2011() -> dict[str, OldCode]:
    df = R._read_csv(R.data_file("gbt2011_to_2017.csv"))
    return {
        str(r.code_2011): OldCode(
            str(r.code_2011),
            str(r.name_2011),
            tuple(c for c in str(r.code_2017).split(";") if c),
            str(r.relation),
        )
        for r in df.itertuples()
    }


@lru_cache(maxsize=1)
def reused_codes() -> frozenset[str]:
    """2011 codes that also exist in 2017 but mean something else there (5810 装卸搬运 → 2017 5810
    is 多式联运): reading them as 2017 codes silently changes the industry."""
    return frozenset(
        c for c, old in crosswalk_2011().items() if R.is_industry_code(c) and c not in old.targets
    )


def _norm_name(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("（", "(").replace("）", ")")


@lru_cache(maxsize=1)
def _names_2017() -> dict[str, str]:
    df = R.load_industries()
    return {_norm_name(str(n)): str(c) for c, n in zip(df["code"], df["name"], strict=True)}


@lru_cache(maxsize=1)
def _names_2011() -> dict[str, str]:
    return {_norm_name(old.name): code for code, old in crosswalk_2011().items()}


def industry_from_name(text: str) -> str | None:
    """所属行业 given as a name → its GB/T 4754-2017 code at whatever level the name is (门类 letters
    included), or None.  Exact names only: a fuzzy match here would be a guess without a warning."""
    return _names_2017().get(_norm_name(text))


def industry_2011_from_name(text: str) -> str | None:
    return _names_2011().get(_norm_name(text))


# --- synonyms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Synonym:
    term: str
    codes: tuple[str, ...]
    basis: str


@lru_cache(maxsize=1)
def synonyms() -> tuple[Synonym, ...]:
    """Modern terms → GB/T 4754-2017 codes, longest term first (data/industry_synonyms.csv)."""
    df = R._read_csv(R.data_file("industry_synonyms.csv"))
    rows = [
        Synonym(str(r.term), tuple(c for c in str(r.codes).split(";") if c), str(r.basis))
        for r in df.itertuples()
    ]
    return tuple(sorted(rows, key=lambda s: -len(s.term)))


def synonym_hits(text: str) -> list[Synonym]:
    """Terms of the table found in ``text``; a term inside a longer found term is not counted
    twice (冷链物流 counts 冷链 and 物流, 医药批发 does not also count 批发 through 医药批发)."""
    lowered = text.lower()
    hits: list[Synonym] = []
    taken: list[tuple[int, int]] = []
    for syn in synonyms():
        start = lowered.find(syn.term.lower())
        while start >= 0:
            end = start + len(syn.term)
            if not any(a <= start and end <= b for a, b in taken):
                hits.append(syn)
                taken.append((start, end))
                break
            start = lowered.find(syn.term.lower(), start + 1)
    return hits


# --- labelled texts -------------------------------------------------------------------------


def labelled_industry_texts() -> list[tuple[str, str, str]]:
    """(text, code, set) for measuring inference: the real relocation corpus's descriptions with
    their coded industry, the texts of data/labelled_scopes.csv, and the listed companies'
    主营业务 and 经营范围 of data/labelled_listed_companies.csv (division labels; set names end in
    ``_dev`` or ``_test``, the halves the scope reading's constants were chosen and measured on)."""
    out: list[tuple[str, str, str]] = []
    reloc = R._read_csv(R.data_file("relocations.csv"))
    for text, code in zip(reloc["description"], reloc["industry_code"], strict=True):
        if text.strip() and code.strip():
            out.append((text, code.strip(), "relocations"))
    scopes = R._read_csv(R.data_file("labelled_scopes.csv"))
    for text, code, note in zip(scopes["text"], scopes["code_4"], scopes["note"], strict=True):
        kind = "scopes_real" if note.startswith("REAL") else "scopes_gbt_notes"
        out.append((text, code.strip(), kind))
    listed = R._read_csv(R.data_file("labelled_listed_companies.csv"))
    field_set = {"主营业务": "listed_business", "经营范围": "listed_scope"}
    for text, code, field, half in zip(
        listed["text"], listed["code_2"], listed["text_field"], listed["half"], strict=True
    ):
        out.append((text, code.strip(), f"{field_set[field]}_{half}"))
    return out


def division_training_texts() -> tuple[list[str], list[str]]:
    """(texts, division) of real labelled text for the inferer's division classifier: the
    standard's own explanatory notes (data/gbt4754_notes.csv, none of them among the 说明 texts
    inference is measured on) and both texts of the listed companies' ``dev`` half (the ``test``
    half, the relocation corpus and the measured 说明 texts are never fitted on)."""
    texts, divisions, _ = division_training_groups()
    return texts, divisions


def division_training_groups() -> tuple[list[str], list[str], list[str]]:
    """:func:`division_training_texts` with each text's group: ``note:<code>#<k>`` for a note,
    ``listed:<stock code>`` for a listed company's texts (its scope and its 主营业务 together), so
    that cross-validation never scores a company on a classifier fitted on its other text."""
    texts: list[str] = []
    divisions: list[str] = []
    groups: list[str] = []
    notes = R._read_csv(R.data_file("gbt4754_notes.csv"))
    for k, (text, code) in enumerate(zip(notes["text"], notes["code_4"], strict=True)):
        if has_content(text):
            texts.append(text)
            divisions.append(code.strip()[:2])
            groups.append(f"note:{code.strip()}#{k}")
    listed = R._read_csv(R.data_file("labelled_listed_companies.csv"))
    for text, code, half, stock in zip(
        listed["text"], listed["code_2"], listed["half"], listed["stock_code"], strict=True
    ):
        if half == "dev" and has_content(text):
            texts.append(text)
            divisions.append(code.strip())
            groups.append(f"listed:{stock}")
    return texts, divisions, groups


def search_codes(query: str) -> list[tuple[str, str]]:
    """Codes a search term points to through the synonym table, with the term that matched:
    ``industries --search 冷链`` and ``GET /v1/industries?q=冷链`` find 5930 低温仓储 though no
    class name contains 冷链.  A term matches when either contains the other (数据中心运营 finds
    数据中心; 云 finds 云计算)."""
    q = query.strip().lower()
    if not q:
        return []
    out: list[tuple[str, str]] = []
    for syn in synonyms():
        term = syn.term.lower()
        if q in term or (len(term) >= 2 and term in q):
            out.extend((code, syn.term) for code in syn.codes)
    return list(dict.fromkeys(out))
