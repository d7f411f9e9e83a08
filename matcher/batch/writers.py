"""Final outputs of a batch run (Parquet, CSV, XLSX, and ``OUT.rejects.csv``), streamed from the parts.

Each is written to a temporary file next to its target and renamed only once complete, so a
crash never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from openpyxl.utils import get_column_letter

from features import schemas as S
from matcher.allocation import ALLOCATED, ALLOCATED_RANK
from matcher.batch.workdir import FIRMS_SCHEMA, RESULT_SCHEMA, WorkDir

EXCEL_MAX_ROWS = 1_048_576
SHEET_ABOUT = "说明"
SHEET_SUMMARY = "汇总"
SHEET_RESULTS = "推荐明细"
SHEET_REJECTS = "未匹配与拒绝"  # Excel forbids "/" in sheet names
SHEETS = (SHEET_ABOUT, SHEET_SUMMARY, SHEET_RESULTS, SHEET_REJECTS)
OUTPUT_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
ALLOC_FIELDS = [pa.field(ALLOCATED_RANK, pa.int64()), pa.field(ALLOCATED, pa.bool_())]


def check_excel_fits(total_rows: int | None, top: int) -> None:
    """Refuse an ``.xlsx`` output up front when the input alone may already exceed one sheet."""
    if total_rows is not None and total_rows * top + 1 > EXCEL_MAX_ROWS:
        raise ValueError(
            f"{total_rows:,} firms × top {top} may exceed Excel's {EXCEL_MAX_ROWS:,} rows; "
            "write .parquet or .csv instead"
        )


def _tmp_path(out: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def _atomic(out: Path) -> Iterator[Path]:
    tmp = _tmp_path(out)
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _with_alloc(t: pa.Table, alloc: tuple[np.ndarray, np.ndarray] | None, start: int) -> pa.Table:
    if alloc is None:
        return t
    n = t.num_rows
    t = t.append_column(ALLOC_FIELDS[0], pa.array(alloc[0][start : start + n], pa.int64()))
    return t.append_column(ALLOC_FIELDS[1], pa.array(alloc[1][start : start + n], pa.bool_()))


def write_rejects_csv(rejects: pa.Table, path: Path) -> None:
    with _atomic(path) as tmp:
        rejects.to_pandas().to_csv(tmp, index=False, encoding="utf-8-sig")


def _zh(names: list[str]) -> list[str]:
    return [S.OUTPUT_HEADERS_ZH.get(n, n) for n in names]


UNKNOWN_ZH = "未知"
# Displayed precision in the officer's workbook; the Parquet and CSV keep the contract's rounding.
_DISPLAY_DIGITS = {S.SCORE: 3, **{c: 2 for c in S.CRITERIA}}
_WIDTHS = {
    S.ROW: 6,
    S.RANK: 8,
    S.FIRM_NAME: 28,
    S.RESULT_PARK_NAME: 30,
    S.REASONS: 60,
    S.ERROR: 60,
    S.WARNINGS: 50,
    S.IMPUTED_VALUES: 50,
    S.TOP3: 50,
    S.TOP_PARK: 30,
    S.CREDIT_CODE: 21,
}
COLUMN_MEANINGS: dict[str, str] = {
    S.ROW: "输入表中的数据行号（表头下第一行为 1）",
    S.FIRM_ID: "企业编号；未填时为统一社会信用代码",
    S.FIRM_NAME: "企业名称",
    S.CREDIT_CODE: "统一社会信用代码（原样带出）",
    S.LEGAL_REP: "法定代表人（原样带出）",
    S.PHONE: "联系电话（原样带出）",
    S.RANK: "该企业的推荐排名，1 为最推荐",
    S.PARK_ID: "园区编号（见 parkmatch parks）",
    S.RESULT_PARK_NAME: "园区名称",
    S.SCORE: "排序模型的综合得分，只用于同一企业内比较园区，不是概率",
    "industry_chain": "产业链匹配度，0-1，越高越好",
    "land": "土地匹配度，0-1；“未知”表示园区用地与地价均无来源",
    "talent": "人才匹配度，0-1；“未知”表示无数据",
    "subsidy": "政策匹配度，0-1；“未知”表示园区政策无来源",
    "proximity": "区位（距北京）匹配度，0-1",
    S.REASONS: "推荐理由，来自模型自身的贡献",
    S.IMPUTED: "按行业先验估算的字段（机器名）",
    S.IMPUTED_VALUES: "估算字段及所用的值，标“估”；“待核实”表示推断把握不大",
    S.WARNINGS: "需要核实的事项（旧版行业代码、功能区、登记状态、重复代码等）",
    S.STATE: "处理结果：已匹配、已匹配（有提示）、无可行园区、已拒绝",
    S.TOP_PARK: "首选园区",
    S.TOP3: "前三名园区",
    S.FIELD: "出问题的字段",
    S.ERROR: "拒绝或无可行园区的原因",
}


def _sheet(wb: Any, title: str, names: list[str]) -> Any:
    ws = wb.create_sheet(title)
    ws.freeze_panes = "A2"
    for j, name in enumerate(names, start=1):
        ws.column_dimensions[get_column_letter(j)].width = _WIDTHS.get(name, 14)
    ws.append(_zh(names))
    return ws


def _display(names: list[str], row: tuple[Any, ...]) -> list[Any]:
    out = list(row)
    for j, name in enumerate(names):
        if name in S.CRITERIA and (out[j] is None or (isinstance(out[j], float) and math.isnan(out[j]))):
            out[j] = UNKNOWN_ZH  # the criterion rests only on values no source states
        elif name in _DISPLAY_DIGITS and isinstance(out[j], float):
            out[j] = round(out[j], _DISPLAY_DIGITS[name])
        elif name == S.STATE:
            out[j] = S.STATE_ZH.get(out[j], out[j])
        elif name == S.FIELD and out[j]:
            out[j] = S.FIELD_ZH.get(out[j], "硬性条件" if out[j] == "_constraints" else out[j])
    return out


def _write_xlsx(
    tmp: Path,
    schema: pa.Schema,
    work: WorkDir,
    alloc: tuple[np.ndarray, np.ndarray] | None,
    about: dict[str, Any],
) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_ABOUT)
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 90
    ws.append(["项目", "内容"])
    for key, value in about.items():
        ws.append([key, str(value)])
    ws.append([])
    ws.append(["列名", "含义"])
    for name, meaning in COLUMN_MEANINGS.items():
        ws.append([S.OUTPUT_HEADERS_ZH.get(name, name), meaning])

    summary_names = list(FIRMS_SCHEMA.names)
    ws = _sheet(wb, SHEET_SUMMARY, summary_names)
    for t in work.firms():
        for row in zip(*[c.to_pylist() for c in t.columns], strict=True):
            ws.append(_display(summary_names, row))

    names = list(schema.names)
    ws = _sheet(wb, SHEET_RESULTS, names)
    start = 0
    for t in work.results():
        t = _with_alloc(t, alloc, start)
        start += t.num_rows
        for row in zip(*[c.to_pylist() for c in t.columns], strict=True):
            ws.append(_display(names, row))

    unmatched = [S.ROW, S.FIRM_ID, S.FIRM_NAME, S.CREDIT_CODE, S.STATE, S.FIELD, S.ERROR]
    ws = _sheet(wb, SHEET_REJECTS, unmatched)
    for t in work.firms():
        t = t.filter(pc.is_in(t.column(S.STATE), pa.array([S.NO_FEASIBLE_PARK, S.REJECTED])))
        cols = [t.column(c).to_pylist() for c in unmatched]
        for row in zip(*cols, strict=True):
            ws.append(_display(unmatched, row))
    wb.save(tmp)


def _write_csv_stream(tmp: Path, names: list[str], tables: Iterator[pa.Table], headers: str) -> None:
    with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
        pd.DataFrame(columns=_zh(names) if headers == "zh" else names).to_csv(f, index=False)
        for t in tables:
            t.to_pandas().to_csv(f, index=False, header=False)


def write_firms_csv(work: WorkDir, path: Path, headers: str = "en") -> None:
    """One row per input row with its state (``OUT.firms.csv`` next to a CSV or Parquet output)."""
    with _atomic(path) as tmp:
        _write_csv_stream(tmp, list(FIRMS_SCHEMA.names), work.firms(), headers)


# The example row of ``parkmatch template``: one firm as an officer would describe it.
TEMPLATE_EXAMPLE: dict[str, Any] = {
    S.FIRM_ID: "F001",
    S.NAME: "北京某原料药有限公司",
    S.DESCRIPTION: "化学原料药的研发、生产和销售",
    S.INDUSTRY_CODE: "2710",
    S.ORIGIN_DISTRICT: "大兴区",
    S.FUNCTIONS_COL: "生产；研发",
    S.EMPLOYEES: 300,
    S.LAND_NEED_MU: 80,
    S.MAX_DISTANCE_KM: 200,
    S.NEEDS_PORT: "否",
    S.POLLUTION_LEVEL: "中",
    S.SUBSIDY_PRIORITIES: "土地；设备",
    S.CREDIT_CODE: "91110115XXXXXXXXXX",
    S.REG_STATUS: "存续",
}


def template_headers() -> list[tuple[str, str]]:
    """(Chinese header, field) for every accepted input column: the first alias of each field."""
    first: dict[str, str] = {}
    for header, name in S.FIRM_HEADER_ALIASES.items():
        first.setdefault(name, header)
    return [(first.get(name, name), name) for name in S.INPUT_COLUMNS]


def write_template(path: Path) -> None:
    """An empty input workbook: the accepted headers, one example row, codes formatted as text
    (so 0111 keeps its zero), and a sheet saying what each column takes."""
    from openpyxl import Workbook

    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"{path}: the template is an .xlsx workbook")
    cols = template_headers()
    wb = Workbook()
    ws = wb.active
    ws.title = "企业名单"
    ws.append([h for h, _ in cols])
    ws.append([TEMPLATE_EXAMPLE.get(name) for _, name in cols])
    ws.freeze_panes = "A2"
    for j, (h, name) in enumerate(cols, start=1):
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = max(12, 2 * len(h) + 2)
        if name in (S.INDUSTRY_CODE, S.INDUSTRY_CODE_2011, S.CREDIT_CODE, S.PHONE, S.CHAIN_PARTNER_CODES):
            for row in range(2, 1002):
                ws[f"{letter}{row}"].number_format = "@"
    notes = wb.create_sheet("填写说明")
    notes.append(["表头", "字段", "说明"])
    required = {S.NAME: "必填", S.INDUSTRY_CODE: "行业代码、所属行业、经营范围三者至少填一项"}
    for h, name in cols:
        notes.append([h, name, required.get(name, "选填；不填时按行业先验估算并标“估”")])
    with _atomic(path) as tmp:
        wb.save(tmp)


def write_output(
    out: Path,
    fmt: str,
    work: WorkDir,
    rejects: pa.Table,
    alloc: tuple[np.ndarray, np.ndarray] | None,
    headers: str = "en",
    about: dict[str, Any] | None = None,
) -> None:
    """Stream every part of ``work`` (plus the allocation columns) into ``out`` as ``fmt``.

    XLSX is the officer's copy: Chinese headers, sheets 说明 / 汇总 / 推荐明细 / 未匹配与拒绝,
    display rounding, widths and a frozen header.  Parquet and CSV keep the machine column names
    of the output contract (``headers="zh"`` switches the CSV header row to Chinese)."""
    schema = RESULT_SCHEMA
    if alloc is not None:
        schema = pa.schema([*RESULT_SCHEMA, *ALLOC_FIELDS])
    if fmt == "xlsx":
        n_results = sum(v["results"] for v in work.done.values())
        n_firms = sum(v.get("firms", 0) for v in work.done.values())
        for what, n in (("recommendations", n_results), ("firms", n_firms)):
            if n + 1 > EXCEL_MAX_ROWS:
                # the parts directory is named after OUT, so --resume cannot carry them to another output
                raise ValueError(
                    f"{n:,} {what} do not fit in one Excel sheet (limit {EXCEL_MAX_ROWS:,} rows); "
                    f"rerun with a .parquet or .csv output instead (it starts from the beginning: "
                    f"--resume cannot reuse the finished chunks in {work.path} for another output)"
                )
        with _atomic(out) as tmp:
            _write_xlsx(tmp, schema, work, alloc, about or {})
        return

    def tables() -> Iterator[pa.Table]:
        start = 0
        for t in work.results():
            t = _with_alloc(t, alloc, start)
            start += t.num_rows
            yield t

    with _atomic(out) as tmp:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema) as writer:
                for t in tables():
                    writer.write_table(t)
        else:
            _write_csv_stream(tmp, list(schema.names), tables(), headers)


SHEET_LEADS = "招商线索"
LEAD_MEANINGS: dict[str, str] = {
    S.LEAD_SCORE: "线索得分，0-1：疏解压力权重 ×（本园区相对该企业首选园区的选择概率比），越高越值得优先对接",
    S.PARK_SCORE: "排序模型给本园区的得分（与企业侧推荐同一模型）",
    S.PARK_RANK: "本园区在该企业全部可选园区中的排名，1 为首选",
    S.N_OPTIONS: "该企业通过硬性条件的可选园区数",
    S.PRESSURE: "疏解压力，0-1：禁限目录、疏解功能、用地规模、核心区四项的加权平均（未知项不计）",
    S.FIRST_PARK_NAME: "该企业的首选园区（竞争对手）",
    S.REASONS: "匹配理由、竞争情况与疏解压力各项的说明",
}


def write_leads(
    out: Path,
    leads: pd.DataFrame,
    errors: pd.DataFrame,
    headers: str = "en",
    about: dict[str, Any] | None = None,
) -> None:
    """A park's leads as ``out`` (.xlsx, .csv or .parquet), written whole or not at all.

    XLSX follows the batch workbook's conventions: Chinese headers, sheets 说明 / 招商线索 /
    未匹配与拒绝, 未知 for unknown values, widths and a frozen header.  CSV and Parquet keep the
    machine names (``headers="zh"`` for a Chinese CSV header) and the rejected rows go to
    ``OUT.rejects.csv``."""
    fmt = OUTPUT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"{out}: unsupported output type {out.suffix!r}; use .xlsx, .csv or .parquet")
    if fmt != "xlsx":
        with _atomic(out) as tmp:
            if fmt == "parquet":
                leads.to_parquet(tmp, index=False)
            else:
                frame = leads.rename(columns=dict(zip(leads.columns, _zh(list(leads.columns)), strict=True)))
                (frame if headers == "zh" else leads).to_csv(tmp, index=False, encoding="utf-8-sig")
        with _atomic(out.with_name(out.name + ".rejects.csv")) as tmp:
            errors.to_csv(tmp, index=False, encoding="utf-8-sig")
        return
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_ABOUT)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 90
    ws.append(["项目", "内容"])
    for key, value in (about or {}).items():
        ws.append([key, str(value)])
    ws.append([])
    ws.append(["列名", "含义"])
    for name, meaning in {**COLUMN_MEANINGS, **LEAD_MEANINGS}.items():
        if name in leads.columns:
            ws.append([S.OUTPUT_HEADERS_ZH.get(name, name), meaning])
    names = list(leads.columns)
    ws = _sheet(wb, SHEET_LEADS, names)
    for row in leads.itertuples(index=False):
        ws.append([UNKNOWN_ZH if _blank(v) else v for v in row])
    names = list(errors.columns)
    ws = _sheet(wb, SHEET_REJECTS, names)
    for row in errors.itertuples(index=False):
        ws.append(_display(names, tuple(row)))
    with _atomic(out) as tmp:
        wb.save(tmp)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
