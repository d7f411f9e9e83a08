"""Organisations' approved values laid over the catalogue: checks, provenance, and their effect
on the served park and on the matcher's criterion scores."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pandas as pd
import pytest

from features import schemas as S
from features.corrections import (
    CORRECTABLE_FIELDS,
    ApprovedCorrection,
    apply_corrections,
    current_value,
    validate_value,
)
from features.reference import load_park_sources, load_parks, park_provenance, park_to_profile
from features.validation import columns_from_records
from matcher.core import Matcher
from matcher.whynot import compare


@pytest.fixture(scope="module")
def parks() -> pd.DataFrame:
    return load_parks()


def correction(
    cid: int, park_id: str, field: str, value: object, day: int = 1, **kw: str
) -> ApprovedCorrection:
    return ApprovedCorrection(
        id=cid,
        park_id=park_id,
        field=field,
        value=value,
        source=kw.get("source", "https://example.gov.cn/policy.html"),
        org=kw.get("org", "某区疏解办"),
        approved_by=kw.get("approved_by", "0123456789abcdef"),
        decided=datetime(2025, 3, day, tzinfo=UTC),
    )


def test_correctable_fields_are_catalogue_decision_fields() -> None:
    assert set(CORRECTABLE_FIELDS) <= set(S.PARK_COLUMNS) & set(S.PROVENANCE_FIELDS)
    assert S.PROVENANCE_ZH[S.PROVIDED] == "机构提供" and S.PROVIDED in S.PROVENANCE_LEVELS


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (S.LAND_PRICE, 450_000, 450_000.0),
        (S.AVAILABLE_LAND_MU, 0, 0.0),
        ("subsidy_tax", 3, 3),
        ("subsidy_rnd", 2.0, 2),
        (S.RESTRICTED_INDUSTRIES, ["2710", "26", "2710"], ["2710", "26"]),
        (S.RESTRICTED_INDUSTRIES, "2710；3011", ["2710", "3011"]),
        (S.RESTRICTED_INDUSTRIES, [], []),
        (S.DESIGNATED_FUNCTIONS, ["production", "rnd"], ["production", "rnd"]),
    ],
)
def test_valid_values_come_back_in_the_catalogues_form(field: str, value: object, expected: object) -> None:
    assert validate_value(field, value) == expected


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "某园区", ["“name”不是可更正的园区字段", "工业用地价格"]),
        (S.LAND_PRICE, 0, ["工业用地价格", "大于 0"]),
        (S.LAND_PRICE, 45, ["工业用地价格", "万元"]),
        (S.LAND_PRICE, "45万", ["工业用地价格", "应为数字"]),
        (S.LAND_PRICE, True, ["应为数字"]),
        (S.LAND_PRICE, None, ["缺少取值"]),
        (S.AVAILABLE_LAND_MU, -1, ["可用土地", "亩"]),
        (S.AVAILABLE_LAND_MU, math.inf, ["可用土地", "应为数字"]),
        ("subsidy_land", 4, ["用地优惠", "0、1、2 或 3"]),
        ("subsidy_land", 1.5, ["用地优惠", "0、1、2 或 3"]),
        (S.RESTRICTED_INDUSTRIES, ["2710", "9999"], ["限制行业", "GB/T 4754", "9999"]),
        (S.RESTRICTED_INDUSTRIES, [27], ["限制行业", "字符串列表"]),
        (S.DESIGNATED_FUNCTIONS, ["factory"], ["定向承接功能", "factory", "production"]),
    ],
)
def test_invalid_values_are_refused_in_chinese_naming_the_field(
    field: str, value: object, words: list[str]
) -> None:
    with pytest.raises(ValueError) as err:
        validate_value(field, value)
    for word in words:
        assert word in str(err.value)


def test_overlay_sets_value_provenance_and_sources(parks: pd.DataFrame) -> None:
    pid = str(parks[S.PARK_ID][0])
    old_price, old_prov = current_value(parks, pid, S.LAND_PRICE)
    corrections = [
        correction(1, pid, S.LAND_PRICE, 380_000, day=1),
        correction(2, pid, S.LAND_PRICE, 420_000, day=2),  # the later decision wins
        correction(3, pid, S.RESTRICTED_INDUSTRIES, ["2710"], source="2025年入园项目负面清单"),
        correction(4, pid, "subsidy_talent", 2),
        correction(5, "NO-SUCH-PARK", S.LAND_PRICE, 400_000),  # left the catalogue: skipped
    ]
    out, changes = apply_corrections(parks, corrections)

    assert parks is not out and current_value(parks, pid, S.LAND_PRICE) == (old_price, old_prov)
    assert out[S.LAND_PRICE].dtype == float and out["subsidy_talent"].dtype == float
    by_field = {c["field"]: c for c in changes}
    assert len(changes) == 3 and by_field[S.LAND_PRICE] == {
        "park_id": pid,
        "field": S.LAND_PRICE,
        "old": old_price,
        "new": 420_000.0,
        "old_provenance": old_prov,
        "new_provenance": "provided",
        "correction_id": 2,
    }
    assert by_field[S.RESTRICTED_INDUSTRIES]["new"] == ["2710"]

    row = {str(k): v for k, v in out.iloc[0].to_dict().items()}
    profile = park_to_profile(row)
    assert profile.land_price_cny_per_mu == 420_000.0 and profile.subsidies.talent == 2
    assert profile.restricted_industries == ["2710"]
    assert {profile.provenance[f] for f in (S.LAND_PRICE, S.RESTRICTED_INDUSTRIES, "subsidy_talent")} == {
        "provided"
    }
    (price_source,) = profile.field_sources[S.LAND_PRICE]
    assert price_source.source_class == "organisation"
    assert price_source.url == "https://example.gov.cn/policy.html"
    assert price_source.title.startswith("机构提供：某区疏解办（审核 0123456789abcdef），依据：")
    (document,) = profile.field_sources[S.RESTRICTED_INDUSTRIES]
    assert document.url == "" and document.title.endswith("依据：2025年入园项目负面清单")
    # every other park and field keeps the catalogue's value and provenance
    assert out.drop(index=0)[S.PROVENANCE].tolist() == parks.drop(index=0)[S.PROVENANCE].tolist()
    untouched = park_provenance(parks.iloc[0].to_dict())
    untouched.update(
        {S.LAND_PRICE: "provided", S.RESTRICTED_INDUSTRIES: "provided", "subsidy_talent": "provided"}
    )
    assert json.loads(row[S.PROVENANCE]) == untouched


def test_stale_or_invalid_corrections_do_not_stop_the_overlay(parks: pd.DataFrame) -> None:
    pid = str(parks[S.PARK_ID][1])
    out, changes = apply_corrections(parks, [correction(9, pid, "subsidy_tax", 7)])
    assert changes == [] and out[S.PROVENANCE].tolist() == parks[S.PROVENANCE].tolist()


def test_provided_is_never_a_catalogue_file_level(parks: pd.DataFrame, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "park_sources.csv"
    pid = str(parks[S.PARK_ID][0])
    path.write_text(
        "park_id,field,provenance,source_url,source_title,source_class\n"
        f"{pid},{S.LAND_PRICE},provided,https://a.gov.cn,x,official_site\n",
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="provided"):
        load_park_sources(path)


def test_a_corrected_land_price_changes_the_land_criterion(matcher: Matcher) -> None:
    """Through the real matcher: the served catalogue copy with the approved price, FAISS
    rebuilt (``with_catalogue``), scores the park's land criterion lower for a dearer price."""
    parks = matcher.parks
    priced = parks.index[parks[S.LAND_PRICE].notna()]
    pid = str(parks.loc[priced[0], S.PARK_ID])
    price = float(parks.loc[priced[0], S.LAND_PRICE])
    batch, errors = matcher.prepare(
        columns_from_records([{"name": "某制造企业", "industry_code": "3670", "land_need_mu": 40}])
    )
    assert not errors

    before = compare(matcher, batch, [pid])["parks"][0]
    corrected, changes = apply_corrections(parks, [correction(1, pid, S.LAND_PRICE, price * 4)])
    after = compare(matcher.with_catalogue(corrected), batch, [pid])["parks"][0]

    assert changes[0]["old"] == price and changes[0]["new"] == price * 4
    assert before["criteria"]["land"] is not None and after["criteria"]["land"] is not None
    assert after["criteria"]["land"] < before["criteria"]["land"]
    assert after["provenance"][S.LAND_PRICE] == "provided"
    quoted = [r for r in after["reasons"] if "成交价" in r]  # a quoted price is the corrected one
    assert all(f"{price * 4 / 1e4:.0f}万元/亩" in r for r in quoted), quoted
