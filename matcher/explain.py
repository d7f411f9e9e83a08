"""Reasons in Chinese, chosen by the ranker's contributions and worded from the pair's facts.

The contributions decide *which* criteria to mention (those that pushed this park up the most);
the wording quotes the underlying numbers, so every sentence can be checked against the
catalogue.  A value no source states is never quoted, and a documented estimate is marked 估,
because an officer repeats these sentences to a firm as fact.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from features import reference as R
from features import schemas as S
from features.pairs import ParkArrays
from features.precedents import Precedents, function_mask

PLATFORM_TYPE_CN = {
    "economic_development_zone": "经济开发区",
    "high_tech_zone": "高新技术产业开发区",
    "bonded_zone": "综合保税区",
    "free_trade_zone": "自贸试验区",
    "co_built_park": "京津冀共建园区",
    "concentrated_receiving_area": "集中承载地",
    "strategic_cooperation_zone": "战略合作功能区",
    "logistics_hub": "物流枢纽",
    "trade_market": "商贸市场承接平台",
    "data_center_base": "数据中心基地",
    "industrial_park": "产业园区",
    "innovation_center": "协同创新平台",
    "new_area": "新区",
    "other": "承接平台",
    "theme_town": "文旅文创特色小镇",
}
SUBSIDY_CN = {
    "tax": "税收",
    "land": "用地",
    "rent": "租金",
    "talent": "人才",
    "equipment": "设备",
    "rnd": "研发",
}
FUNCTION_CN = {
    "production": "产业项目",
    "rnd": "研发机构",
    "headquarters": "总部企业",
    "logistics": "物流企业",
    "wholesale": "批发市场商户",
    "data_center": "数据中心",
    "back_office": "后台服务机构",
    "education": "高等院校",
    "healthcare": "医疗机构",
    "research": "科研院所",
    "administration": "行政事业单位",
}
EST = "（估）"
FALLBACK_GROUPS = ("industry_chain", "proximity")
# What a group's sentence depends on besides the park, as a position in the per-firm key parts
# of ReasonWriter.write: 0 the code, partners and description, 1 the land need, 2 the talent level, 3 the
# subsidy priorities, 4 the functions; any other group (5) depends on the park alone.
_KEY_KIND = {"industry_chain": 0, "land": 1, "talent": 2, "subsidy": 3, "designation": 4, "precedent": 4}
GROUP_LABEL = {"2": "“2+4+46”集中承载地", "4": "“2+4+46”战略合作功能区", "46": "“2+4+46”专业化承接平台"}


def _industry_reason(park_codes: list[str], firm_code: str, partners: list[str]) -> str | None:
    best = None
    for code in park_codes:
        if firm_code.startswith(code) or code.startswith(firm_code[:2]):
            shared = len(code) if firm_code.startswith(code) else 2
            if best is None or shared > best[1]:
                best = (code, shared)
    if best is not None:
        code = best[0] if firm_code.startswith(best[0]) else best[0][:2]
        return f"主导产业含{R.industry_label(code)}({code})，与企业行业同链"
    partner_hits = [p for p in partners if any(c[:2] == p[:2] for c in park_codes)]
    if partner_hits:
        p = partner_hits[0]
        return f"园区有上下游配套产业{R.industry_label(p[:2])}({p[:2]})"
    linked = _io_partner(park_codes, firm_code)
    if linked is not None:
        return f"主导产业{R.industry_label(linked)}({linked})与企业所在行业投入产出关联较强"
    return None


# An input-output link is worth saying when the two sectors' direct consumption coefficients
# (both directions, NBS 2020 table) are in the upper quartile of all pairs of distinct sectors:
# nearly every pair of sectors trades a little, so "a link exists" alone would be said of any park.
IO_STRONG_QUANTILE = 0.75


@lru_cache(maxsize=1)
def _io_table() -> tuple[dict[str, int], np.ndarray, float]:
    """Sector positions, the symmetric coefficient matrix A + Aᵀ and the 'strong' threshold."""
    io = R.load_io42()
    both = io.a + io.a.T
    off_diagonal = both[~np.eye(len(io.codes), dtype=bool)]
    return {c: i for i, c in enumerate(io.codes)}, both, float(np.quantile(off_diagonal, IO_STRONG_QUANTILE))


def _io_partner(park_codes: list[str], firm_code: str) -> str | None:
    """The park's leading-industry code whose sector trades most with the firm's, when that
    trade is strong (:data:`IO_STRONG_QUANTILE`); None otherwise.  The sentence then names the
    industry that carries the link, not merely the park's first one."""
    pos, both, strong = _io_table()
    sector = R.io42_sector(firm_code) if firm_code else None
    if sector not in pos:
        return None
    row = both[pos[str(sector)]]
    best, best_value = None, strong
    for code in park_codes:
        other = R.io42_sector(code)
        value = float(row[pos[other]]) if other in pos else 0.0
        if value >= strong and (best is None or value > best_value):
            best, best_value = code, value
    return best


