"""Files that look like real registry exports, built here: a 企查查-style XLSX (title row, '-'
cells, 2011 codes, 北京经济技术开发区, 注销, zero-led codes, a second sheet, a notes sheet) and a
GBK CSV.  Every input row must end in exactly one state with the expected field and reason."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from features import schemas as S
from matcher.batch import match_file, writers
from matcher.batch.readers import read_firm_table
from matcher.core import Matcher
from training.synth import simulate

QCC_HEADER = [
    "企业名称",
    "统一社会信用代码",
    "法定代表人",
    "登记状态",
    "注册资本",
    "所属区县",
    "注册地址",
    "联系电话",
    "所属行业",
    "行业代码",
    "经营范围",
    "参保人数",
    "员工人数",
    "最大距离(公里)",
    "需要港口",
    "疏解功能",
]
CC1 = "91110115MA01ABCD1X"


def qcc_rows() -> list[tuple[list[object], str, str | None, str | None]]:
    """(cells, expected state, expected field, a word the reason or warning must contain)."""
    base = dict(zip(QCC_HEADER, [""] * len(QCC_HEADER), strict=True))

    def row(**kw: object) -> list[object]:
        cells = {**base, **{k: v for k, v in kw.items()}}
        return [cells[h] for h in QCC_HEADER]

    return [
        (
            row(
                企业名称="北京甲原料药有限公司",
                统一社会信用代码=CC1,
                法定代表人="张三",
                登记状态="存续",
                注册资本="5000万元人民币",
                所属区县="大兴区",
                联系电话="010-12345678",
                所属行业="医药制造业",
                行业代码="2710",
                经营范围="化学原料药的研发、生产",
                参保人数=280,
                员工人数=300,
            ),
            S.MATCHED,
            None,
            None,
        ),
        (
            row(
                企业名称="北京乙物流有限公司",
                行业代码="5920",
                经营范围="普通货物仓储",
                参保人数="-",
                员工人数="-",
                所属区县="通州区",
            ),
            S.MATCHED,
            None,
            None,
        ),
        (
            row(
                企业名称="北京丙软件有限公司",
                行业代码="6510",
                经营范围="应用软件开发；技术服务",
                所属区县="海淀区",
            ),
            S.MATCHED_WITH_WARNINGS,
            None,
            "2011 版",
        ),
        (
            row(
                企业名称="北京丁科技有限公司",
                行业代码="3990",
                经营范围="电子元器件制造",
                所属区县="北京经济技术开发区",
            ),
            S.MATCHED_WITH_WARNINGS,
            None,
            "大兴区",
        ),
        (
            row(
                企业名称="北京戊贸易有限公司",
                行业代码="5137",
                经营范围="服装批发",
                登记状态="注销",
                所属区县="丰台区",
            ),
            S.MATCHED_WITH_WARNINGS,
            None,
            "注销",
        ),
        (
            row(企业名称="北京己农业有限公司", 行业代码=("0111", "0000"), 经营范围="水稻种植"),
            "matched*",
            None,
            None,
        ),
        (row(企业名称="北京庚农业有限公司", 行业代码=111), S.REJECTED, S.INDUSTRY_CODE, "设为文本"),
        (row(企业名称="", 行业代码="2710"), S.REJECTED, S.NAME, "企业名称"),
        (
            row(
                企业名称="北京甲原料药有限公司（重复）",
                统一社会信用代码=CC1,
                行业代码="2710",
                经营范围="原料药",
            ),
            S.MATCHED_WITH_WARNINGS,
            None,
            "重复",
        ),
        (
            row(
                企业名称="北京辛化工有限公司",
                行业代码="2614",
                经营范围="有机化学原料制造",
                员工人数=200,
                最大距离=None,
                需要港口="是",
                **{"最大距离(公里)": 5},
            ),
            S.NO_FEASIBLE_PARK,
            "_constraints",
            "公里",
        ),
        (
            row(
                企业名称="北京壬数据有限公司",
                所属行业="互联网和相关服务",
                经营范围="数据中心运营；云计算服务",
                注册地址="北京市朝阳区酒仙桥路1号",
                疏解功能="数据中心",
            ),
            S.MATCHED,
            None,
            None,
        ),
    ]


def write_qcc_xlsx(path: Path) -> list[tuple[str, str | None, str | None]]:
    wb = Workbook()
    notes = wb.active
    notes.title = "导出说明"
    notes.append(["本文件由企查查导出，仅供参考"])
    ws = wb.create_sheet("企业列表")
    ws.append(["企查查 企业查询结果（共 10 条） 导出时间：2026-11-30"])
    ws.append([])
    ws.append(QCC_HEADER)
    expected = []
    for cells, state, fld, word in qcc_rows():
        values = []
        fmt = None
        for v in cells:
            if isinstance(v, tuple):  # ("0111", "0000"): the number 111 shown with a 0000 format
                values.append(int(v[0]))
                fmt = v[1]
            else:
                values.append(v)
        ws.append(values)
        if fmt:
            ws.cell(row=ws.max_row, column=QCC_HEADER.index("行业代码") + 1).number_format = fmt
        expected.append((state, fld, word))
    ws2 = wb.create_sheet("第2页")
    ws2.append(QCC_HEADER)
    hospital = [
        "北京癸医院管理有限公司",
        "",
        "",
        "在业",
        "",
        "西城区",
        "",
        "",
        "",
        "8411",
        "综合医院",
        "",
        "800",
    ]
    ws2.append([*hospital, "", "", "医疗"])
    expected.append((S.MATCHED, None, None))
    wb.save(path)
    return expected


def check_states(firms: pd.DataFrame, expected: list[tuple[str, str | None, str | None]]) -> None:
    assert list(firms[S.ROW]) == list(range(1, len(expected) + 1))
    for (_, got), (state, fld, word) in zip(firms.iterrows(), expected, strict=True):
        if state == "matched*":
            assert got[S.STATE] in (S.MATCHED, S.MATCHED_WITH_WARNINGS, S.NO_FEASIBLE_PARK)
        else:
            assert got[S.STATE] == state, (got[S.ROW], got[S.STATE], got[S.ERROR], got[S.WARNINGS])
        if fld is not None:
            assert got[S.FIELD] == fld
        if word is not None:
            assert word in f"{got[S.ERROR]}{got[S.WARNINGS]}", (got[S.ROW], got[S.ERROR], got[S.WARNINGS])


def test_qcc_xlsx_every_row_accounted_for(matcher: Matcher, tmp_path: Path) -> None:
    inp = tmp_path / "qcc.xlsx"
    expected = write_qcc_xlsx(inp)
    cols, _rows, _rejects, info = read_firm_table(inp)
    assert info.header_line == 3 and info.sheets == ["企业列表", "第2页"]
    assert cols[S.INDUSTRY_CODE][5] == "0111"  # the number format kept the zero
    assert cols[S.INDUSTRY_CODE][6] == 111  # no format: the validator decides (and rejects)

    out = tmp_path / "out.parquet"
    summary = match_file(matcher, inp, out, progress=False)
    firms = pd.read_csv(
        tmp_path / "out.parquet.firms.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False
    )
    firms[S.ROW] = firms[S.ROW].astype(int)
    check_states(firms, expected)
    counts = firms[S.STATE].value_counts().to_dict()
    assert summary.rows_read == len(expected)
    assert summary.matched + summary.no_feasible_park + summary.rejected == summary.rows_read
    assert summary.no_feasible_park == counts.get(S.NO_FEASIBLE_PARK, 0) >= 1
    assert summary.rejected == counts[S.REJECTED] == 2
    recs = pd.read_parquet(out)
    first = recs[recs[S.ROW] == 1].iloc[0]
    assert (first[S.CREDIT_CODE], first[S.LEGAL_REP], first[S.PHONE]) == (CC1, "张三", "010-12345678")
    assert "员工人数" in recs[recs[S.ROW] == 2].iloc[0][S.IMPUTED_VALUES]
    assert "估" in recs[recs[S.ROW] == 2].iloc[0][S.IMPUTED_VALUES]
    no_match = firms[firms[S.STATE] == S.NO_FEASIBLE_PARK].iloc[0][S.ERROR]
    assert "最近的满足其他条件的园区" in no_match and "超出 5 公里上限" in no_match


def test_xlsx_output_is_chinese_rounded_and_frozen(matcher: Matcher, tmp_path: Path) -> None:
    inp = tmp_path / "qcc.xlsx"
    expected = write_qcc_xlsx(inp)
    out = tmp_path / "out.xlsx"
    match_file(matcher, inp, out, top=5, progress=False)
    wb = load_workbook(out)
    assert wb.sheetnames == list(writers.SHEETS)
    detail = wb[writers.SHEET_RESULTS]
    header = [c.value for c in detail[1]]
    assert header[:4] == ["行号", "企业编号", "企业名称", "统一社会信用代码"]
    assert {"园区名称", "综合得分", "产业链匹配", "推荐理由", "估算值（估）", "提示"} <= set(header)
    assert all(not str(h).isascii() for h in header)
    assert detail.freeze_panes == "A2" and detail.column_dimensions["A"].width > 0
    for col in ("综合得分", "产业链匹配", "土地匹配"):
        j = header.index(col) + 1
        values = [detail.cell(row=r, column=j).value for r in range(2, detail.max_row + 1)]
        assert values and all(isinstance(v, int | float) or v == writers.UNKNOWN_ZH for v in values)
        numbers = [v for v in values if isinstance(v, int | float)]
        assert all(len(repr(v).split(".")[-1]) <= 3 for v in numbers), values[:5]
        if col != "土地匹配":  # land is unknown for every park with no sourced land value
            assert numbers
    summary = wb[writers.SHEET_SUMMARY]
    assert summary.max_row == len(expected) + 1
    states = [
        summary.cell(row=r, column=[c.value for c in summary[1]].index("处理结果") + 1).value
        for r in range(2, summary.max_row + 1)
    ]
    assert set(states) <= set(S.STATE_ZH.values()) and "已拒绝" in states and "无可行园区" in states
    unmatched = wb[writers.SHEET_REJECTS]
    assert unmatched.max_row - 1 == states.count("已拒绝") + states.count("无可行园区")
    about = {r[0].value: r[1].value for r in wb[writers.SHEET_ABOUT].iter_rows(min_row=2) if r[0].value}
    assert about["模型版本"] == matcher.model_version and "如何阅读得分" in about


def test_gbk_csv_with_chinese_values(matcher: Matcher, tmp_path: Path) -> None:
    lines = [
        "企业名称,行业代码,经营范围,所属区县,员工人数,疏解功能",
        "北京子物流有限公司,5430,冷链物流与城市配送,通州区,120,物流",
        "北京丑制药有限公司,2720,化学药品制剂,亦庄,300,生产、研发",
        "北京寅公司,,※※※,朝阳区,10,",
        "北京卯公司,2710,原料药,大兴区,50,飞行",
        "北京辰公司,2710,原料药,浦东新区,50,生产",
    ]
    inp = tmp_path / "gbk.csv"
    inp.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    summary = match_file(matcher, inp, tmp_path / "out.csv", progress=False, headers="zh")
    assert summary.encoding == "gb18030"
    firms = pd.read_csv(
        tmp_path / "out.csv.firms.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False
    )
    assert list(firms.columns[:3]) == ["行号", "企业编号", "企业名称"]
    firms = firms.rename(columns={v: k for k, v in S.OUTPUT_HEADERS_ZH.items()})
    firms[S.ROW] = firms[S.ROW].astype(int)
    check_states(
        firms,
        [
            (S.MATCHED_WITH_WARNINGS, None, "2011 版"),
            (S.MATCHED_WITH_WARNINGS, None, "大兴区"),
            (S.REJECTED, S.INDUSTRY_CODE, "行业"),
            (S.REJECTED, S.FUNCTIONS_COL, "飞行"),
            (S.REJECTED, S.ORIGIN_DISTRICT, "不是北京的区"),
        ],
    )
    recs = pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig", dtype=str)
    assert list(recs.columns[:3]) == ["行号", "企业编号", "企业名称"]
    assert summary.matched + summary.no_feasible_park + summary.rejected == summary.rows_read == 5


ACCOUNTING_FIRMS = int(os.environ.get("PARKMATCH_ACCOUNTING_FIRMS", "5000"))


def test_simulated_firms_all_accounted_for(matcher: Matcher, tmp_path: Path) -> None:
    """Output firms plus rejected firms equal input firms.  The suite runs 5,000 simulated firms;
    PARKMATCH_ACCOUNTING_FIRMS=50000 runs the issue's full 50,000 (about a minute on two cores)."""
    df = simulate(ACCOUNTING_FIRMS, 3).firms[list(S.FIRM_COLUMNS)].copy()
    df.loc[df.index[::97], S.EMPLOYEES] = -1  # some rows that must be rejected
    df.loc[df.index[1::89], S.MAX_DISTANCE_KM] = 1.0  # and some with no feasible park
    inp = tmp_path / "sim.parquet"
    df.to_parquet(inp, index=False)
    summary = match_file(matcher, inp, tmp_path / "out.parquet", chunk_rows=2000, progress=False)
    out = pd.read_parquet(tmp_path / "out.parquet")
    firms = pd.read_csv(tmp_path / "out.parquet.firms.csv", encoding="utf-8-sig", dtype={S.FIRM_ID: str})
    rejects = pd.read_csv(tmp_path / "out.parquet.rejects.csv", encoding="utf-8-sig")
    n_out = out[S.ROW].nunique() + int((firms[S.STATE] == S.NO_FEASIBLE_PARK).sum())
    assert n_out + len(rejects) == len(df) == summary.rows_read == len(firms)
    assert sorted(firms[S.ROW]) == list(range(1, len(df) + 1))
    assert summary.no_feasible_park >= len(df.index[1::89]) and summary.rejected >= len(df.index[::97])
    assert summary.matched == out[S.ROW].nunique()


@pytest.mark.parametrize("query", ["冷链", "数据中心", "3D打印", "物流", "大数据", "云计算"])
def test_industry_search_finds_modern_terms(query: str) -> None:
    from api.service import search_industries

    assert search_industries(query, None, 50)["total"] > 0


def test_template_round_trips(matcher: Matcher, tmp_path: Path) -> None:
    from parkmatch.cli import main

    path = tmp_path / "template.xlsx"
    assert main(["template", "-o", str(path)]) == 0
    cols, rows, _rejects, info = read_firm_table(path)
    assert set(info.columns) == set(S.INPUT_COLUMNS) and list(rows) == [1]
    assert cols[S.INDUSTRY_CODE][0] == "2710"
    batch, errors = matcher.prepare(cols, rows)
    assert not errors and batch.cols[S.FUNCTIONS_COL][0] == ["production", "rnd"]
    assert main(["template", "-o", str(path)]) == 2  # refuses to overwrite
