"""The bundled reference data: real, complete, inside the region, with provenance."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

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


def test_parks_json_lists_valid_parks_with_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parks", "--format", "json"]) == 0
    parks = json.loads(capsys.readouterr().out)
    assert len(parks) >= 280
    counties = R.county_adcodes()
    for park in parks:
        assert park["province"] in S.PROVINCES
        assert park["city"] and park["county"]
        assert park["adcode"] in counties
        assert S.REGION_LAT[0] <= park["lat"] <= S.REGION_LAT[1]
        assert S.REGION_LNG[0] <= park["lng"] <= S.REGION_LNG[1]
        assert park["industry_codes"], park["park_id"]
        assert park["source_url"], park["park_id"]
        assert set(park["provenance"]) == set(S.PROVENANCE_FIELDS)
        # unknown is unknown: a null value says unknown, and every stated value has a level
        for field, level in park["provenance"].items():
            value = (
                park["subsidies"].get(field.removeprefix("subsidy_"))
                if field.startswith("subsidy_")
                else park["subsidies"]["keeps_beijing_registration"]
                if field == S.KEEPS_BEIJING_REGISTRATION
                else park[field]
            )
            assert (level == "unknown") == (value is None or value == []), (park["park_id"], field)
            if level in ("official", "sourced"):
                assert park["field_sources"].get(field), (park["park_id"], field)


def test_every_tianjin_and_hebei_2018_zone_is_a_park_with_its_official_area() -> None:
    """The 2018 national catalogue's zones (data/dev_zones_2018_tjhb.csv) are all present."""
    zones = R._read_csv(R.data_file("dev_zones_2018_tjhb.csv"))
    parks = R.load_parks().set_index(S.ZONE_CODE, drop=False)
    for z in zones.itertuples():
        assert z.zone_code in parks.index, z.zone_name
        park = parks.loc[z.zone_code]
        assert abs(float(park[S.APPROVED_AREA_HA]) - float(z.approved_area_ha)) < 0.01, z.zone_name
        assert R.park_provenance(park.to_dict())[S.APPROVED_AREA_HA] == "official"


def test_no_numeric_field_repeats_one_value_for_more_than_30_percent_unless_sourced() -> None:
    df = R.load_parks()
    provs = [R.park_provenance(r) for r in df.to_dict("records")]
    for col in S.PARK_NUMERIC_COLUMNS:
        values = df[col].dropna()
        if values.empty:
            continue
        top, count = values.value_counts().index[0], int(values.value_counts().iloc[0])
        if count > 0.3 * len(df):
            same = df.index[df[col] == top]
            assert all(provs[i][col] in ("official", "sourced") for i in same), (col, top, count)


def test_the_2_plus_4_have_sourced_designated_functions() -> None:
    df = R.load_parks()
    names = {"雄安新区": "education", "北京城市副中心": "administration", "曹妃甸": "production"}
    for name, fn in names.items():
        rows = df[df[S.PARK_NAME].str.contains(name) & df[S.DESIGNATED_FUNCTIONS].map(bool)]
        assert len(rows), name
        assert any(fn in r for r in rows[S.DESIGNATED_FUNCTIONS]), name
        for r in rows.to_dict("records"):
            assert R.park_provenance(r)[S.DESIGNATED_FUNCTIONS] in ("official", "sourced")


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
    # the sources file beside the catalogue must name only parks that are in it
    src_rows = [r for r in csv.DictReader(R.data_file("park_sources.csv").open(encoding="utf-8"))]
    keep = {r["park_id"] for r in rows}
    with (tmp_path / "park_sources.csv").open("w", encoding="utf-8", newline="") as fh:
        w0 = csv.DictWriter(fh, fieldnames=list(src_rows[0]))
        w0.writeheader()
        w0.writerows(r for r in src_rows if r["park_id"] in keep)
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
        ({"lat": ""}, "lat", "blank"),
        ({"port_access": "maybe"}, "port_access", "true/false"),
        ({"designated_functions": "casino"}, "designated_functions", "'casino' is not one of"),
        ({"designated_industries": "99x"}, "designated_industries", "unknown GB/T 4754-2017"),
        ({"land_grade": "17"}, "land_grade", "grade 1-15"),
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


# --- 主导产业 → GB/T codes ------------------------------------------------------------------


def _build_module() -> Any:
    import importlib.util

    path = Path(R.data_file("catalogue")) / "build_catalogue.py"
    spec = importlib.util.spec_from_file_location("build_catalogue", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_phrase_table_maps_the_labelled_sample_and_every_official_phrase() -> None:
    build = _build_module()
    table = build.load_phrases()
    for codes in table.values():
        for code in str(codes).split(";"):
            assert R.is_industry_code(code), code
    sample = R._read_csv(Path(R.data_file("catalogue")) / "labelled_sample.csv")
    hits = [
        {c[:2] for c in build.phrase_codes(r.phrase, table)} == set(r.expected_codes.split(";"))
        for r in sample.itertuples()
    ]
    assert len(hits) >= 50 and sum(hits) / len(hits) >= 0.9
    # every zone's official 主导产业 gives codes, and those are the codes its park carries
    zones = R._read_csv(R.data_file("dev_zones_2018_tjhb.csv"))
    parks = R.load_parks().set_index(S.ZONE_CODE)
    for z in zones.itertuples():
        codes = build.phrase_codes(z.leading_industries, table)
        assert codes, z.leading_industries
        if str(parks.loc[z.zone_code, S.PARK_ID]).startswith("Z"):
            assert list(parks.loc[z.zone_code, S.INDUSTRY_CODES]) == list(codes), z.zone_name
