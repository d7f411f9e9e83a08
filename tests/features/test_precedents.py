"""Precedents: shares of documented cases, never counting a case's own relocation group."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from features import schemas as S
from features.pairs import code_index
from features.precedents import Precedents, county_key, function_mask

PARK_COUNTIES = ["133100", "130638", "130983", "110112"]  # 雄安 (twice, as 雄县), 黄骅, 通州


def fitted() -> Precedents:
    div = code_index()[0]
    hq = function_mask(["headquarters"])
    prod = function_mask(["production"])
    return Precedents().fit(
        masks=np.array([hq, hq, hq, prod, prod]),
        divisions=np.array([div["72"], div["72"], div["72"], div["27"], div["27"]]),
        counties=["133100", "130629", "110112", "130983", "130983"],  # 容城 counts as 雄安
        park_pos=np.array([0, -1, 3, 2, -1]),
        groups=["g1", "g2", "g3", "g4", "g4"],
        park_counties=PARK_COUNTIES,
        park_lat=np.array([38.99, 39.03, 38.37, 39.91]),
        park_lng=np.array([115.97, 116.26, 117.33, 116.66]),
    )


def test_shares_follow_function_and_treat_xiongan_as_one_destination() -> None:
    p = fitted()
    f = p.features(np.array([function_mask(["headquarters"])]), np.array([-1]), np.array([[0, 1, 2, 3]]))
    # 2 of 3 headquarters cases went to 雄安 (雄县 or 容城), 1 to 通州
    np.testing.assert_allclose(f[0, :, 0], [2 / 3, 2 / 3, 0.0, 1 / 3], rtol=1e-6)
    # only the case that names park 0 counts for park 0
    np.testing.assert_allclose(f[0, :, 2], [1 / 3, 0.0, 0.0, 1 / 3], rtol=1e-6)
    assert county_key("130638") == county_key("130632") == "133100"


def test_a_case_never_counts_towards_its_own_group() -> None:
    p = fitted()
    pharma = np.array([function_mask(["production"])])
    div = np.array([code_index()[0]["27"]])
    cand = np.array([[2]])
    with_own = p.features(pharma, div, cand)[0, 0]
    without = p.features(pharma, div, cand, exclude_groups=["g4"])[0, 0]
    assert with_own[0] == 1.0 and with_own[1] == 1.0
    # g4 holds both pharma cases: without them there is no precedent at all
    assert without.tolist() == [0.0] * 5


def test_nearby_precedent_decays_with_distance() -> None:
    p = fitted()
    hq = np.array([function_mask(["headquarters"])])
    f = p.features(hq, np.array([-1]), np.array([[0, 1, 2, 3]]))[0, :, 3]
    # parks 0 and 1 are in 雄安, park 3 in 通州 (one case), park 2 in 黄骅 (none within 100 km)
    assert f[0] > f[3] > f[2] >= 0.0 and f[2] < 0.01


def test_unknown_function_gets_no_precedent_and_state_round_trips(tmp_path: Path) -> None:
    p = fitted()
    none = p.features(np.array([0]), np.array([-1]), np.array([[0, 1, 2, 3]]))
    assert not none.any()
    p.save(tmp_path)
    q = Precedents.load(tmp_path)
    cand = np.array([[0, 1, 2, 3]])
    mask = np.array([function_mask(list(S.FUNCTIONS))])
    np.testing.assert_array_equal(
        p.features(mask, np.array([-1]), cand), q.features(mask, np.array([-1]), cand)
    )
    assert q.counts(function_mask(["headquarters"]), 0) == 2
