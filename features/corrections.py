"""Values an organisation provides for its parks, laid over the catalogue at retraining.

A park's officers know this year's land price, the subsidy terms and what the park will not
take better than any published catalogue.  An officer proposes a value with its source (a URL
or a document's name), an admin of the same organisation approves it, and the next retrain lays
every approved value over the one shared catalogue (:func:`apply_corrections`).  The value then
carries provenance ``provided`` (机构提供) and a field source naming the organisation and the
approving key, so an officer reading the park knows who vouches for the number and on what
basis; the catalogue's own value is kept in the field's history.

Only the fields an organisation can know first-hand are correctable: land price and available
land, the subsidy levels, restricted industries and designated functions.  Everything here is
pure (no database): the API stores proposals and decisions, the composition root reads the
approved ones and passes them to :func:`apply_corrections` before training.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from features import reference as R
from features import schemas as S

log = logging.getLogger("parkmatch.features")

CORRECTABLE_FIELDS: tuple[str, ...] = (
    S.LAND_PRICE,
    S.AVAILABLE_LAND_MU,
    *S.SUBSIDY_COLUMNS,
    S.RESTRICTED_INDUSTRIES,
    S.DESIGNATED_FUNCTIONS,
)
LIST_FIELDS: frozenset[str] = frozenset({S.RESTRICTED_INDUSTRIES, S.DESIGNATED_FUNCTIONS})
# A price below this is almost surely written in 万元 rather than 元 per mu (the catalogue's
# documented prices lie between 35 and 50 万元/亩); refused so a slip does not make a park free.
MIN_LAND_PRICE = 1_000.0
MAX_LAND_PRICE = 1e8
MAX_LAND_MU = 1e6
SUBSIDY_MAX = 3
PROVIDED_TITLE = "机构提供：{org}（审核 {approver}），依据：{source}"


@dataclass(frozen=True)
class ApprovedCorrection:
    """One approved value, as the retrain reads it from the database."""

    id: int
    park_id: str
    field: str
    value: Any
    source: str
    org: str
    approved_by: str
    decided: datetime


def field_label(field: str) -> str:
    """``工业用地价格（land_price_cny_per_mu）``: the name an officer knows, and the API's."""
    return f"{S.PARK_FIELD_ZH.get(field, field)}（{field}）"


def correctable_list() -> str:
    return "、".join(field_label(f) for f in CORRECTABLE_FIELDS)


def _number(field: str, value: Any) -> float:
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer beyond any float
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{field_label(field)}应为数字，收到 {str(value)[:40]!r}")
    return number


def _items(field: str, value: Any) -> list[str]:
    """A list of strings, or one string separated by ; ； , ， or spaces, stripped, de-duplicated."""
    if isinstance(value, str):
        parts = value.replace("；", ";").replace("，", ";").replace(",", ";").replace(" ", ";").split(";")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = value
    else:
        raise ValueError(f"{field_label(field)}应为字符串列表，收到 {value!r}")
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def validate_value(field: str, value: Any) -> Any:
    """The value in the catalogue's own form (float, int level or list of strings), or a
    ``ValueError`` whose Chinese message names the field: an officer reads it as the answer to
    the proposal, so it says what is wrong and what is expected."""
    if field not in CORRECTABLE_FIELDS:
        raise ValueError(f"“{field}”不是可更正的园区字段；可更正的字段：{correctable_list()}")
    label = field_label(field)
    if value is None:
        raise ValueError(f"{label}缺少取值")
    if field == S.LAND_PRICE:
        price = _number(field, value)
        if price <= 0:
            raise ValueError(f"{label}应为大于 0 的数字（元/亩），收到 {value!r}")
        if price < MIN_LAND_PRICE:
            raise ValueError(f"{label}的单位是元/亩，{value!r} 元/亩过低，是否按万元填写？请换算为元/亩")
        if price > MAX_LAND_PRICE:
            raise ValueError(f"{label}的单位是元/亩，{value!r} 元/亩超出合理范围")
        return price
    if field == S.AVAILABLE_LAND_MU:
        land = _number(field, value)
        if land < 0 or land > MAX_LAND_MU:
            raise ValueError(f"{label}应为 0 到 {MAX_LAND_MU:.0f} 之间的亩数，收到 {value!r}")
        return land
    if field in S.SUBSIDY_COLUMNS:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SUBSIDY_MAX:
            raise ValueError(f"{label}应为 0、1、2 或 3 级（整数，3 级力度最大），收到 {value!r}")
        return value
    items = _items(field, value)
    if field == S.RESTRICTED_INDUSTRIES:
        bad = [c for c in items if not R.is_industry_code(c)]
        if bad:
            raise ValueError(
                f"{label}含未知的国民经济行业分类（GB/T 4754-2017）代码：{'、'.join(bad)}；"
                "请填写 2-4 位数字代码，如 2710"
            )
        return items
    bad = [f for f in items if f not in S.FUNCTIONS]
    if bad:
        raise ValueError(f"{label}含未知的功能：{'、'.join(bad)}；可选：{'、'.join(S.FUNCTIONS)}")
    return items