def _mu(need: float) -> str:
    """Land in mu as an officer would say it: one decimal below 10 mu, whole mu above."""
    return f"{need:.1f}" if need < 10 else f"{need:.0f}"


def _est(parks: ParkArrays, field: str, p: int) -> str:
    return EST if parks.estimated(field, p) else ""


def _land(parks: ParkArrays, p: int, need: float) -> str | None:
    """Only the land facts a source states: available land, a transaction price or the floor."""
    pn = parks.num
    parts = []
    if parks.known(S.AVAILABLE_LAND_MU, p):
        avail = float(pn["land"][p])
        est = _est(parks, S.AVAILABLE_LAND_MU, p)
        if need > 0:
            parts.append(f"可用土地约{avail:.0f}亩{est}，满足{_mu(need)}亩用地需求")
        else:
            parts.append(f"可用土地约{avail:.0f}亩{est}")
    if parks.known(S.LAND_PRICE, p):
        parts.append(
            f"工业用地成交价约{float(pn['price'][p]) / 1e4:.0f}万元/亩{_est(parks, S.LAND_PRICE, p)}"
        )
    elif parks.known(S.LAND_PRICE_FLOOR, p):
        grade = parks.text[S.LAND_GRADE][p]
        label = f"（{int(float(grade))}等）" if grade else ""
        parts.append(f"工业用地出让最低价标准{float(pn['floor'][p]) / 1e4:.0f}万元/亩{label}")
    return "，".join(parts) or None


def _sentence(
    g: str,
    parks: ParkArrays,
    p: int,
    code: str,
    partners: list[str],
    need: float,
    talent: float,
    priorities: list[str],
    functions: list[str],
    precedents: Precedents | None,
    description: str = "",
) -> str | None:
    """One sentence about criterion ``g`` for park ``p``, quoting only the values a source states."""
    pn = parks.num
    if g == "industry_chain":
        said = _industry_reason(parks.codes[p], code, partners)
        if said is None and description:
            word = parks.trade.shared_word(description, p)
            if word is not None:
                said = f"园区名称或主导产业与企业主营同含“{word}”"
        return said
    if g == "land":
        return _land(parks, p, need)
    if g == "talent":
        if not parks.known(S.TALENT_POOL, p):
            return None
        index = f"劳动力与城镇化指数{float(pn['talent'][p]):.2f}{_est(parks, S.TALENT_POOL, p)}"
        return f"{index}（企业人才需求{talent:.2f}）"
    if g == "subsidy":
        levels = pn["subsidies"][p]
        stated = [s for s in S.SUBSIDY_ITEMS if levels[S.SUBSIDY_ITEMS.index(s)] >= 2]
        wanted = [s for s in priorities if s in stated] or stated
        parts = []
        if wanted:
            parts.append("、".join(SUBSIDY_CN[s] for s in wanted[:3]) + "政策支持力度较大")
        if pn["keeps_reg"][p] > 0:
            parts.append("可适用药品生产异地延伸监管（保留北京注册）")
        return "，".join(parts) or None
    if g == "proximity":
        dist = f"距北京天安门约{float(pn['distance'][p]):.0f}公里{_est(parks, S.DISTANCE_KM, p)}"
        return dist + f"，铁路约{float(pn['rail'][p]):.0f}分钟{_est(parks, S.RAIL_MINUTES, p)}"
    if g == "platform":
        kind = PLATFORM_TYPE_CN.get(parks.text[S.PLATFORM_TYPE][p], "承接平台")
        group = GROUP_LABEL.get(parks.text[S.PLATFORM_GROUP][p], "")
        text = group or kind
        if parks.known(S.CAPACITY_PER_YEAR, p):
            cap = int(pn["capacity"][p])
            text += f"，年承接能力约{cap}家企业{_est(parks, S.CAPACITY_PER_YEAR, p)}"
        if pn["port"][p] > 0:
            text += f"，临近港口{_est(parks, S.PORT_ACCESS, p)}"
        return text
    if g == "designation":
        park_fns = [f for i, f in enumerate(S.FUNCTIONS) if int(pn["designated"][p]) >> i & 1]
        hit = [f for f in functions if f in park_fns]
        if hit:
            return f"{parks.text[S.PARK_NAME][p]}定向承接{'、'.join(FUNCTION_CN[f] for f in hit)}"
        return None
    if g == "precedent":
        if precedents is None:
            return None
        count = precedents.counts(function_mask(functions), p)
        if count <= 0:
            return None
        return f"所在区县已有同类迁入案例{count}起（有据可查）"
    return None


