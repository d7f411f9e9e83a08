"""Chinese labels the pages show, in one place, and the reference data the map draws.

The scoring code's own label tables (:mod:`matcher.explain`) are reused so a platform type or a
subsidy reads the same in a reason, a batch file and a page.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from features import schemas as S
from features.corrections import CORRECTABLE_FIELDS
from features.reference import load_counties
from matcher.explain import FUNCTION_CN, PLATFORM_TYPE_CN, SUBSIDY_CN

# "provided": a value an organisation proposed with its source and its admin approved (更正).
PROVENANCE_ZH = {
    "official": "官方",
    "sourced": "有来源",
    "provided": "机构提供",
    "estimated": "估",
    "unknown": "未知",
}
ROLE_ZH = {"viewer": "只读", "officer": "招商专员", "admin": "管理员"}
CRITERIA_ZH = {c: S.OUTPUT_HEADERS_ZH[c] for c in S.CRITERIA}
OUTCOME_ZH = {
    "shortlisted": "已列入候选",
    "visited": "已考察",
    "signed": "已签约",
    "landed": "已落地",
    "rejected": "已放弃",
}
POLLUTION_ZH = {"low": "低", "medium": "中", "high": "高"}
LEVEL_ZH = {"national": "国家级", "provincial": "省级", "platform": "承接平台", "other": "其他"}
# What the firm moves, as the form asks it (the reasons' wording, 产业项目, suits a sentence).
FUNCTION_FORM_ZH = {
    "production": "生产制造",
    "rnd": "研发",
    "headquarters": "总部",
    "logistics": "仓储物流",
    "wholesale": "批发市场",
    "data_center": "数据中心",
    "back_office": "后台服务",
    "education": "教育培训",
    "healthcare": "医疗",
    "research": "科研院所",
    "administration": "行政事业单位",
}
# Why a firm gave a park up, as the 跟进 form asks it and the funnel counts it.
REJECT_REASON_ZH = dict(S.REJECT_REASONS_ZH)
CORRECTION_STATUS_ZH = {"pending": "待审核", "approved": "已批准", "rejected": "已驳回"}
JOB_STATUS_ZH = {"queued": "排队中", "running": "匹配中", "done": "已完成", "failed": "失败"}

# A park's values as the park page lists them: (label, how to read the stored value).
PARK_FIELDS: tuple[tuple[str, str], ...] = (
    (S.LAT, "纬度"),
    (S.LNG, "经度"),
    (S.INDUSTRY_CODES, "主导产业代码"),
    (S.APPROVED_AREA_HA, "核准面积（公顷）"),
    (S.APPROVED_DATE, "批准时间"),
    (S.AVAILABLE_LAND_MU, "可用土地（亩）"),
    (S.LAND_PRICE, "工业地价（元/亩）"),
    (S.LAND_PRICE_FLOOR, "工业用地出让最低价（元/亩）"),
    (S.LAND_GRADE, "工业用地等别"),
    (S.TALENT_POOL, "人才储备指数（0-1）"),
    *((f"subsidy_{item}", f"{SUBSIDY_CN[item]}政策力度（0-3）") for item in S.SUBSIDY_ITEMS),
    (S.KEEPS_BEIJING_REGISTRATION, "可保留北京注册"),
    (S.RAIL_MINUTES, "至北京轨道交通（分钟）"),
    (S.DISTANCE_KM, "距天安门（公里）"),
    (S.PORT_ACCESS, "临港"),
    (S.RESTRICTED_INDUSTRIES, "限制产业"),
    (S.MAX_POLLUTION_LEVEL, "准入污染等级上限"),
    (S.CAPACITY_PER_YEAR, "年承接能力（家）"),
    (S.DESIGNATED_FUNCTIONS, "定向承接功能"),
    (S.DESIGNATED_INDUSTRIES, "定向承接产业"),
)


def correction_fields() -> list[dict[str, str]]:
    """The 提交更正 form's 字段 options (the fields :mod:`features.corrections` accepts), each with
    its label on the park page and how the form asks for it: a number, a 0–3 policy level, GB/T
    codes or designated functions."""
    labels = dict(PARK_FIELDS)
    kinds = {S.RESTRICTED_INDUSTRIES: "codes", S.DESIGNATED_FUNCTIONS: "functions"}
    kinds |= dict.fromkeys(S.SUBSIDY_COLUMNS, "level")
    return [
        {"field": f, "label": labels.get(f) or S.PARK_FIELD_ZH.get(f, f), "kind": kinds.get(f, "number")}
        for f in CORRECTABLE_FIELDS
    ]


def page_labels() -> dict[str, Any]:
    """Everything the scripts need to speak Chinese, sent once as JSON."""
    return {
        "criteria": CRITERIA_ZH,
        "functions": FUNCTION_FORM_ZH,
        "function_cn": FUNCTION_CN,
        "subsidies": SUBSIDY_CN,
        "pollution": POLLUTION_ZH,
        "platform_types": PLATFORM_TYPE_CN,
        "levels": LEVEL_ZH,
        "outcomes": OUTCOME_ZH,
        "provenance": PROVENANCE_ZH,
        "states": S.STATE_ZH,
        "fields": S.FIELD_ZH,
        "job_status": JOB_STATUS_ZH,
        "roles": ROLE_ZH,
        "reject_reasons": REJECT_REASON_ZH,
        "correction_status": CORRECTION_STATUS_ZH,
        "correction_fields": correction_fields(),
        "provinces": list(S.PROVINCES),
    }


@lru_cache(maxsize=1)
def map_reference() -> dict[str, Any]:
    """County points of ``data/jjj_counties.csv`` (its source is in ``data/SOURCES.md``) and 天安门."""
    counties = load_counties()
    known = counties.dropna(subset=[S.LAT, S.LNG])
    points = [
        {"name": str(name), "province": str(prov), "city": str(city), "lat": float(lat), "lng": float(lng)}
        for name, prov, city, lat, lng in zip(
            known["name"], known["province"], known["prefecture"], known[S.LAT], known[S.LNG], strict=True
        )
    ]
    return {
        "center": {"name": "天安门", "lat": S.BEIJING_LAT, "lng": S.BEIJING_LNG},
        "rings_km": [50, 100, 150, 200],
        "counties": points,
        "source": "data/jjj_counties.csv（来源见 data/SOURCES.md）",
    }


def show_value(value: Any, provenance: str) -> str:
    """A park value as the page prints it: 未知 for unknown, （估） after an estimate, never a
    made-up number for a value no source states."""
    if provenance == "unknown" or value is None or (isinstance(value, float) and math.isnan(value)):
        return "未知"
    if isinstance(value, bool):
        text = "是" if value else "否"
    elif isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    elif isinstance(value, list):
        text = "、".join(FUNCTION_FORM_ZH.get(str(v), str(v)) for v in value) if value else "无"
    else:
        text = POLLUTION_ZH.get(str(value), str(value))
    return text + ("（估）" if provenance == "estimated" else "")


def park_rows(park: S.ParkProfile) -> list[dict[str, Any]]:
    """Each value of ``park`` with its provenance label and its first source, for the park page."""
    flat = park.model_dump()
    for item, level in park.subsidies.model_dump().items():
        flat[item if item == S.KEEPS_BEIJING_REGISTRATION else f"subsidy_{item}"] = level
    rows = []
    for field, label in PARK_FIELDS:
        prov = park.provenance.get(field, "unknown")
        sources = park.field_sources.get(field, [])
        rows.append(
            {
                "field": field,
                "label": label,
                "value": show_value(flat.get(field), prov),
                "provenance": prov,
                "provenance_zh": PROVENANCE_ZH.get(prov, "未知"),
                "sources": [s.model_dump() for s in sources],
                "reprint_only": field in park.reprint_only,
            }
        )
    return rows
