"""What a brief (汇报材料) says: typed content for one firm or one park, in Chinese.

An officer's finding goes up the chain as a one-page written brief.  Its content is assembled
here from the one scoring path (:meth:`matcher.core.Matcher.recommend_one`: the same ranks,
criteria, reasons and exclusions the API returns) and from the catalogue's provenance, so the
brief cannot disagree with what the officer saw on screen.  :mod:`matcher.brief_pdf` only lays
these values out; it decides nothing.

Every park value carries its provenance (官方 / 有来源 / 估); a value no source states is written
未知, never a number.  Imputed firm values keep their 估 mark.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from features import reference as R
from features import schemas as S
from features.validation import FirmBatch, firm_values, function_label
from matcher.constraints import RULE_TEXT
from matcher.core import Matcher
from matcher.explain import PLATFORM_TYPE_CN
from matcher.leads import leads_for_batch
from matcher.nomatch import RELAXABLE
from matcher.whynot import TARGET_RANK, why

TOP_PARKS = 5
TOP_LEADS = 10
# Distance rings on the map, in km from 天安门.
RINGS_KM: tuple[int, ...] = (50, 100, 150, 200)
DESCRIPTION_CHARS = 60

CRITERION_ZH: dict[str, str] = {
    "industry_chain": "产业链",
    "land": "土地",
    "talent": "人才",
    "subsidy": "政策",
    "proximity": "区位",
}
LEVEL_ZH = {"national": "国家级", "provincial": "省级", "platform": "承接平台", "other": "其他"}
_POLLUTION_ZH = {"low": "低", "medium": "中", "high": "高"}
_SUBSIDY_LEVEL_ZH = {0: "无", 1: "一般", 2: "较强", 3: "强"}

SCORE_NOTE = (
    "综合得分是排序模型对各园区的相对评分，只用于比较同一企业的各个园区，越高越适合，不是概率；"
    "五项匹配度在 0 到 1 之间，越高越好，“未知”表示该项所依据的园区数据没有来源。"
)
PROVENANCE_NOTE = (
    "数据标注：官方＝官方目录或文件；有来源＝引用的公开资料；估＝按成文规则估算；"
    "未知＝没有来源，不写数字。企业信息中标“估”的，是按同行业常见水平估算的值。"
)
MAP_NOTE = (
    "圆圈为距天安门 50、100、150、200 公里；数字为推荐排名，灰点为目录中其他园区；"
    "部分园区坐标为所在县城（估）。"
)


@dataclass(frozen=True)
class Fact:
    """One labelled value as printed: the value with its provenance mark, or 未知."""

    label: str
    text: str


@dataclass(frozen=True)
class MapPoint:
    """A park on the map; ``rank`` is set for the parks the brief is about."""

    lat: float
    lng: float
    rank: int | None = None


@dataclass(frozen=True)
class BriefPark:
    rank: int
    park_id: str
    name: str
    place: str
    score: float
    criteria: tuple[Fact, ...]
    reasons: tuple[str, ...]
    facts: tuple[Fact, ...]


@dataclass(frozen=True)
class FirmBrief:
    firm_name: str
    firm_id: str | None
    date: str
    model_version: str
    profile: tuple[Fact, ...]
    warnings: tuple[str, ...]
    parks: tuple[BriefPark, ...]
    runner_up: str
    constraints: tuple[str, ...]
    no_match: str | None
    catalogue_summary: str
    points: tuple[MapPoint, ...]
    notes: tuple[str, ...] = (SCORE_NOTE, PROVENANCE_NOTE)
    title: str = "企业疏解承接园区推荐简报"

    def texts(self) -> list[str]:
        """Every string the brief prints, for checks that the page holds what was meant."""
        out = [self.title, self.firm_name, self.date, self.model_version, self.runner_up]
        out += [t for f in self.profile for t in (f.label, f.text)]
        out += [*self.warnings, *self.constraints, self.catalogue_summary, *self.notes, MAP_NOTE]
        for p in self.parks:
            out += [
                p.name,
                p.place,
                *p.reasons,
                *(t for f in (*p.criteria, *p.facts) for t in (f.label, f.text)),
            ]
        if self.no_match:
            out.append(self.no_match)
        return out


@dataclass(frozen=True)
class ParkBrief:
    park_id: str
    name: str
    place: str
    date: str
    model_version: str
    facts: tuple[Fact, ...]
    designated: tuple[Fact, ...]
    sources: tuple[str, ...]
    leads: tuple[S.LeadRow, ...]
    what_if: tuple[str, ...]
    catalogue_summary: str
    points: tuple[MapPoint, ...]
    notes: tuple[str, ...] = (PROVENANCE_NOTE,)
    title: str = "承接园区招商简报"
    leads_note: str = field(default="")

    def texts(self) -> list[str]:
        out = [self.title, self.name, self.place, self.date, self.model_version, self.catalogue_summary]
        out += [t for f in (*self.facts, *self.designated) for t in (f.label, f.text)]
        out += [*self.sources, *self.what_if, *self.notes]
        for lead in self.leads:
            out += [lead.firm_name, *lead.reasons]
            if lead.competitor:
                out.append(lead.competitor)
        if self.leads_note:
            out.append(self.leads_note)
        return out


# --- values with provenance -----------------------------------------------------------------


def _number(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def _codes(codes: Sequence[str], limit: int = 4) -> str:
    names = [R.industry_label(str(c)) for c in list(codes)[:limit]]
    more = "等" if len(codes) > limit else ""
    return "、".join(names) + more


_FIELD_TEXT: dict[str, Any] = {
    S.INDUSTRY_CODES: _codes,
    S.APPROVED_AREA_HA: lambda v: f"{_number(v)} 公顷",
    S.APPROVED_DATE: str,
    S.AVAILABLE_LAND_MU: lambda v: f"{_number(v)} 亩",
    S.LAND_PRICE: lambda v: f"{v / 10_000:.1f} 万元/亩",
    S.LAND_PRICE_FLOOR: lambda v: f"{v / 10_000:.1f} 万元/亩",
    S.TALENT_POOL: lambda v: f"{v:.2f}（0–1）",
    **{c: (lambda v: _SUBSIDY_LEVEL_ZH.get(int(v), str(v))) for c in S.SUBSIDY_COLUMNS},
    S.KEEPS_BEIJING_REGISTRATION: lambda v: "是" if v else "否",
    S.PORT_ACCESS: lambda v: "是" if v else "否",
    S.RAIL_MINUTES: lambda v: f"约 {v:.0f} 分钟",
    S.DISTANCE_KM: lambda v: f"{v:.0f} 公里",
    S.RESTRICTED_INDUSTRIES: _codes,
    S.MAX_POLLUTION_LEVEL: lambda v: _POLLUTION_ZH.get(str(v), str(v)),
    S.CAPACITY_PER_YEAR: lambda v: f"{v:.0f} 家/年",
    S.LAND_GRADE: lambda v: f"第 {int(v)} 等",
    S.DESIGNATED_FUNCTIONS: lambda v: "、".join(function_label(str(x)) for x in v),
    S.DESIGNATED_INDUSTRIES: _codes,
}


def park_fact(row: Mapping[str, Any], name: str, provenance: Mapping[str, str]) -> Fact:
    """One catalogue value as printed: text plus （官方）/（有来源）/（机构提供）/（估）, or 未知
    when blank or unknown, whatever number a template might have had."""
    label = S.PARK_FIELD_ZH.get(name, name)
    value = row.get(name)
    level = provenance.get(name, "unknown")
    if R.is_blank(value) or level == "unknown":
        return Fact(label, S.UNKNOWN_ZH)
    return Fact(label, f"{_FIELD_TEXT.get(name, str)(value)}（{S.PROVENANCE_ZH[level]}）")


def _place(row: Mapping[str, Any]) -> str:
    parts = [str(row[S.PROVINCE]), str(row[S.CITY]), str(row[S.COUNTY])]
    return "".join(dict.fromkeys(p for p in parts if p))  # 天津市天津市 → 天津市


def catalogue_summary(parks: pd.DataFrame) -> str:
    """One sentence on how much of the catalogue is official, sourced, estimated or unknown."""
    table = R.provenance_table(parks)
    totals = {lvl: int(table[lvl].sum()) for lvl in S.PROVENANCE_LEVELS}
    n = sum(totals.values()) or 1
    share = "、".join(
        f"{S.PROVENANCE_ZH[lvl] if lvl != 'estimated' else '估算'} {100 * totals[lvl] / n:.0f}%"
        for lvl in S.PROVENANCE_LEVELS
        if lvl != S.PROVIDED or totals[lvl]  # provided values are named only once there are some
    )
    mostly_unknown = [
        S.PARK_FIELD_ZH.get(str(r["field"]), str(r["field"]))
        for r in table.to_dict("records")
        if int(r["unknown"]) >= 0.9 * int(r["n"]) and str(r["field"]) in S.PARK_DECISION_FIELDS
    ]
    tail = f"{'、'.join(mostly_unknown[:6])}等多数园区未知，" if mostly_unknown else ""
    return (
        f"园区目录共 {len(parks)} 个园区，各项园区数据中{share}；{tail}"
        "未知的数据不用于排除园区，理由中也不引用。"
    )


def _points(parks: pd.DataFrame, ranked: Mapping[str, int]) -> tuple[MapPoint, ...]:
    ids = parks[S.PARK_ID].astype(str).to_numpy()
    lat = parks[S.LAT].to_numpy(dtype=float)
    lng = parks[S.LNG].to_numpy(dtype=float)
    return tuple(
        MapPoint(float(a), float(b), ranked.get(str(i))) for i, a, b in zip(ids, lat, lng, strict=True)
    )


# --- the firm brief -------------------------------------------------------------------------

_PARK_LINE_FIELDS = (S.DISTANCE_KM, S.RAIL_MINUTES, S.LAND_PRICE, S.APPROVED_AREA_HA)


def _criteria(rec: S.Recommendation) -> tuple[Fact, ...]:
    return tuple(
        Fact(CRITERION_ZH[c], S.UNKNOWN_ZH if rec.criteria.get(c) is None else f"{rec.criteria[c]:.2f}")
        for c in S.CRITERIA
    )


def runner_up_text(recs: Sequence[S.Recommendation]) -> str:
    """Why #2 is behind #1, from the two results' own criterion scores."""
    if len(recs) < 2:
        return "只有一个可行园区，没有第二名可比。" if recs else "没有可比较的园区。"
    a, b = recs[0], recs[1]
    behind: list[tuple[float, str]] = []
    ahead: list[str] = []
    unknown: list[str] = []
    for c in S.CRITERIA:
        av, bv = a.criteria.get(c), b.criteria.get(c)
        if av is None or bv is None:
            unknown.append(CRITERION_ZH[c])
        elif av - bv >= 0.01:
            behind.append((av - bv, f"{CRITERION_ZH[c]}（{bv:.2f}，第一名 {av:.2f}）"))
        elif bv - av >= 0.01:
            ahead.append(CRITERION_ZH[c])
    out = f"第二名{b.park_name}的综合得分比第一名{a.park_name}低 {a.score - b.score:.2f}。"
    if behind:
        out += "差距主要在" + "、".join(t for _, t in sorted(behind, reverse=True)[:3]) + "。"
    else:
        out += "五项匹配度并不落后，差距来自排序模型同时考虑的同类企业迁入先例等因素。"
    if ahead:
        out += f"第二名在{'、'.join(ahead)}上更好，但不足以弥补。"
    if unknown:
        out += f"{'、'.join(unknown)}一方或双方数据未知，未作比较。"
    return out


