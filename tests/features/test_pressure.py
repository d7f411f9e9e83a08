"""The 禁限目录 loader and relocation pressure, on small fixture tables with known answers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from features import schemas as S
from features.pressure import (
    RESTRICTION_COLUMNS,
    RestrictionError,
    RestrictionTable,
    relocation_pressure,
)

GOOD = {
    "edition": "2022",
    "code": "2710",
    "code_standard": "2017",
    "name_zh": "化学药品原料药制造",
    "scope": "全市",
    "level": "禁止",
    "rule": "禁止新建和扩建",
    "exceptions": "",
    "source_url": "https://example.gov.cn/ml2022",
    "source_title": "北京市新增产业的禁止和限制目录（2022年版）",
    "source_class": "official_site",
    "note": "",
}


def write_table(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(RESTRICTION_COLUMNS))
        w.writeheader()
        w.writerows(rows)
    return path


def firms(**over: object) -> dict[str, np.ndarray]:
    base: dict[str, list[object]] = {
        S.INDUSTRY_CODE: ["2710"],
        S.ORIGIN_DISTRICT: ["大兴区"],
        S.FUNCTIONS_COL: [["production"]],
        S.LAND_NEED_MU: [80.0],
    }
    base.update({k: [v] for k, v in over.items()})
    out = {}
    for k, v in base.items():
        arr = np.empty(1, dtype=object) if k != S.LAND_NEED_MU else np.zeros(1)
        arr[0] = v[0]
        out[k] = arr
    return out


def test_a_bad_row_is_refused_naming_the_row_and_the_field(tmp_path: Path) -> None:
    path = write_table(tmp_path / "r.csv", [GOOD, {**GOOD, "code": "2720"}, {**GOOD, "level": "鼓励"}])
    with pytest.raises(RestrictionError, match=r"第4行，字段 level"):
        RestrictionTable.load(path)
    path = write_table(tmp_path / "c.csv", [{**GOOD, "code": "27a0"}])
    with pytest.raises(RestrictionError, match=r"第2行，字段 code"):
        RestrictionTable.load(path)
    path = write_table(tmp_path / "s.csv", [{**GOOD, "scope": "海淀区"}])
    with pytest.raises(RestrictionError, match=r"第2行，字段 scope"):
        RestrictionTable.load(path)


def test_codes_match_by_prefix_within_the_scope_and_2011_codes_are_mapped(tmp_path: Path) -> None:
    rows = [
        {**GOOD, "code": "27", "scope": "中心城区", "level": "限制"},
        {**GOOD, "edition": "2015", "code": "5810", "code_standard": "2011", "scope": "全市"},
    ]
    table = RestrictionTable.load(write_table(tmp_path / "r.csv", rows))
    assert [r.code for r in table.matches("2710", "海淀区")] == ["27"]
    assert table.matches("2710", "大兴区") == []  # 中心城区 does not cover 大兴
    old = next(r for r in table.rows if r.edition == 2015)
    assert old.codes and "5810" not in old.codes  # 2011 5810 装卸搬运 is not 2017 5810
    hit = relocation_pressure(firms(**{S.ORIGIN_DISTRICT: "110108"}), [[]], table, texts=True)
    assert hit.parts["restriction"][0] == pytest.approx(0.7)
    assert "中心城区限制" in hit.texts[0]["restriction"]


def test_pressure_parts_and_their_weighted_mean(tmp_path: Path) -> None:
    table = RestrictionTable.load(write_table(tmp_path / "r.csv", [GOOD]))
    p = relocation_pressure(firms(**{S.ORIGIN_DISTRICT: "东城区"}), [[]], table, texts=True)
    assert p.parts["restriction"][0] == 1.0 and p.parts["function"][0] == 1.0
    assert p.parts["core_area"][0] == 1.0
    space = np.log1p(80) / np.log1p(200)
    assert p.score[0] == pytest.approx(0.4 + 0.3 + 0.15 * space + 0.15)
    assert "2022年版目录在全市禁止化学药品原料药制造" in p.texts[0]["restriction"]
    software = relocation_pressure(
        firms(**{S.INDUSTRY_CODE: "6510", S.FUNCTIONS_COL: ["rnd"], S.ORIGIN_DISTRICT: "延庆区"}), [[]], table
    )
    assert software.score[0] < p.score[0]
    assert software.parts["restriction"][0] == 0.0


def test_without_the_table_the_part_is_unknown_and_said_to_be(tmp_path: Path) -> None:
    table = RestrictionTable.load(tmp_path / "absent.csv")
    assert not table.available
    p = relocation_pressure(firms(), [[S.LAND_NEED_MU]], table, texts=True)
    assert np.isnan(p.parts["restriction"][0])
    assert "暂缺" in p.texts[0]["restriction"] and "（估）" in p.texts[0]["space"]
    assert 0.0 <= p.score[0] <= 1.0
