"""The bundled reference data: real, complete, inside the region, with provenance."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from features import reference as R
from features import schemas as S
from parkmatch.cli import main

REQUIRED_PLATFORMS = (
    "雄安新区",
    "北京城市副中心",
    "曹妃甸协同发展示范区",
    "北京大兴国际机场临空经济区",
    "天津滨海新区",
    "张承生态功能区",
    "生物医药产业园",
    "滨海—中关村科技园",
    "保定·中关村创新中心",
    "京津中关村科技城",
    "秦皇岛",
    "香河机器人",
)


def test_parks_json_lists_at_least_150_valid_parks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parks", "--format", "json"]) == 0
    parks = json.loads(capsys.readouterr().out)
    assert len(parks) >= 150
    counties = R.county_adcodes()
    for park in parks:
        assert park["province"] in S.PROVINCES
        assert park["city"] and park["county"]
        assert park["adcode"] in counties
        assert S.REGION_LAT[0] <= park["lat"] <= S.REGION_LAT[1]
        assert S.REGION_LNG[0] <= park["lng"] <= S.REGION_LNG[1]
        assert park["industry_codes"], park["park_id"]
        assert park["source_url"], park["park_id"]


def test_every_decision_attribute_has_provenance() -> None:
    """Each decision value is either covered by the row's sources or flagged as estimated,
    and every estimated field is a real column whose rule is documented."""
    df = R.load_parks()
    doc = R.data_file("SOURCES.md").read_text(encoding="utf-8")
    for row in df.to_dict("records"):
        assert row[S.SOURCE_URL]
        for name in row[S.ESTIMATED_FIELDS]:
            assert name in S.PARK_COLUMNS
    flagged = {name for row in df[S.ESTIMATED_FIELDS] for name in row}
    for name in flagged & set(S.PARK_DECISION_FIELDS):
        documented = name in doc or (
            name.startswith("subsidy_") and f"/ {name.removeprefix('subsidy_')}" in doc
        )
        assert documented, f"no estimation rule for {name} in data/SOURCES.md"


def test_the_2_plus_4_platforms_and_named_46_platforms_are_present() -> None:
    names = " ".join(R.load_parks()[S.PARK_NAME])
    for platform in REQUIRED_PLATFORMS:
        assert platform in names, platform


def test_parks_csv_output_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parks", "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(rows) == len(R.load_parks())
    assert set(S.PARK_COLUMNS) <= set(rows[0])


def test_industry_table_matches_the_standard_counts() -> None:
    counts = R.load_industries()["level"].value_counts().to_dict()
    assert counts == {"门类": 20, "大类": 97, "中类": 473, "小类": 1381}


def test_industries_command_searches_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["industries", "--search", "原料药", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"271", "2710"} <= {r["code"] for r in rows}


def test_every_division_maps_to_an_io_sector() -> None:
    divisions = [c for c in R.load_industries()["code"] if len(c) == 2 and c.isdigit()]
    io_codes = set(R.load_io42().codes)
    assert len(divisions) == 97
    for d in divisions:
        sector = R.io42_sector(d)
        assert sector in io_codes, d
    # The most specific crosswalk row wins: a 4-digit code resolves through its 3-digit group.
    assert R.io42_sector("2710") is not None


def test_counties_have_coordinates_and_xiongan() -> None:
    counties = R.load_counties()
    assert counties[S.LAT].notna().all() and counties[S.LNG].notna().all()
    assert "133100" in set(counties["adcode"])


def test_io_coefficients_are_a_proper_matrix() -> None:
    io = R.load_io42(2020)
    assert io.a.shape == (42, 42)
    assert (io.a >= 0).all()
    assert (io.a.sum(axis=0) < 1).all()  # intermediate inputs are less than total input


# --- bad catalogue rows ---------------------------------------------------------------------


def _write_catalogue(tmp_path: Path, mutate: dict[str, str]) -> Path:
    src = R.data_file("parks.csv")
    with src.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = reader.fieldnames or []
    rows = rows[:5]
    rows[2].update(mutate)
    path = tmp_path / "bad_parks.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        ({"adcode": ""}, "adcode", "missing"),
        ({"adcode": "999999"}, "adcode", "not a Beijing/Tianjin/Hebei county"),
        ({"industry_codes": "27;9999"}, "industry_codes", "unknown GB/T 4754-2017 industry code '9999'"),
        ({"lat": "31.2"}, "lat", "outside Beijing-Tianjin-Hebei"),
        ({"lng": "121.5"}, "lng", "outside Beijing-Tianjin-Hebei"),
        ({"available_land_mu": ""}, "available_land_mu", "blank"),
        ({"port_access": "maybe"}, "port_access", "true/false"),
    ],
)
def test_bad_catalogue_row_names_file_line_and_field(
    tmp_path: Path, mutate: dict[str, str], field: str, words: str
) -> None:
    path = _write_catalogue(tmp_path, mutate)
    with pytest.raises(R.ReferenceDataError) as info:
        R.load_parks(path)
    err = info.value
    assert err.line == 4  # header is line 1, the third data row is line 4
    assert err.field == field
    assert str(path) in str(err) and words in str(err)


def test_bad_catalogue_through_the_cli_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_catalogue(tmp_path, {"adcode": ""})
    assert main(["parks", "--catalogue", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 4" in err and "adcode" in err