def _firm_need(batch: FirmBatch, rule: str) -> str:
    c = batch.cols
    if rule == "distance":
        return f"企业可接受最远 {float(c[S.MAX_DISTANCE_KM][0]):.0f} 公里"
    if rule == "land":
        return f"企业需要 {float(c[S.LAND_NEED_MU][0]):.0f} 亩"
    if rule == "pollution":
        return f"企业污染等级为{_POLLUTION_ZH.get(str(c[S.POLLUTION_LEVEL][0]), '')}"
    if rule == "port":
        return "企业需要港口"
    if rule in ("purpose", "beijing_ban"):
        return f"企业迁移的功能为{'、'.join(function_label(f) for f in c[S.FUNCTIONS_COL][0])}"
    if rule == "theme":
        return f"企业行业为{R.industry_label(str(c[S.INDUSTRY_CODE][0]))}"
    return "按园区的行业准入"


def constraint_lines(batch: FirmBatch, result: S.RecommendationResult) -> list[str]:
    """The hard rules that removed parks for this firm, with counts, and the needs that did not
    bind because they were estimated (an estimate ranks but never rules a park out)."""
    counts = Counter(ex.rule for ex in result.excluded)
    lines = [
        f"{RULE_TEXT[rule]}：排除 {k} 个园区（{_firm_need(batch, rule)}）。"
        for rule, k in sorted(counts.items(), key=lambda t: -t[1])
    ]
    if not lines:
        lines.append("没有园区因硬性条件被排除。")
    estimated = [S.FIELD_ZH[f] for f in RELAXABLE.values() if f in batch.imputed[0]]
    if estimated:
        lines.append(f"{'、'.join(estimated)}为估算值，只参与排序，不作为排除条件。")
    return lines


