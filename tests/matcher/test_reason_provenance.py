"""Reasons never quote a value no source states, and mark documented estimates 估."""

from __future__ import annotations

import numpy as np

from features import schemas as S
from features.pairs import ParkArrays
from matcher.core import Matcher
from matcher.explain import _land, _sentence

FIRMS = [
    {"name": "甲", "industry_code": "2710", "functions": ["production"], "land_need_mu": 50},
    {"name": "乙", "industry_code": "3670", "functions": ["production"]},
    {"name": "丙", "industry_code": "5132", "functions": ["wholesale"]},
    {"name": "丁", "industry_code": "7212", "functions": ["headquarters"]},
]


def test_no_reason_quotes_an_unknown_value(matcher: Matcher) -> None:
    pa = matcher.park_arrays
    pos = {pid: i for i, pid in enumerate(pa.ids)}
    for firm in FIRMS:
        for rec in matcher.recommend(firm, top=10).recommendations:
            p = pos[rec.park_id]
            text = "；".join(rec.reasons)
            if not pa.known(S.AVAILABLE_LAND_MU, p):
                assert "可用土地" not in text, text
            if not pa.known(S.LAND_PRICE, p):
                assert "成交价" not in text, text
            if not pa.known(S.CAPACITY_PER_YEAR, p):
                assert "年承接能力" not in text, text
            if "距北京天安门" in text and pa.estimated(S.DISTANCE_KM, p):
                assert "公里（估）" in text, text
            assert "0.33" not in text


def test_a_park_with_every_land_value_unknown_gets_no_land_sentence(matcher: Matcher) -> None:
    frame = matcher.parks.copy()
    for col in (S.AVAILABLE_LAND_MU, S.LAND_PRICE, S.LAND_PRICE_FLOOR):
        frame[col] = np.nan
    frame = frame.drop(columns=[S.PROVENANCE])  # provenance recomputed: every blank is unknown
    pa = ParkArrays.build(frame)
    assert _land(pa, 0, 10.0) is None
    assert _sentence("land", pa, 0, "2710", [], 10.0, 0.5, [], ["production"], None) is None
    # a stated value without a provenance row counts as estimated and is marked so
    frame.loc[0, S.AVAILABLE_LAND_MU] = 120.0
    pa = ParkArrays.build(frame)
    assert _land(pa, 0, 10.0) == "可用土地约120亩（估），满足10亩用地需求"


def test_an_input_output_reason_names_a_strongly_linked_industry_of_the_park(matcher: Matcher) -> None:
    """ "与企业所在行业投入产出关联较强" is said only of a park industry whose sector trades with the
    firm's in the upper quartile of the NBS table, and names that industry: a software firm is
    not told that a theme park's 游乐园 (coefficient 0.022) is a link, a cold-chain firm is told
    about 卫生 (0.032), and the park's first-listed industry is not named by default."""
    import re

    from features import reference as R
    from matcher.explain import _industry_reason, _io_table

    pos, both, strong = _io_table()
    assert 0.02 < strong < 0.04  # the upper quartile of the 2020 table's distinct-sector pairs

    def link(a: str, b: str) -> float:
        return float(both[pos[str(R.io42_sector(a))], pos[str(R.io42_sector(b))]])

    assert link("6513", "9020") < strong <= link("5960", "84")
    assert _industry_reason(["9020", "90"], "6513", []) is None
    assert _industry_reason(["84"], "5960", []) == "主导产业卫生(84)与企业所在行业投入产出关联较强"
    # the strongest-linked of the park's industries is named, wherever it is listed
    assert "(39)" in str(_industry_reason(["304", "39"], "6513", []))
    for firm in [*FIRMS, {"name": "戊", "industry_code": "6513", "functions": ["rnd"]}]:
        for rec in matcher.recommend(firm, top=10).recommendations:
            for reason in rec.reasons:
                hit = re.search(r"\((\d+)\)与企业所在行业投入产出关联较强", reason)
                if hit:
                    assert link(firm["industry_code"], hit.group(1)) >= strong, (firm, reason)