def is_url(source: str) -> bool:
    return source.strip().lower().startswith(("http://", "https://"))


def provided_source(org: str, approved_by: str, source: str) -> dict[str, str]:
    """The field source of a provided value: who provided it, who approved it, on what basis."""
    source = source.strip()
    return {
        "url": source if is_url(source) else "",
        "title": PROVIDED_TITLE.format(org=org, approver=approved_by, source=source),
        "source_class": S.ORGANISATION_SOURCE,
    }


def plain(field: str, value: Any) -> Any:
    """A catalogue cell as JSON: ``None`` for unknown, an int for a subsidy level, a float for a
    number and a list of strings for a list (the form history rows and the API show)."""
    if field in LIST_FIELDS:
        return [str(v) for v in value] if value is not None and not isinstance(value, float) else []
    if R.is_blank(value):
        return None
    number = float(value)
    return int(number) if field in S.SUBSIDY_COLUMNS else number


def current_value(parks: pd.DataFrame, park_id: str, field: str) -> tuple[Any, str | None]:
    """A park's value of ``field`` and its provenance in ``parks``; ``(None, None)`` when the
    catalogue has no such park."""
    hit = parks.index[parks[S.PARK_ID].astype(str) == park_id]
    if len(hit) == 0:
        return None, None
    row = parks.loc[hit[0]]
    return plain(field, row[field]), R.park_provenance(row.to_dict()).get(field, "unknown")


def apply_corrections(
    parks: pd.DataFrame, corrections: Sequence[ApprovedCorrection]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A copy of ``parks`` with every approved value laid over, and one change per (park, field).

    For each (park, field) the latest decision wins (ties by id), because a later approval is
    the organisation's newer knowledge.  The value is set in the catalogue's own form, the
    field's provenance becomes ``provided`` and its field sources are replaced by the one that
    names the organisation, the approving key and the cited source, so the park served after
    the retrain says where the value came from.  A correction for a park no longer in the
    catalogue, or whose value no longer validates (a code table changed), is skipped and logged:
    one stale proposal must not stop a retrain.  Each change records the value and provenance
    it replaced, for the field's history.
    """
    out = parks.copy().reset_index(drop=True)
    position = {str(pid): i for i, pid in enumerate(out[S.PARK_ID])}
    latest: dict[tuple[str, str], ApprovedCorrection] = {}
    for c in sorted(corrections, key=lambda c: (c.decided, c.id)):
        latest[(c.park_id, c.field)] = c
    records = out.to_dict("records")
    provenance = [R.park_provenance(r) for r in records]
    sources: list[dict[str, Any]] = [
        json.loads(t) if isinstance(t, str) and t else {}
        for t in (out[S.FIELD_SOURCES] if S.FIELD_SOURCES in out.columns else [""] * len(out))
    ]
    columns: dict[str, list[Any]] = {}
    changes: list[dict[str, Any]] = []
    for (park_id, field), c in latest.items():
        p = position.get(park_id)
        if p is None:
            log.warning("correction %d: park %s is not in the catalogue; skipped", c.id, park_id)
            continue
        try:
            value = validate_value(field, c.value)
        except ValueError as exc:
            log.warning("correction %d no longer validates (%s); skipped", c.id, exc)
            continue
        col = columns.setdefault(field, list(out[field]))
        old, old_prov = plain(field, col[p]), provenance[p].get(field, "unknown")
        col[p] = list(value) if field in LIST_FIELDS else float(value)
        provenance[p][field] = S.PROVIDED
        sources[p][field] = [provided_source(c.org, c.approved_by, c.source)]
        changes.append(
            {
                "park_id": park_id,
                "field": field,
                "old": old,
                "new": plain(field, col[p]),
                "old_provenance": old_prov,
                "new_provenance": S.PROVIDED,
                "correction_id": c.id,
            }
        )
    for field, values in columns.items():
        dtype = object if field in LIST_FIELDS else float
        out[field] = pd.Series(values, index=out.index, dtype=dtype)
    out[S.PROVENANCE] = [json.dumps(p, ensure_ascii=False) for p in provenance]
    out[S.FIELD_SOURCES] = [json.dumps(s, ensure_ascii=False) for s in sources]
    return out, changes
