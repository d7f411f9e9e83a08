"""What documented relocations teach, as behaviour an officer can check on any trained bundle.

The fixture bundle learns from the documented cases (tests/conftest.py), so these hold for the
recipe, not for a hand-set rule: no feature reads a firm's name, and no table maps a firm to a park.
"""

from __future__ import annotations

from features import reference as R
from features import schemas as S
from features.precedents import XIONGAN_COUNTIES
from matcher.core import Matcher


def top(matcher: Matcher, firm: dict[str, object], k: int = 3) -> list[S.Recommendation]:
    return matcher.recommend(firm, top=10).recommendations[:k]


def test_a_data_centre_never_gets_a_beijing_business_district_in_its_top_3(matcher: Matcher) -> None:
    firm = {"name": "某互联网公司数据中心", "industry_code": "6450", "functions": ["data_center"]}
    recs = top(matcher, firm)
    assert recs
    assert all(r.province != "北京市" for r in recs), [r.park_name for r in recs]
    # however near the officer needs it: Beijing bans new data centres city-wide, and says so
    near = {**firm, "max_distance_km": 60}
    result = matcher.recommend(near, top=10, explain_excluded=True)
    assert result.recommendations
    assert all(r.province != "北京市" for r in result.recommendations), [
        r.park_name for r in result.recommendations
    ]
    banned = {e.park_id: e.detail for e in result.excluded if e.rule == "beijing_ban"}
    assert {"BJ001", "BJ003"} <= set(banned) and "禁止新建和扩建数据中心" in banned["BJ003"]
    # a firm that also moves R&D keeps Beijing's parks for it
    mixed = matcher.recommend({**near, "functions": ["rnd", "data_center"]}, top=10, explain_excluded=True)
    assert not [e for e in mixed.excluded if e.rule == "beijing_ban"]


def test_hospital_branches_and_university_campuses_get_a_concentrated_receiving_area(
    matcher: Matcher,
) -> None:
    for firm in (
        {"name": "某三甲医院分院", "industry_code": "8411", "functions": ["healthcare"]},
        {"name": "某高校新校区", "industry_code": "8341", "functions": ["education", "research"]},
    ):
        recs = top(matcher, firm)
        hits = [
            r for r in recs if r.adcode in XIONGAN_COUNTIES or r.park_id == "BJ001" or r.county == "通州区"
        ]
        assert hits, (firm["name"], [r.park_name for r in recs])


def test_a_pharma_api_plant_gets_the_park_with_offsite_supervision_in_its_top_3(matcher: Matcher) -> None:
    parks = R.load_parks()
    offsite = set(parks.loc[parks[S.KEEPS_BEIJING_REGISTRATION] == True, S.PARK_ID])  # noqa: E712
    assert offsite  # the 沧州 pharma park, the only one allowed 药品生产异地延伸监管
    recs = top(matcher, {"name": "某原料药企业", "industry_code": "2710", "functions": ["production"]})
    assert offsite & {r.park_id for r in recs}, [r.park_name for r in recs]


def test_wholesale_merchants_get_a_designated_market_site_first(matcher: Matcher) -> None:
    parks = R.load_parks().set_index(S.PARK_ID)
    for code in ("5132", "5137"):
        first = top(matcher, {"name": "某批发商户", "industry_code": code, "functions": ["wholesale"]}, 1)[0]
        assert "wholesale" in parks.loc[first.park_id, S.DESIGNATED_FUNCTIONS], first.park_name
        assert any("定向承接" in r for r in first.reasons), first.reasons


def test_designated_functions_appear_in_the_reasons_where_they_apply(matcher: Matcher) -> None:
    recs = matcher.recommend(
        {"name": "某高校", "industry_code": "8341", "functions": ["education"]}, top=10
    ).recommendations
    xiongan = [r for r in recs if r.park_id == "HE115"]
    assert xiongan, [r.park_name for r in recs]
    assert any("定向承接高等院校" in reason for reason in xiongan[0].reasons), xiongan[0].reasons


def test_a_hospital_headquarters_or_institute_never_gets_a_market_logistics_or_data_centre_site(
    matcher: Matcher,
) -> None:
    single_purpose = {"trade_market", "logistics_hub", "data_center_base"}
    kind = R.load_parks().set_index(S.PARK_ID)[S.PLATFORM_TYPE]
    for firm in (
        {"name": "某三甲医院分院", "industry_code": "8411", "functions": ["healthcare"]},
        {"name": "某央企总部", "industry_code": "7211", "functions": ["headquarters"]},
        {"name": "某研究院", "industry_code": "7320", "functions": ["research"]},
    ):
        recs = matcher.recommend(firm, top=10).recommendations
        assert recs
        wrong = [r.park_name for r in recs if kind[r.park_id] in single_purpose]
        assert not wrong, (firm["name"], wrong)


def test_a_municipal_body_gets_the_sub_centre_office_district_in_its_top_3(matcher: Matcher) -> None:
    """Every documented move of a municipal Party or government body went to the 行政办公区."""
    for firm in (
        {"name": "某市属机关", "industry_code": "9221", "functions": ["administration"]},
        {"name": "某群团组织", "industry_code": "9513"},  # functions imputed from the division
    ):
        recs = top(matcher, firm)
        assert "BJ002" in {r.park_id for r in recs}, (firm["name"], [r.park_name for r in recs])
