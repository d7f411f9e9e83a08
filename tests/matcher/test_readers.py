"""Reading firm tables: formats, encodings, Chinese headers, malformed rows (matcher.batch.readers)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import schemas as S
from matcher.batch.readers import (
    MALFORMED_FIELD,
    FirmTableError,
    detect_encoding,
    open_firm_table,
    read_firm_table,
)

CN_HEADER = "企业名称,行业代码,主营业务,所在区,员工人数,用地需求（亩）"
CN_ROWS = [
    "北京甲制药有限公司,2710,原料药生产,大兴区,300,50",
    "北京乙物流有限公司,5990,仓储物流,通州区,120,",
    "北京丙软件有限公司,,软件开发与信息技术服务,海淀区,80,0",
]


def write_csv(path: Path, lines: list[str], encoding: str) -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "expected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("gbk", "gb18030")]
)
def test_csv_encodings_and_chinese_headers(tmp_path: Path, encoding: str, expected: str) -> None:
    path = write_csv(tmp_path / "firms.csv", [CN_HEADER, *CN_ROWS], encoding)
    cols, rows, rejects, info = read_firm_table(path)
    assert info.encoding == expected
    assert detect_encoding(path) == ("gb18030" if encoding == "gbk" else "utf-8-sig")
    assert set(info.columns) == {
        S.NAME,
        S.INDUSTRY_CODE,
        S.DESCRIPTION,
        S.ORIGIN_DISTRICT,
        S.EMPLOYEES,
        S.LAND_NEED_MU,
    }
    assert list(rows) == [1, 2, 3] and not rejects
    assert cols[S.NAME][0] == "北京甲制药有限公司"  # no BOM glued to the first header or value
    assert cols[S.INDUSTRY_CODE][2] is None and cols[S.LAND_NEED_MU][1] is None


def test_header_normalisation_and_ignored_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "f.csv", ["企业 名称,industry_code,用地需求 (亩),备注,Name", "甲,2710,5,x,乙"], "utf-8"
    )
    info = open_firm_table(path).info
    assert set(info.columns) == {S.NAME, S.INDUSTRY_CODE, S.LAND_NEED_MU}
    assert info.ignored == ["备注", "Name (duplicate of name)"]


def test_malformed_records_are_rejects_with_row_numbers(tmp_path: Path) -> None:
    lines = [CN_HEADER, CN_ROWS[0], "坏行,2710,太多,字段,1,2,3,4", "", CN_ROWS[1], '"未闭合,2710']
    _cols, rows, rejects, _ = read_firm_table(write_csv(tmp_path / "bad.csv", lines, "utf-8"))
    assert list(rows) == [1, 4]  # the blank record (data row 3) is skipped but counted
    assert [(e.row, e.field) for e in rejects] == [(2, MALFORMED_FIELD), (5, MALFORMED_FIELD)]
    assert "line 3" in rejects[0].reason


def test_chunks_cover_rows_once(tmp_path: Path) -> None:
    lines = [CN_HEADER] + [CN_ROWS[i % 3] for i in range(25)]
    table = open_firm_table(write_csv(tmp_path / "f.csv", lines, "gbk"), chunk_rows=10)
    chunks = list(table.chunks())
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [int(r) for c in chunks for r in c.rows] == list(range(1, 26))


def test_xlsx_and_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "企业名称": ["甲", "乙", None],
            "行业代码": ["2710", "5990", None],
            "员工人数": [10, None, None],
            "其他": [1, 2, None],
        }
    )
    df.to_excel(tmp_path / "f.xlsx", index=False)
    cols, rows, _, info = read_firm_table(tmp_path / "f.xlsx")
    assert info.format == "xlsx" and info.ignored == ["其他"]
    assert list(rows) == [1, 2]  # an empty row is skipped
    assert list(cols[S.NAME]) == ["甲", "乙"]
    pq_df = pd.DataFrame(
        {S.NAME: ["甲", "乙"], S.INDUSTRY_CODE: ["2710", "5990"], S.FUNCTIONS_COL: [["production"], []]}
    )
    pq_df.to_parquet(tmp_path / "f.parquet", index=False)
    cols, rows, _, info = read_firm_table(tmp_path / "f.parquet")
    assert info.total_rows == 2 and list(rows) == [1, 2]
    assert list(cols[S.FUNCTIONS_COL][0]) == ["production"]


def test_unusable_and_empty_files(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["公司,地址", "甲,北京"], "utf-8")
    with pytest.raises(FirmTableError, match=r"x\.csv.*headers found: '公司', '地址'"):
        open_firm_table(path)
    path = write_csv(tmp_path / "y.csv", ["企业名称,所在区", "甲,海淀区"], "utf-8")
    with pytest.raises(FirmTableError, match="industry_code"):
        open_firm_table(path)
    (tmp_path / "empty.csv").write_bytes(b"")
    assert open_firm_table(tmp_path / "empty.csv").info.empty
    header_only = write_csv(tmp_path / "h.csv", [CN_HEADER], "utf-8")
    assert list(open_firm_table(header_only).chunks()) == []