def firm_brief(
    matcher: Matcher,
    profile: S.FirmProfile | Mapping[str, Any],
    day: dt.date | None = None,
    top: int = TOP_PARKS,
) -> FirmBrief:
    """The firm brief from the one scoring path; raises ``ValueError`` naming a bad field."""
    batch, result = matcher.recommend_one(profile, top=top, explain_excluded=True)
    parks = matcher.parks
    rows = {str(r[S.PARK_ID]): {str(k): v for k, v in r.items()} for r in parks.to_dict("records")}
    listed: list[BriefPark] = []
    for rec in result.recommendations:
        row = rows[rec.park_id]
        prov = R.park_provenance(row)
        listed.append(
            BriefPark(
                rank=rec.rank,
                park_id=rec.park_id,
                name=rec.park_name,
                place=_place(row),
                score=rec.score,
                criteria=_criteria(rec),
                reasons=tuple(rec.reasons),
                facts=tuple(park_fact(row, f, prov) for f in _PARK_LINE_FIELDS),
            )
        )
    values = firm_values(batch, 0)
    if S.DESCRIPTION in values and len(values[S.DESCRIPTION]) > DESCRIPTION_CHARS:
        values[S.DESCRIPTION] = values[S.DESCRIPTION][:DESCRIPTION_CHARS] + "……"
    return FirmBrief(
        firm_name=str(batch.cols[S.NAME][0]),
        firm_id=result.firm_id,
        date=(day or dt.date.today()).isoformat(),
        model_version=result.model_version,
        profile=tuple(Fact(S.FIELD_ZH.get(k, k), v) for k, v in values.items()),
        warnings=tuple(result.warnings),
        parks=tuple(listed),
        runner_up=runner_up_text(result.recommendations),
        constraints=tuple(constraint_lines(batch, result)),
        no_match=result.no_match,
        catalogue_summary=catalogue_summary(parks),
        points=_points(parks, {p.park_id: p.rank for p in listed}),
    )