class ReasonWriter:
    """Chooses and words the reasons for many recommendations at once.

    The criteria are ordered by contribution for all rows in one NumPy call; each sentence is
    cached on exactly the values it quotes, so a batch of a million firms words each distinct
    (park, criterion, value) once.
    """

    def __init__(
        self,
        parks: ParkArrays,
        groups: tuple[str, ...],
        max_reasons: int = 4,
        min_reasons: int = 2,
        precedents: Precedents | None = None,
    ):
        self.parks = parks
        self.precedents = precedents
        self.groups = groups
        self.max_reasons = max_reasons
        self.min_reasons = min_reasons
        self._cache: dict[tuple[object, ...], str | None] = {}
        # each distinct firm value a sentence is keyed on, as a small int: a cache key is then
        # (group, park, int), which hashes without walking the value's nested tuples
        self._value_ids: dict[tuple[object, ...], int] = {}

    def write(
        self, contrib: np.ndarray, park_pos: np.ndarray, firm_pos: np.ndarray, cols: dict[str, np.ndarray]
    ) -> list[list[str]]:
        """Two to four sentences per row, strongest positive contribution first."""
        order = np.argsort(-contrib, axis=1, kind="stable")
        positive = np.take_along_axis(contrib > 0, order, axis=1)
        n_pos = positive.sum(axis=1)
        take = np.clip(n_pos, self.min_reasons, self.max_reasons)
        codes, partners = cols[S.INDUSTRY_CODE], cols[S.CHAIN_PARTNER_CODES]
        needs, talents, prios = cols[S.LAND_NEED_MU], cols[S.TALENT_LEVEL], cols[S.SUBSIDY_PRIORITIES]
        functions = cols[S.FUNCTIONS_COL]
        descriptions = cols[S.DESCRIPTION]
        cache = self._cache
        groups = self.groups
        # which of the firm's values each group's sentence is keyed on (see _KEY_KIND)
        kinds = [_KEY_KIND.get(g, 5) for g in groups]
        designated = self.parks.num["designated"].tolist()
        # Per firm, once (a firm has up to ten rows): the ids of the values its sentences are
        # keyed on, in the order of _KEY_KIND, and its function mask.
        firm_keys: dict[int, tuple[tuple[int, ...], int]] = {}
        value_ids = self._value_ids
        rows_order = order.tolist()
        rows_take = take.tolist()
        parks_of = park_pos.tolist()
        firms_of = firm_pos.tolist()
        out: list[list[str]] = []
        for j in range(len(parks_of)):
            p = parks_of[j]
            i = firms_of[j]
            fk = firm_keys.get(i)
            if fk is None:
                fns = tuple(functions[i])
                need = float(needs[i])
                values: tuple[tuple[object, ...], ...] = (
                    (0, codes[i], tuple(partners[i]), descriptions[i]),
                    (1, _mu(need) if need > 0 else "none"),
                    (2, round(float(talents[i]), 2)),
                    (3, tuple(prios[i])),
                    (4, fns),
                    (5,),
                )
                fk = firm_keys[i] = (
                    tuple(value_ids.setdefault(v, len(value_ids)) for v in values),
                    function_mask(list(fns)),
                )
            parts, fn_mask = fk
            texts: list[str] = []
            for gi in rows_order[j][: rows_take[j]]:
                g = groups[gi]
                key: tuple[object, ...] = (g, p, parts[kinds[gi]])
                text = cache.get(key)
                if text is None and key not in cache:
                    text = cache[key] = _sentence(
                        g,
                        self.parks,
                        p,
                        str(codes[i]),
                        list(partners[i]),
                        float(needs[i]),
                        float(talents[i]),
                        list(prios[i]),
                        list(functions[i]),
                        self.precedents,
                        str(descriptions[i] or ""),
                    )
                if text and text not in texts:
                    texts.append(text)
            # a designation that covers what the firm moves is policy, and always said first
            if designated[p] & fn_mask:
                key = ("designation", p, parts[4])
                if key not in cache:
                    cache[key] = _sentence(
                        "designation", self.parks, p, "", [], 0.0, 0.0, [], list(functions[i]), None
                    )
                text = cache[key]
                if text and text not in texts:
                    texts = [text, *texts][: self.max_reasons]
            # never an empty list: the industry fit and the distance are always known
            for g in FALLBACK_GROUPS:
                if len(texts) >= self.min_reasons:
                    break
                key = (g, p, parts[0 if g == "industry_chain" else 5])
                if key not in cache:
                    cache[key] = _sentence(
                        g,
                        self.parks,
                        p,
                        str(codes[i]),
                        list(partners[i]),
                        0.0,
                        0.0,
                        [],
                        [],
                        None,
                        str(descriptions[i] or ""),
                    )
                text = cache[key]
                if text and text not in texts:
                    texts.append(text)
            out.append(texts)
        return out
