"""Why a firm has no feasible park, and the smallest change that would give it one.

A firm whose hard rules rule out every park used to vanish from batch output.  An officer can act
on "the nearest park with a port is 150 km from Beijing, beyond the 100 km limit" but not on an
empty list, so for each such firm this module names the rules that bind and, for each need the
officer gave (pollution, land, distance, port), what relaxing only that need would open up.
It uses the same :func:`matcher.constraints.infeasibility` as retrieval, so the explanation
cannot disagree with the result.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from features import schemas as S
from features.pairs import FirmArrays, ParkArrays
from matcher.constraints import RULE_TEXT, RULES, infeasibility

# The firm's own needs that an officer could relax, by the field that makes the rule bind.
RELAXABLE: dict[str, str] = {
    "pollution": S.POLLUTION_LEVEL,
    "land": S.LAND_NEED_MU,
    "distance": S.MAX_DISTANCE_KM,
    "port": S.NEEDS_PORT,
}
_POLLUTION_ZH = ("低", "中", "高")


def _relaxed(firms: FirmArrays, field: str) -> FirmArrays:
    given = dict(firms.given)
    given[field] = np.zeros_like(given[field])
    return dataclasses.replace(firms, given=given)


def _nearest(parks: ParkArrays, ok: np.ndarray, key: np.ndarray, largest: bool = False) -> int:
    pos = np.flatnonzero(ok)
    return int(pos[np.argmax(key[pos])] if largest else pos[np.argmin(key[pos])])


def explain_no_match(firms: FirmArrays, parks: ParkArrays, infeasible: np.ndarray) -> list[str]:
    """One Chinese sentence per firm of ``firms`` (all of which have no feasible park)."""
    n = infeasible.shape[0]
    names = parks.frame[S.PARK_NAME].to_numpy()
    dist = parks.num["distance"]
    relaxed = {rule: infeasibility(_relaxed(firms, field), parks) for rule, field in RELAXABLE.items()}
    out: list[str] = []
    for i in range(n):
        counts = Counter(int(c) for c in infeasible[i] if c)
        binding = "；".join(
            f"{RULE_TEXT[RULES[code - 1]]}（{k} 个园区）"
            for code, k in sorted(counts.items(), key=lambda t: -t[1])
        )
        options: list[str] = []
        for rule in RELAXABLE:
            ok = relaxed[rule][i] == 0
            if not ok.any():
                continue
            if rule == "distance":
                p = _nearest(parks, ok, dist)
                options.append(
                    f"最近的满足其他条件的园区（{names[p]}）距北京 {dist[p]:.0f} 公里，"
                    f"超出 {firms.num['max_distance'][i]:.0f} 公里上限"
                )
            elif rule == "port":
                p = _nearest(parks, ok, dist)
                options.append(
                    f"不要求港口时有 {int(ok.sum())} 个园区可选，"
                    f"最近的（{names[p]}）距北京 {dist[p]:.0f} 公里"
                )
            elif rule == "land":
                p = _nearest(parks, ok, parks.num["land"], largest=True)
                options.append(
                    f"满足其他条件的园区中可用土地最多的（{names[p]}）约 {parks.num['land'][p]:.0f} 亩，"
                    f"企业需要 {firms.num['land_need'][i]:.0f} 亩"
                )
            else:
                level = int(parks.num["pollution"][ok].max())
                options.append(
                    f"满足其他条件的园区准入污染等级最高为{_POLLUTION_ZH[min(level, 2)]}，"
                    f"企业为{_POLLUTION_ZH[min(int(firms.num['pollution'][i]), 2)]}"
                )
        if not options:
            options.append("只放宽一项企业需求仍没有可行园区")
        out.append(f"没有满足全部硬性条件的园区。排除原因：{binding}。最近的放宽：{'；'.join(options)}")
    return out
