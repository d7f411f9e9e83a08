"""Why not my park, what would change it, and parks side by side, for one firm.

``why`` answers an officer whose park did not come first: its rank and score among the firm's
options, the gap to #1 and to #3 per criterion and per reason, the hard rule that removes it,
and what about the firm would have to differ.  ``what_if`` looks for the smallest change in the
park's own offer (land price, available land, subsidy items, the talent programme) that lifts it
into the top 3, by applying each candidate change to a copy of the catalogue
(:meth:`matcher.core.Matcher.with_catalogue`) and re-scoring with the served model: there is no
second formula, so a change it reports is a change the model really rewards.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features import schemas as S
from features.validation import FirmBatch
from matcher.core import Matcher
from matcher.explain import SUBSIDY_CN
from matcher.parkside import (
    CRITERION_ZH,
    GROUP_ZH,
    Standing,
    criteria_dict,
    criterion_gap,
    gap_sentence,
    park_position,
    standing,
)

TARGET_RANK = 3
PRICE_STEPS = (0.9, 0.8, 0.7, 0.6, 0.5)
LAND_STEPS = (1.5, 2.0, 3.0)
SUBSIDY_MAX = 3
# What an officer would have to change about the firm, by the criterion the park is behind in.
FIRM_SIDE: dict[str, str] = {
    "proximity": f"企业对北京的依存度（{S.FIELD_ZH[S.BEIJING_TIES]}）更低，或可接受的最大距离更远",
    "land": f"企业的用地需求（{S.FIELD_ZH[S.LAND_NEED_MU]}）更小",
    "talent": f"企业的人才需求（{S.FIELD_ZH[S.TALENT_LEVEL]}）更低",
    "subsidy": f"企业的政策偏好（{S.FIELD_ZH[S.SUBSIDY_PRIORITIES]}）与园区政策更契合",
    "industry_chain": "企业的行业或上下游与园区主导产业更接近",
    "designation": "企业迁移的功能属于园区定向承接的功能",
    "precedent": "所在区县有更多同类企业的迁入案例",
    "platform": "企业对平台类型、港口或承接能力的要求不同",
}
RULE_NEEDS: dict[str, str] = {
    "land": "企业的用地需求不超过园区可用土地",
    "distance": "企业可接受的最大距离不小于园区距北京的距离",
    "pollution": "企业的污染等级不高于园区准入上限",
    "port": "企业不要求港口",
    "restricted_industry": "企业行业不在园区限制或禁止之列（园区一侧的规定，企业无法改变）",
    "purpose": "企业迁移的功能属于该专门场地承接的功能（园区一侧的定位，企业无法改变）",
    "theme": "企业行业属于该特色小镇的主题产业（园区一侧的定位，企业无法改变）",
    "beijing_ban": "企业迁移的不只是数据中心（北京市的禁限规定，企业无法改变）",
}


def _park_brief(st: Standing, i: int, c: int) -> dict[str, Any]:
    p = st.park(i, c)
    return {
        "park_id": str(st.matcher.park_arrays.ids[p]),
        "park_name": st.matcher.park_arrays.text[S.PARK_NAME][p],
        "score": round(st.score(i, c), 6),
    }


def why(matcher: Matcher, batch: FirmBatch, park_id: str, what_if_search: bool = True) -> dict[str, Any]:
    """Where ``park_id`` stands for the single firm of ``batch`` (see the module docstring)."""
    p = park_position(matcher, park_id)
    st = standing(matcher, batch, [p])
    out = _why(st, 0, 0)
    if what_if_search and out["rank"] is not None and out["rank"] > TARGET_RANK:
        changes, text = what_if(matcher, batch, park_id)
        out["what_if"] = changes
        out["summary"] += text
    return out


def _why(st: Standing, i: int, j: int) -> dict[str, Any]:
    m = st.matcher
    p = int(st.asked[j])
    name = m.park_arrays.text[S.PARK_NAME][p]
    n_options = int(st.n_options[i])
    first = st.at(i, 1)
    out: dict[str, Any] = {
        "park_id": str(m.park_arrays.ids[p]),
        "park_name": name,
        "rank": None,
        "n_candidates": n_options,
        "score": None,
        "excluded_by": [],
        "top1": _park_brief(st, i, first) if first >= 0 else None,
        "gap_to_top1": {},
        "gap_to_top3": {},
        "reasons": [],
        "needs_to_change": [],
        "what_if": [],
        "summary": "",
    }
    removed = st.removal(i, j)
    if removed is not None:
        rule, detail = removed
        out["excluded_by"] = [f"{rule}：{detail}"]
        out["needs_to_change"] = [RULE_NEEDS.get(rule, detail)]
        need = RULE_NEEDS.get(rule, detail)
        out["summary"] = f"本园区被硬性条件排除（{detail}），未参与排名；需要：{need}。"
        return out
    c = int(st.col[i, j])
    rank = int(st.rank[i, j])
    ours_crit = st.criteria(i, c)
    ours_contrib = st.contributions(i, c)
    groups = m.ranker.contrib_groups_
    out["rank"] = rank
    out["score"] = round(st.score(i, c), 6)
    out["reasons"] = st.reasons(i, [c])[0]
    third = st.at(i, TARGET_RANK)
    if first >= 0:
        out["gap_to_top1"] = criterion_gap(ours_crit, st.criteria(i, first))
    if third >= 0:
        out["gap_to_top3"] = criterion_gap(ours_crit, st.criteria(i, third))
    if rank == 1:
        second = st.at(i, 2)
        lead = ""
        if second >= 0:
            lead = f"，领先第2位{m.park_arrays.text[S.PARK_NAME][st.park(i, second)]}"
        out["summary"] = f"本园区排第1位（共{n_options}个可选园区）{lead}，是该企业的首选。"
        return out
    behind = st.contributions(i, first)
    where = gap_sentence(ours_contrib, behind, groups)
    top1 = out["top1"]["park_name"]
    text = f"本园区排第{rank}位（共{n_options}个可选园区）；首选是{top1}"
    if where:
        text += f"，差距主要在{where}"
    if rank > TARGET_RANK and third >= 0:
        gap3 = gap_sentence(ours_contrib, st.contributions(i, third), groups)
        third_name = m.park_arrays.text[S.PARK_NAME][st.park(i, third)]
        text += f"；与第{TARGET_RANK}位{third_name}相比" + (f"差在{gap3}" if gap3 else "得分略低")
    out["summary"] = text + "。"
    diff = np.asarray(behind) - ours_contrib
    out["needs_to_change"] = [
        FIRM_SIDE[groups[g]] for g in np.argsort(-diff)[:2] if diff[g] > 1e-6 and groups[g] in FIRM_SIDE
    ]
    out["gap_reasons"] = {
        GROUP_ZH.get(groups[g], groups[g]): round(float(diff[g]), 4) for g in range(len(groups))
    }
    return out


# --- what-if --------------------------------------------------------------------------------


def _changes(row: pd.Series, need: float) -> Iterator[tuple[str, float | None, float, str]]:
    """Candidate changes of the park's offer, smallest first within each field:
    (field, from, to, Chinese text of the change)."""
    price = row[S.LAND_PRICE]
    floor = row[S.LAND_PRICE_FLOOR]
    lo = float(floor) if _known(floor) else 0.0
    if _known(price):
        for step in PRICE_STEPS:
            to = round(float(price) * step / 1e4) * 1e4
            if to >= lo and to < float(price):
                yield S.LAND_PRICE, float(price), to, f"工业用地价格降至{to / 1e4:.0f}万元/亩"
    elif lo > 0:
        yield S.LAND_PRICE, None, lo, f"按出让最低价标准{lo / 1e4:.0f}万元/亩供地"
    land = row[S.AVAILABLE_LAND_MU]
    if _known(land):
        base = float(land)
        targets = [max(base, need)] if need > base else []
        targets += [base * s for s in LAND_STEPS]
        for to in sorted({round(t) for t in targets if t > base}):
            yield S.AVAILABLE_LAND_MU, base, float(to), f"可用土地增至{to:.0f}亩"
    elif need > 0:
        for to in sorted({round(need * s) for s in (1.0, *LAND_STEPS)}):
            yield S.AVAILABLE_LAND_MU, None, float(to), f"明确可供用地{to:.0f}亩"
    for item, col in zip(S.SUBSIDY_ITEMS, S.SUBSIDY_COLUMNS, strict=True):
        now = float(row[col]) if _known(row[col]) else None
        for level in range(int(now or 0) + 1, SUBSIDY_MAX + 1):
            label = "人才引进项目" if item == "talent" else f"{SUBSIDY_CN[item]}支持政策"
            yield col, now, float(level), f"{label}力度提高到{level}级（0-3级）"


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def rank_with(matcher: Matcher, batch: FirmBatch, park_id: str, values: dict[str, float]) -> int | None:
    """The park's rank in the firm's recommendation when the catalogue states ``values`` for it,
    re-scored by the served model over a copy of the catalogue; None if the firm would then not
    be shown the park at all: a hard rule removes it, or retrieval no longer returns it (a
    changed offer also moves the park's vector in the FAISS space)."""
    parks = matcher.parks.copy()
    row = parks.index[parks[S.PARK_ID] == park_id][0]
    for col, value in values.items():
        parks[col] = parks[col].astype(object)
        parks.at[row, col] = value
    m = matcher.with_catalogue(parks)
    st = standing(m, batch, [park_position(m, park_id)])
    retrieved = st.cands.parks.shape[1] - len(st.asked)  # with_parks appends the asked parks
    if st.col[0, 0] < 0 or st.col[0, 0] >= retrieved:
        return None  # removed, or only there because it was asked about
    rank = int(st.rank[0, 0])
    return rank or None


def what_if(
    matcher: Matcher, batch: FirmBatch, park_id: str, target: int = TARGET_RANK
) -> tuple[list[dict[str, Any]], str]:
    """For each field of the park's offer, the smallest change that lifts the park to ``target``
    or better, each verified by re-scoring; and a Chinese sentence saying so, or that no feasible
    change of one field, nor all of them together, does it."""
    row = matcher.parks.loc[matcher.parks[S.PARK_ID] == park_id].iloc[0]
    need = float(batch.cols[S.LAND_NEED_MU][0])
    by_field: dict[str, list[tuple[float | None, float, str]]] = {}
    for field, old, new, text in _changes(row, need):
        by_field.setdefault(field, []).append((old, new, text))
    found: list[dict[str, Any]] = []
    best_single: dict[str, tuple[float, int | None, str]] = {}
    for field, steps in by_field.items():
        # the largest change first: if even that does not reach the target, no smaller one will
        # be tried; otherwise the smallest change that does is searched from the bottom up
        old, new, text = steps[-1]
        rank = rank_with(matcher, batch, park_id, {field: new})
        best_single[field] = (new, rank, text)
        if rank is None or rank > target:
            continue
        chosen = (old, new, text, rank)
        for step in steps[:-1]:
            smaller = rank_with(matcher, batch, park_id, {field: step[1]})
            if smaller is not None and smaller <= target:
                chosen = (*step, smaller)
                break
        old, new, text, rank = chosen
        found.append(
            {
                "field": field,
                "from": old,
                "to": new,
                "new_rank": rank,
                "text": f"若{text}，排名升至第{rank}",
                "changes": {field: new},
            }
        )
    if found:
        found.sort(key=lambda w: (w["new_rank"], w["field"]))
        return found, "可行的调整：" + "；".join(w["text"] for w in found) + "。"
    if not best_single:
        return [], "园区的地价、用地、政策与人才项目均无可调整的已知数据，无法推算。"
    # together: every field whose largest change does not lower the park on its own (a stated
    # value can score below an unknown one, e.g. available land below what the firm would want)
    now = rank_with(matcher, batch, park_id, {})
    helping = {f: v for f, v in best_single.items() if v[1] is not None and now is not None and v[1] <= now}
    combined = {f: v[0] for f, v in helping.items()}
    rank = rank_with(matcher, batch, park_id, combined) if combined else now
    if combined and rank is not None and rank <= target:
        texts = "，且".join(v[2] for v in helping.values())
        change = {
            "field": "+".join(combined),
            "from": None,
            "to": None,
            "new_rank": rank,
            "changes": combined,
        }
        text = f"若{texts}，排名升至第{rank}"
        return [{**change, "text": text}], f"单项调整不足以进入前{target}，需同时调整：{text}。"
    best = min((v[1] for v in best_single.values() if v[1] is not None), default=None)
    tail = f"（单项调整最好排第{best}位，有利的调整同时实施后排第{rank}位）" if best and rank else ""
    return [], f"在可行范围内调整地价、用地、政策与人才项目都不能使本园区进入前{target}{tail}。"


# --- compare --------------------------------------------------------------------------------


def compare(matcher: Matcher, batch: FirmBatch, park_ids: Sequence[str]) -> dict[str, Any]:
    """The asked parks side by side for one firm: rank, score, criteria, reasons, provenance."""
    positions = [park_position(matcher, pid) for pid in park_ids]
    st = standing(matcher, batch, positions)
    prov = matcher.park_arrays.prov
    out: list[dict[str, Any]] = []
    for j, p in enumerate(positions):
        c = int(st.col[0, j])
        removed = st.removal(0, j)
        out.append(
            {
                "park_id": str(matcher.park_arrays.ids[p]),
                "park_name": matcher.park_arrays.text[S.PARK_NAME][p],
                "rank": int(st.rank[0, j]) or None,
                "score": round(st.score(0, c), 6) if c >= 0 else None,
                "criteria": criteria_dict(st.criteria(0, c)) if c >= 0 else dict.fromkeys(S.CRITERIA),
                "reasons": st.reasons(0, [c])[0] if c >= 0 else [],
                "excluded_by": [f"{removed[0]}：{removed[1]}"] if removed else [],
                "provenance": {f: str(prov[f][p]) for f in S.PARK_DECISION_FIELDS},
            }
        )
    return {"parks": out, "criteria_zh": CRITERION_ZH}