# --- the park brief -------------------------------------------------------------------------

_PARK_FACT_FIELDS = tuple(
    f for f in S.PROVENANCE_FIELDS if f not in (S.LAT, S.LNG, S.DESIGNATED_FUNCTIONS, S.DESIGNATED_INDUSTRIES)
)


def _is_cited_page(title: str) -> bool:
    """A publication an officer can look up (it opens with its Chinese name or a 《title》), as
    opposed to a note on how the catalogue derived a value."""
    return bool(title) and (title[0] == "《" or "\u4e00" <= title[0] <= "\u9fff")


def _short_title(title: str, limit: int = 40) -> str:
    """A cited source's title without the catalogue build's notes on how it was read."""
    head = str(title)
    for cut in (" — ", ", as extracted", " (", "; ", " via "):
        head = head.split(cut)[0]
    head = head.strip()
    return head if len(head) <= limit else head[: limit - 1] + "…"


def park_brief(
    parks: pd.DataFrame,
    park_id: str,
    model_version: str,
    leads: Sequence[S.LeadRow] = (),
    what_if: Sequence[str] = (),
    day: dt.date | None = None,
) -> ParkBrief:
    """The park brief: facts with provenance, designated functions, the best leads of the
    given list and the what-if lines.  Raises ``KeyError`` for an unknown park id."""
    hit = parks[parks[S.PARK_ID].astype(str) == str(park_id)]
    if hit.empty:
        raise KeyError(park_id)
    row = {str(k): v for k, v in hit.iloc[0].to_dict().items()}
    prov = R.park_provenance(row)
    level = str(row[S.LEVEL])
    kind = PLATFORM_TYPE_CN.get(str(row[S.PLATFORM_TYPE]), "")
    facts = [Fact("类型", f"{LEVEL_ZH[level]}{kind}" if level in ("national", "provincial") else kind)]
    known = [park_fact(row, f, prov) for f in _PARK_FACT_FIELDS]
    facts += [f for f in known if f.text != S.UNKNOWN_ZH]
    unknown = [f.label for f in known if f.text == S.UNKNOWN_ZH]
    if unknown:
        facts.append(Fact(S.UNKNOWN_ZH, "、".join(unknown) + "（暂无来源）"))
    designated = [park_fact(row, f, prov) for f in (S.DESIGNATED_FUNCTIONS, S.DESIGNATED_INDUSTRIES)]
    found = row.get(S.FIELD_SOURCES)
    cited = json.loads(found) if isinstance(found, str) and found else {}
    titles = list(
        dict.fromkeys(
            _short_title(x["title"])
            for f, xs in cited.items()
            if prov.get(f) in ("official", "sourced", S.PROVIDED)
            for x in xs
            if _is_cited_page(str(x.get("title", "")))
        )
    )
    ordered = sorted(leads, key=lambda r: -r.lead_score)[:TOP_LEADS]
    return ParkBrief(
        park_id=str(row[S.PARK_ID]),
        name=str(row[S.PARK_NAME]),
        place=_place(row),
        date=(day or dt.date.today()).isoformat(),
        model_version=model_version,
        facts=tuple(facts),
        designated=tuple(designated),
        sources=tuple(titles[:4]),
        leads=tuple(ordered),
        what_if=tuple(what_if),
        catalogue_summary=catalogue_summary(parks),
        points=_points(parks, {str(row[S.PARK_ID]): 1}),
        leads_note="" if leads else "未提供线索名单：用 --leads 文件（或接口请求体）给出。",
    )


