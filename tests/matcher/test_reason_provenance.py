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
