"""Hard constraints: parks a firm cannot go to, whatever the ranker would say.

They are applied at retrieval, before ranking, and each removal keeps the rule that caused it
so an officer can be told why a park is missing ("--explain-excluded").  A rule about the firm's
own needs (pollution, land, distance, port) binds only when the officer gave that value: an
imputed industry-typical value is a guess, good enough to rank on but not to rule a park out.
The park's restricted industries always bind.  A site built for one trade (a wholesale market, a
logistics hub, a data centre base) or for public administration alone (the 副中心's 行政办公区;
:func:`features.pairs.purpose_mask`) takes only the functions it was designated for, or, with no
designation on record, its platform's own trade; it binds when the officer gave the firm's
functions, except at the office district, where the function imputed from the firm's code
decides (only divisions 91-95 impute administration).  A themed cultural or tourism town
(:data:`features.pairs.THEME_PLATFORM`) takes the trades of its theme; like the restricted
industries it reads the firm's code, given or inferred.  No park in Beijing takes a data centre
moved on its own (the city bans new ones; :data:`features.pairs.CAPITAL_BANNED_FUNCTIONS`), when
the officer gave the functions.
"""

from __future__ import annotations

import numpy as np

from features import reference as R
from features import schemas as S
from features.pairs import FirmArrays, ParkArrays, capital_banned, code_of_ids
from features.validation import function_label
from matcher.explain import PLATFORM_TYPE_CN

# Rule codes; 0 means feasible.  The order is the order in which a removal is attributed.
RULES: tuple[str, ...] = (
    "restricted_industry",
    "pollution",
    "land",
    "distance",
    "port",
    "purpose",
    "theme",
    "beijing_ban",
)
RULE_TEXT: dict[str, str] = {
    "restricted_industry": "园区限制或禁止该行业入驻",
    "pollution": "企业污染等级高于园区准入上限",
    "land": "可用土地少于企业用地需求",
    "distance": "距北京超过企业可接受的最大距离",
    "port": "企业需要港口，园区不临港",
    "purpose": "园区为专门承接特定功能的场地，不承接企业迁移的功能",
    "theme": "园区为文旅文创特色小镇，只承接其主题产业",
    "beijing_ban": "北京市全市禁止新建和扩建数据中心",
}


def infeasibility(firms: FirmArrays, parks: ParkArrays) -> np.ndarray:
    """(n_firms, n_parks) uint8: 0 if the park is allowed, else 1 + index of the first rule broken."""
    n = firms.code_ids.shape[0]
    p = len(parks)
    all_parks = np.broadcast_to(np.arange(p), (n, p))
    ids_pad = np.where(
        firms.code_ids < 0,
        np.array([parks.restricted.exact[j].shape[1] - 1 for j in range(3)]),
        firms.code_ids,
    )
    g = firms.given
    checks = (
        parks.restricted.covers(all_parks, ids_pad),
        g[S.POLLUTION_LEVEL][:, None] & (firms.num["pollution"][:, None] > parks.num["pollution"][None, :]),
        g[S.LAND_NEED_MU][:, None] & (firms.num["land_need"][:, None] > parks.num["land"][None, :]),
        g[S.MAX_DISTANCE_KM][:, None] & (parks.num["distance"][None, :] > firms.num["max_distance"][:, None]),
        g[S.NEEDS_PORT][:, None] & (firms.num["needs_port"][:, None] > 0) & (parks.num["port"][None, :] == 0),
        (g[S.FUNCTIONS_COL][:, None] | parks.num["office"][None, :])
        & (parks.num["purpose"][None, :] != 0)
        & ((firms.fn_mask[:, None] & parks.num["purpose"][None, :]) == 0),
        _off_theme(parks, ids_pad),
        (g[S.FUNCTIONS_COL] & capital_banned(firms.fn_mask))[:, None] & parks.num["capital"][None, :],
    )
    out = np.zeros((n, p), dtype=np.uint8)
    for code in range(len(checks), 0, -1):
        out = np.where(checks[code - 1], np.uint8(code), out)
    return out


def _off_theme(parks: ParkArrays, ids: np.ndarray) -> np.ndarray:
    """(n, P) bool: the park is a themed town and the firm's code is not of its theme; computed
    on the towns' columns alone (three of some three hundred parks)."""
    out = np.zeros((ids.shape[0], len(parks)), dtype=bool)
    towns = np.flatnonzero(parks.num["theme"])
    if len(towns):
        out[:, towns] = ~parks.theme.within(np.broadcast_to(towns, (ids.shape[0], len(towns))), ids)
    return out


def explain_rule(code: int, firms: FirmArrays, parks: ParkArrays, i: int, p: int) -> tuple[str, str]:
    """(rule name, Chinese detail with the numbers) for one removed (firm, park) pair."""
    rule = RULES[code - 1]
    pn, fn = parks.num, firms.num
    if rule == "land":
        detail = f"可用土地约{pn['land'][p]:.0f}亩，企业需要{fn['land_need'][i]:.0f}亩"
    elif rule == "distance":
        detail = f"距北京{pn['distance'][p]:.0f}公里，超过企业上限{fn['max_distance'][i]:.0f}公里"
    elif rule == "purpose":
        takes = _function_words(int(pn["purpose"][p]))
        moves = _function_words(int(firms.fn_mask[i]))
        if not firms.given[S.FUNCTIONS_COL][i]:
            moves += "（按行业估计）"
        if int(pn["designated"][p]):
            detail = f"园区专门承接{takes}，企业迁移的是{moves}"
        else:  # no designation found: the site's platform type says what it takes
            kind = PLATFORM_TYPE_CN.get(parks.text[S.PLATFORM_TYPE][p], "专门场地")
            detail = f"园区是{kind}（未查到定向承接文件），按其类型承接{takes}，企业迁移的是{moves}"
    elif rule == "theme":
        takes = "、".join(R.industry_label(c) for c in parks.theme_codes[p])
        firm_code = code_of_ids(firms.code_ids[i])
        detail = (
            f"园区是文旅文创特色小镇，只承接{takes}；企业行业为{R.industry_label(firm_code)}（{firm_code}）"
        )
    elif rule == "beijing_ban":
        detail = (
            "北京市新增产业禁限目录（2018年版）全市禁止新建和扩建数据中心（PUE低于1.4的云计算数据中心除外），"
            "企业迁移的仅为数据中心"
        )
    else:
        detail = RULE_TEXT[rule]
    return rule, detail


def _function_words(mask: int) -> str:
    """The functions of a bitmask over ``S.FUNCTIONS`` in the words officers use (生产、批发 …)."""
    return "、".join(function_label(f) for k, f in enumerate(S.FUNCTIONS) if mask >> k & 1) or "未列明的功能"