# --- lead lists -----------------------------------------------------------------------------


_ERROR_ZH = {
    "missing": "必须填写",
    "extra_forbidden": "不是可识别的列",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限的数字",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "string_too_short": "不能为空",
    "string_too_long": "过长",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
}


def _lead_error(source: str, row: int, exc: ValidationError) -> ValueError:
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err.get("loc") else "(行)"
    label = S.LEAD_FIELD_ZH.get(name, name)
    template = _ERROR_ZH.get(str(err.get("type")))
    what = template.format(**err.get("ctx", {})) if template else str(err.get("msg"))
    return ValueError(f"{source} 第 {row} 行：字段“{label}”（{name}）：{what}")


def parse_leads(records: Sequence[Mapping[str, Any]], source: str = "线索") -> list[S.LeadRow]:
    """Validate lead rows (machine or Chinese keys); errors name the row and the field."""
    out: list[S.LeadRow] = []
    for i, raw in enumerate(records, start=1):
        data = {S.LEAD_HEADER_ALIASES.get(str(k).strip(), str(k).strip()): v for k, v in raw.items()}
        data = {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        try:
            out.append(S.LeadRow.model_validate(data))
        except ValidationError as exc:
            raise _lead_error(source, i, exc) from None
    return out


def leads_for_brief(
    matcher: Matcher, batch: FirmBatch, park_id: str, top: int = 10, what_if_for: int = 3
) -> tuple[list[S.LeadRow], list[str]]:
    """The park brief's leads from a firm list, through the leads path itself
    (:func:`matcher.leads.leads_for_batch`), and the what-if lines of its best leads that do not
    yet rank the park in the top 3 (:func:`matcher.whynot.why`, re-scored with the real model)."""
    found = leads_for_batch(matcher, batch, park_id, top)
    position = {int(r): i for i, r in enumerate(batch.rows)}
    rows: list[S.LeadRow] = []
    lines: list[str] = []
    for lead in found:
        own = lead["first_choice_park_id"] == park_id
        rows.append(
            S.LeadRow(
                firm_name=str(lead["firm_name"]),
                lead_score=float(lead["lead_score"]),
                relocation_pressure=lead["pressure"],
                park_rank=lead["park_rank"],
                competitor=None if own else lead["first_choice_park_name"],
                reasons=list(lead["reasons"]),
            )
        )
        rank = lead["park_rank"]
        if len(lines) < what_if_for and rank is not None and rank > TARGET_RANK:
            doc = why(matcher, batch.take(np.array([position[int(lead[S.ROW])]])), park_id)
            for change in doc["what_if"][:1]:
                lines.append(f"{lead['firm_name']}：{change['text']}")
            if not doc["what_if"]:
                lines.append(f"{lead['firm_name']}：{doc['summary']}")
    return rows, lines


def read_leads(path: Path) -> tuple[list[S.LeadRow], list[str]]:
    """A lead file: JSON (a list of rows, or ``{"leads": [...], "what_if": [...]}``) or CSV with
    one row per lead (reasons separated by ；).  Returns the rows and the what-if lines."""
    text = Path(path).read_text(encoding="utf-8-sig")
    what_if: list[str] = []
    if Path(path).suffix.lower() == ".csv":
        records: list[Mapping[str, Any]] = list(csv.DictReader(io.StringIO(text)))
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: 不是有效的 JSON（{exc}）") from exc
        if isinstance(doc, dict):
            records, what_if = doc.get("leads", []), [str(x) for x in doc.get("what_if", [])]
        else:
            records = doc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError(f"{path}: 线索应为对象列表（每条线索一个对象）")
    return parse_leads(records, str(path)), what_if
