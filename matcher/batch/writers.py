"""Final outputs of a batch run (Parquet, CSV, XLSX, and ``OUT.rejects.csv``), streamed from the parts.

Each is written to a temporary file next to its target and renamed only once complete, so a
crash never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matcher.allocation import ALLOCATED, ALLOCATED_RANK
from matcher.batch.workdir import REJECT_SCHEMA, RESULT_SCHEMA, WorkDir

EXCEL_MAX_ROWS = 1_048_576
SHEET_RESULTS = "推荐结果"
SHEET_REJECTS = "拒绝行"
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


def write_output(
    out: Path, fmt: str, work: WorkDir, rejects: pa.Table, alloc: tuple[np.ndarray, np.ndarray] | None
) -> None:
    """Stream every results part of ``work`` (plus the allocation columns) into ``out`` as ``fmt``."""
    schema = RESULT_SCHEMA
    if alloc is not None:
        schema = pa.schema([*RESULT_SCHEMA, *ALLOC_FIELDS])
    if fmt == "xlsx":
        n_results = sum(v["results"] for v in work.done.values())
        for what, n in (("recommendations", n_results), ("rejected rows", rejects.num_rows)):
            if n + 1 > EXCEL_MAX_ROWS:
                # the parts directory is named after OUT, so --resume cannot carry them to another output
                raise ValueError(
                    f"{n:,} {what} do not fit in one Excel sheet (limit {EXCEL_MAX_ROWS:,} rows); "
                    f"rerun with a .parquet or .csv output instead (it starts from the beginning: "
                    f"--resume cannot reuse the finished chunks in {work.path} for another output)"
                )
        from openpyxl import Workbook

        with _atomic(out) as tmp:
            wb = Workbook(write_only=True)
            ws = wb.create_sheet(SHEET_RESULTS)
            ws.append(schema.names)
            start = 0
            for t in work.results():
                t = _with_alloc(t, alloc, start)
                start += t.num_rows
                for row in zip(*[c.to_pylist() for c in t.columns], strict=True):
                    ws.append(list(row))
            wr = wb.create_sheet(SHEET_REJECTS)
            wr.append(REJECT_SCHEMA.names)
            for row in zip(*[c.to_pylist() for c in rejects.columns], strict=True):
                wr.append(list(row))
            wb.save(tmp)
        return
    with _atomic(out) as tmp:
        start = 0
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema) as writer:
                for t in work.results():
                    t = _with_alloc(t, alloc, start)
                    start += t.num_rows
                    writer.write_table(t)
        else:
            with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
                pd.DataFrame(columns=schema.names).to_csv(f, index=False)
                for t in work.results():
                    t = _with_alloc(t, alloc, start)
                    start += t.num_rows
                    t.to_pandas().to_csv(f, index=False, header=False)
