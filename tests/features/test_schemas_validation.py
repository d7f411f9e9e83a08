"""FirmProfile rules and the column-wise validator that batch and API share."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from features import schemas as S
from features.validation import Priors, columns_from_records, impute, prepare, validate_columns


def test_name_and_code_or_description_are_required() -> None:
    S.FirmProfile(name="甲", industry_code="2710")
    S.FirmProfile(name="甲", description="原料药生产")
    with pytest.raises(ValidationError, match="industry_code or description"):
        S.FirmProfile(name="甲")
    with pytest.raises(ValidationError) as info:
        S.FirmProfile(industry_code="2710")  # type: ignore[call-arg]
    assert info.value.errors()[0]["loc"] == ("name",)


def test_unknown_fields_and_bad_values_are_rejected_by_name() -> None:
    with pytest.raises(ValidationError) as info:
        S.FirmProfile(name="甲", industry_code="2710", land_mu=3)  # type: ignore[call-arg]
    assert info.value.errors()[0]["loc"] == ("land_mu",)
    with pytest.raises(ValidationError) as info:
        S.FirmProfile(name="甲", industry_code="2710", beijing_ties=1.5)
    assert info.value.errors()[0]["loc"] == ("beijing_ties",)
    with pytest.raises(ValidationError):
        S.FirmProfile(name="甲", industry_code="27a0")


def test_lists_accept_semicolon_text() -> None:
    p = S.FirmProfile(
        name="甲", industry_code="2710", functions="production;rnd", subsidy_priorities="tax；land"
    )  # type: ignore[arg-type]
    assert p.functions == ["production", "rnd"]
    assert p.subsidy_priorities == ["tax", "land"]


def _validate(records: list[dict[str, object]]) -> tuple[list[int], list[tuple[int, str, str]]]:
    batch, errors = validate_columns(columns_from_records(records))
    return [int(r) for r in batch.rows], [(e.row, e.field, e.reason) for e in errors]


def test_validator_names_row_and_field_and_keeps_valid_rows() -> None:
    rows, errors = _validate(
        [
            {"name": "好", "industry_code": "2710"},
            {"name": "坏码", "industry_code": "9999"},
            {"name": "负人数", "industry_code": "2710", "employees": -3},
            {"name": "", "industry_code": "2710"},
            {"name": "怪功能", "industry_code": "2710", "functions": "production;flying"},
            {"name": "无行业"},
            {"name": "区不对", "industry_code": "2710", "origin_district": "浦东新区"},
            {"name": "好2", "description": "仓储物流", "origin_district": "海淀"},
        ]
    )
    assert rows == [1, 8]
    fields = {row: field for row, field, _ in errors}
    assert fields == {
        2: "industry_code",
        3: "employees",
        4: "name",
        5: "functions",
        6: "industry_code",
        7: "origin_district",
    }
    reasons = {row: reason for row, _, reason in errors}
    assert "9999" in reasons[2]
    assert "flying" in reasons[5]


def test_code_validation_uses_the_standard_not_just_the_shape() -> None:
    _, errors = _validate([{"name": "x", "industry_code": "2799"}])
    assert errors and "不是 GB/T 4754-2017 的行业代码" in errors[0][2]
    rows, errors = _validate([{"name": "x", "industry_code": "27"}, {"name": "y", "industry_code": "271"}])
    assert rows == [1, 2] and not errors


def test_imputation_fills_from_priors_and_reports_what_it_filled() -> None:
    priors = Priors.bundled()
    batch, errors = prepare(
        columns_from_records(
            [{"name": "甲", "industry_code": "2710", "employees": 200, "beijing_ties": 0.2}]
        ),
        priors,
        None,
    )
    assert not errors
    imputed = set(batch.imputed[0])
    assert S.EMPLOYEES not in imputed and S.BEIJING_TIES not in imputed
    assert {S.FUNCTIONS_COL, S.LAND_NEED_MU, S.TALENT_LEVEL, S.MAX_DISTANCE_KM, S.POLLUTION_LEVEL} <= imputed
    assert batch.cols[S.EMPLOYEES][0] == 200
    # max distance follows the documented rule from the given ties: 100 + 300 * (1 - 0.2)
    assert batch.cols[S.MAX_DISTANCE_KM][0] == pytest.approx(340.0)
    div = priors.divisions["27"]
    assert batch.cols[S.TALENT_LEVEL][0] == pytest.approx(priors.talent[div])


def test_a_data_centre_moved_on_its_own_reaches_zhangbei() -> None:
    """Beijing sends new data centres to 张北 (about 200 km): a data centre moved alone is imputed
    loose ties, so the imputed reach spans the hub; the same firm moving R&D keeps its
    division's ties, and ties the officer gave are kept."""
    from features.validation import DATA_CENTRE_TIES

    priors = Priors.bundled()
    batch, errors = prepare(
        columns_from_records(
            [
                {"name": "甲", "industry_code": "6450", "functions": ["data_center"]},
                {"name": "乙", "industry_code": "6450", "functions": ["rnd", "data_center"]},
                {"name": "丙", "industry_code": "6450", "functions": ["data_center"], "beijing_ties": 0.9},
            ]
        ),
        priors,
        None,
    )
    assert not errors
    ties, reach = batch.cols[S.BEIJING_TIES], batch.cols[S.MAX_DISTANCE_KM]
    assert ties[0] == pytest.approx(DATA_CENTRE_TIES) and reach[0] >= 200
    assert ties[1] == pytest.approx(priors.ties[priors.divisions["64"]]) and reach[1] < 200
    assert ties[2] == pytest.approx(0.9) and S.BEIJING_TIES not in batch.imputed[2]


def test_imputation_infers_the_industry_from_the_description() -> None:
    calls: list[list[str]] = []

    def infer(texts: object) -> list[str]:
        calls.append(list(texts))  # type: ignore[call-overload]
        return ["5941"]

    batch, _ = prepare(
        columns_from_records([{"name": "甲", "description": "仓储物流"}]), Priors.bundled(), infer
    )
    assert calls == [["仓储物流"]]
    assert batch.cols[S.INDUSTRY_CODE][0] == "5941"
    assert S.INDUSTRY_CODE in batch.imputed[0]


def test_office_functions_need_no_land() -> None:
    batch, _ = validate_columns(
        columns_from_records(
            [{"name": "甲", "industry_code": "6513", "functions": ["headquarters"], "employees": 500}]
        )
    )
    out = impute(batch, Priors.bundled(), None)
    assert out.cols[S.LAND_NEED_MU][0] == 0.0
    assert np.isfinite(out.cols[S.FLOOR_AREA_NEED_M2][0]) and out.cols[S.FLOOR_AREA_NEED_M2][0] > 0
