"""Batch matching of firm lists (``parkmatch match``): streaming, resumable, local or on Dask.

How a run goes:

1. The input is read in chunks of ``chunk_rows`` data rows (:mod:`matcher.batch.readers`).
2. Each chunk goes through :func:`matcher.batch.engines.process_chunk` (``Matcher.prepare`` →
   ``Matcher.match`` → ``Matcher.long_frame``); its recommendations and its rejected rows are
   written as Parquet parts in the work directory ``OUT.parts/`` and the chunk id is recorded in
   ``OUT.parts/manifest.json`` (:mod:`matcher.batch.workdir`).  Memory therefore stays flat
   whatever the length of the list.
3. When every chunk is done the parts are streamed, in row order, into a temporary file next to
   ``OUT`` which is renamed to ``OUT`` only once complete, so a crash never leaves a file that
   looks finished (:mod:`matcher.batch.writers`).  The parts directory is then removed.

Outputs by extension: ``.parquet``; ``.csv`` (UTF-8 with BOM so Excel shows Chinese, lists
as ``；``/``;``-joined text; ``headers="zh"`` for Chinese headers); ``.xlsx`` (Chinese headers,
sheets 说明, 汇总 (one row per input row), 推荐明细 and 未匹配与拒绝; refused with a clear error
beyond Excel's 1,048,576 rows).  For ``.csv`` and ``.parquet`` the rejected rows also go to
``OUT.rejects.csv`` and one row per input row with its state to ``OUT.firms.csv``.  The summary
counts matched, matched with warnings, no feasible park and rejected; they add up to the rows
read or nothing is written.
Rejected rows carry the 1-based data row of the input (data row N = spreadsheet line N+1),
the first bad field and the reason; malformed CSV records have field ``_record``.

``resume=True`` continues an interrupted run: the manifest records the input fingerprint (size,
mtime, SHA-256 of the first MiB), ``top`` and ``chunk_rows``; chunks already finished are
skipped.  If the fingerprint or settings differ the old parts are discarded (and the summary
says so).  Without ``resume`` a stale parts directory is always discarded.

``engine="local"`` given a bundle path runs the chunks on ``workers`` local processes (one
scoring thread each, :func:`matcher.batch.engines._run_pool`); given a :class:`Matcher`, or with
``workers=1``, in this process.  Either way the output is the same.

``engine="dask"`` runs the same ``process_chunk`` per chunk on ``distributed`` workers
(:mod:`matcher.batch.engines`): a ``LocalCluster(n_workers=workers, threads_per_worker=1,
processes=True)`` unless ``scheduler`` gives the address of a running one.  The model is loaded
once per worker process from the bundle path (``client.run``); **for a remote cluster the bundle
directory must be readable at the same path on every worker** (shared file system).  Chunks and
results travel through the scheduler, so only the client needs the input and output paths.
Because the chunking is the same and LightGBM prediction is deterministic, results equal the
local engine's.

``allocate=True`` adds capacity-aware first choices over the whole list (see
:func:`matcher.allocation.allocate`): two columns, ``allocated_rank`` (the firm's order after
allocation, 1 = allocated park) and ``allocated`` (False for firms whose whole list was already
full; they keep their order).  The original ``rank`` is kept; rows stay sorted by ``row``, ``rank``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from features import schemas as S
from matcher.allocation import ALLOCATION_INPUT_COLUMNS, allocation_columns
from matcher.batch import writers
from matcher.batch.engines import _run_dask, _run_local, _run_pool
from matcher.batch.progress import Progress, Summary
from matcher.batch.readers import FirmChunk, FirmTable, open_firm_table
from matcher.batch.workdir import WorkDir, fingerprint
from matcher.bundle import read_catalogue
from matcher.core import Matcher

__all__ = ["Summary", "cli_match", "match_file"]


def match_file(
    matcher_or_path: Matcher | str | Path,
    inp: str | Path,
    out: str | Path,
    top: int = 10,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    allocate: bool = False,
    resume: bool = False,
    chunk_rows: int = 20_000,
    progress: bool = True,
    headers: str = "en",
    on_progress: Callable[[int, float | None], None] | None = None,
) -> Summary:
    """Match every firm of ``inp`` and write ``out``; see the module docstring.

    ``on_progress(rows_read, fraction)`` is called after each chunk, for callers that show
    progress elsewhere than on a terminal (the browser workspace polls it)."""
    t0 = time.monotonic()
    inp, out = Path(inp), Path(out)
    fmt = writers.OUTPUT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"{out}: unsupported output type {out.suffix!r}; use .parquet, .csv or .xlsx")
    if engine not in ("local", "dask"):
        raise ValueError(f"unknown engine {engine!r}; use local or dask")
    if top < 1:
        raise ValueError("top must be at least 1")
    if headers not in ("en", "zh"):
        raise ValueError(f"unknown headers {headers!r}; use en or zh")
    if inp.resolve() == out.resolve():
        raise ValueError(f"{out}: the output would overwrite the input")
    if not out.parent.exists():
        raise FileNotFoundError(f"{out.parent}: output directory does not exist")
    table: FirmTable = open_firm_table(inp, chunk_rows)  # refuses unusable files before anything is written
    info = table.info
    if fmt == "xlsx":
        writers.check_excel_fits(info.total_rows, top)

    bundle: Path | None = None
    if isinstance(matcher_or_path, Matcher):
        matcher: Matcher | None = matcher_or_path
        if engine == "dask":
            raise ValueError(
                "the dask engine needs the model bundle path (workers load it themselves), not a Matcher"
            )
    else:
        bundle = Path(matcher_or_path)
        pooled = engine == "local" and workers > 1
        matcher = Matcher.load(bundle) if engine == "local" and not pooled else None

    summary = Summary(
        str(inp), str(out), info.format, info.encoding, engine, ignored_columns=list(info.ignored)
    )
    if info.empty:
        summary.messages.append("the input has no data rows: wrote an empty output")
    settings = {"input": fingerprint(inp), "top": top, "chunk_rows": chunk_rows}
    work = WorkDir(out, settings, resume, summary.messages)
    skip = set(work.done)
    bar = Progress(progress)
    counted = {"rows": 0}

    def done(
        _chunk: FirmChunk | None,
        index: int,
        n_read: int,
        results: pa.Table,
        rejects: pa.Table,
        firms: pa.Table,
    ) -> None:
        if index not in skip:
            work.record(index, n_read, results, rejects, firms)
        else:
            summary.chunks_resumed += 1
        counted["rows"] += n_read
        bar.update(counted["rows"], table.fraction())
        if on_progress is not None:
            on_progress(counted["rows"], table.fraction())

    try:
        if engine == "local" and matcher is not None:
            _run_local(matcher, table.chunks(), top, done, skip)
        elif engine == "local":
            assert bundle is not None
            _run_pool(bundle, table.chunks(), top, done, skip, workers)
        else:
            assert bundle is not None
            _run_dask(bundle, table.chunks(), top, done, skip, scheduler, workers)
    finally:
        bar.update(counted["rows"], table.fraction(), force=True)
        bar.close()

    rejects = work.rejects()
    alloc = None
    if allocate:
        parks = matcher.parks if matcher is not None else read_catalogue(Path(str(bundle)))
        alloc_rank, alloc_flag, stats = allocation_columns(
            work.result_columns(ALLOCATION_INPUT_COLUMNS), parks
        )
        alloc = (alloc_rank, alloc_flag)
        summary.allocation = stats
    done_parts = work.done.values()
    summary.chunks = len(work.done)
    summary.rows_read = sum(v["read"] for v in done_parts)
    summary.recommendations = sum(v["results"] for v in done_parts)
    summary.rejected = rejects.num_rows
    summary.matched_with_warnings = sum(v.get(S.MATCHED_WITH_WARNINGS, 0) for v in done_parts)
    summary.matched = sum(v.get(S.MATCHED, 0) for v in done_parts) + summary.matched_with_warnings
    summary.no_feasible_park = sum(v.get(S.NO_FEASIBLE_PARK, 0) for v in done_parts)
    accounted = summary.matched + summary.no_feasible_park + summary.rejected
    if accounted != summary.rows_read:  # never expected: refuse to write a file that loses firms
        raise AssertionError(f"{accounted:,} rows accounted for, {summary.rows_read:,} read")
    about = {
        "生成时间": time.strftime("%Y-%m-%d %H:%M:%S"),
        "模型版本": matcher.model_version if matcher is not None else str(bundle),
        "输入文件": f"{inp.name}（{info.format}{'，' + info.encoding if info.encoding else ''}）",
        "输入行数": summary.rows_read,
        "已匹配": summary.matched - summary.matched_with_warnings,
        "已匹配（有提示）": summary.matched_with_warnings,
        "无可行园区": summary.no_feasible_park,
        "已拒绝": summary.rejected,
        "如何阅读得分": (
            "综合得分只用于同一企业内比较园区，越高越推荐，不是概率；五项匹配度为 0-1，越高越好；"
            "标“估”的值是按行业先验估算的，标“待核实”的行业是由经营范围推断且把握不大的"
        ),
    }
    writers.write_output(out, fmt, work, rejects, alloc, headers=headers, about=about)
    if fmt != "xlsx":
        rpath = out.with_name(out.name + ".rejects.csv")
        writers.write_rejects_csv(rejects, rpath)
        summary.rejects_path = str(rpath)
        fpath = out.with_name(out.name + ".firms.csv")
        writers.write_firms_csv(work, fpath, headers)
        summary.firms_path = str(fpath)
    work.remove()

    summary.rejected_by_field = dict(Counter(rejects.column(S.FIELD).to_pylist()))
    summary.seconds = round(time.monotonic() - t0, 3)
    summary.rows_per_s = round(summary.rows_read / max(summary.seconds, 1e-9), 1)
    return summary


def cli_match(
    inp: Path,
    out: Path,
    model_dir: Path,
    top: int,
    engine: str,
    scheduler: str | None,
    workers: int,
    allocate: bool,
    resume: bool,
    chunk_rows: int = 20_000,
    headers: str = "en",
) -> int:
    """``parkmatch match``: run :func:`match_file` with a progress line and print the summary to stderr."""
    summary = match_file(
        model_dir,
        inp,
        out,
        top=top,
        engine=engine,
        scheduler=scheduler,
        workers=workers,
        allocate=allocate,
        resume=resume,
        chunk_rows=chunk_rows,
        progress=True,
        headers=headers,
    )
    print(summary.text(), file=sys.stderr)
    return 0
