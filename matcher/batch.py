"""Batch matching of firm lists (``parkmatch match``): streaming, resumable, local or on Dask.

How a run goes:

1. The input is read in chunks of ``chunk_rows`` data rows (:mod:`features.io`).
2. Each chunk goes through :func:`process_chunk` (``Matcher.prepare`` → ``Matcher.match`` →
   ``Matcher.long_frame``); its recommendations and its rejected rows are written as Parquet
   parts in the work directory ``OUT.parts/`` and the chunk id is recorded in
   ``OUT.parts/manifest.json``.  Memory therefore stays flat whatever the length of the list.
3. When every chunk is done the parts are streamed, in row order, into a temporary file next to
   ``OUT`` which is renamed to ``OUT`` only once complete, so a crash never leaves a file that
   looks finished.  The parts directory is then removed.

Outputs by extension: ``.parquet``; ``.csv`` (UTF-8 with BOM so Excel shows Chinese, lists
as ``；``/``;``-joined text); ``.xlsx`` (sheet ``推荐结果`` with the recommendations in long
form, sheet ``拒绝行`` with rejected rows; refused with a clear error beyond Excel's 1,048,576
rows).  For ``.csv`` and ``.parquet`` the rejected rows also go to ``OUT.rejects.csv``.
Rejected rows carry the 1-based data row of the input (data row N = spreadsheet line N+1),
the first bad field and the reason; malformed CSV records have field ``_record``.

``resume=True`` continues an interrupted run: the manifest records the input fingerprint (size,
mtime, SHA-256 of the first MiB), ``top`` and ``chunk_rows``; chunks already finished are
skipped.  If the fingerprint or settings differ the old parts are discarded (and the summary
says so).  Without ``resume`` a stale parts directory is always discarded.

``engine="dask"`` runs the same :func:`process_chunk` per chunk on ``distributed`` workers: a
``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` unless ``scheduler``
gives the address of a running one.  The model is loaded once per worker process from the
bundle path (``client.run``); **for a remote cluster the bundle directory must be readable at
the same path on every worker** (shared file system).  Chunks and results travel through the
scheduler, so only the client needs the input and output paths.  Because the chunking is the
same and LightGBM prediction is deterministic, results equal the local engine's.

``allocate=True`` adds capacity-aware first choices over the whole list (see :func:`allocate`):
two columns, ``allocated_rank`` (the firm's order after allocation, 1 = allocated park) and
``allocated`` (False for firms whose whole list was already full; they keep their order).  The
original ``rank`` is kept; rows stay sorted by ``row``, ``rank``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import schemas as S
from features.io import FirmChunk, FirmTable, open_firm_table
from matcher.core import PARKS_FILE, Matcher

EXCEL_MAX_ROWS = 1_048_576
SHEET_RESULTS = "推荐结果"
SHEET_REJECTS = "拒绝行"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
ALLOCATED_RANK = "allocated_rank"
ALLOCATED = "allocated"

RESULT_SCHEMA = pa.schema(
    [
        (S.ROW, pa.int64()),
        (S.FIRM_ID, pa.string()),
        ("firm_name", pa.string()),
        (S.RANK, pa.int64()),
        (S.PARK_ID, pa.string()),
        ("park_name", pa.string()),
        (S.PROVINCE, pa.string()),
        (S.CITY, pa.string()),
        (S.COUNTY, pa.string()),
        (S.SCORE, pa.float64()),
        *[(c, pa.float64()) for c in S.CRITERIA],
        (S.REASONS, pa.string()),
        ("imputed", pa.string()),
    ]
)
REJECT_SCHEMA = pa.schema(
    [(S.ROW, pa.int64()), (S.FIELD, pa.string()), (S.ERROR, pa.string()), (S.FIRM_ID, pa.string())]
)
ALLOC_FIELDS = [pa.field(ALLOCATED_RANK, pa.int64()), pa.field(ALLOCATED, pa.bool_())]


# --- summary --------------------------------------------------------------------------------


@dataclass
class Summary:
    input: str
    output: str
    format: str
    encoding: str | None
    engine: str
    rows_read: int = 0
    matched: int = 0
    recommendations: int = 0
    rejected: int = 0
    rejected_by_field: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    chunks: int = 0
    chunks_resumed: int = 0
    seconds: float = 0.0
    rows_per_s: float = 0.0
    rejects_path: str | None = None
    allocation: dict[str, Any] | None = None
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [
            f"input     {self.input} ({self.format}{', ' + self.encoding if self.encoding else ''})",
            f"rows read {self.rows_read:,}  matched {self.matched:,}  rejected {self.rejected:,}"
            f"  ({self.recommendations:,} recommendation rows)",
        ]
        if self.rejected_by_field:
            lines.append(
                "rejected  " + ", ".join(f"{k}: {v:,}" for k, v in sorted(self.rejected_by_field.items()))
            )
        if self.ignored_columns:
            lines.append("ignored columns: " + ", ".join(self.ignored_columns))
        lines.append(
            f"time      {self.seconds:.1f} s, {self.rows_per_s:,.0f} rows/s, engine {self.engine}, "
            f"{self.chunks} chunks" + (f" ({self.chunks_resumed} resumed)" if self.chunks_resumed else "")
        )
        if self.allocation:
            a = self.allocation
            lines.append(
                f"allocate  coverage {a['coverage_before']:.1%} → {a['coverage_after']:.1%} of {a['n_parks']} parks; "
                f"Gini of first choices {a['gini_before']:.3f} → {a['gini_after']:.3f}; "
                f"{a['moved']:,} firms moved, {a['unallocated']:,} with every listed park full"
            )
        lines.append(
            f"output    {self.output}" + (f"  (rejects: {self.rejects_path})" if self.rejects_path else "")
        )
        lines.extend(self.messages)
        return "\n".join(lines)


# --- progress -------------------------------------------------------------------------------


class Progress:
    """One-line bar with rows/s and ETA on a terminal; plain lines every ``interval`` s otherwise."""

    def __init__(self, enabled: bool, stream: TextIO | None = None, interval: float = 5.0):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if not self.tty else 0.2
        self.start = time.monotonic()
        self.last = 0.0
        self.last_rows = -1

    def update(self, rows: int, fraction: float | None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if (not force and now - self.last < self.interval) or rows == self.last_rows:
            return
        self.last, self.last_rows = now, rows
        dt = max(now - self.start, 1e-9)
        rate = rows / dt
        eta = ""
        if fraction:
            eta = f" ETA {max(dt / fraction - dt, 0):.0f} s"
        if self.tty:
            share = fraction or 0.0
            bar = "#" * int(share * 30)
            self.stream.write(f"\r[{bar:<30}] {share:5.1%} {rows:,} rows {rate:,.0f} rows/s{eta}   ")
        else:
            pct = f" ({fraction:.0%})" if fraction else ""
            self.stream.write(f"parkmatch match: {rows:,} rows{pct}, {rate:,.0f} rows/s{eta}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --- per-chunk work -------------------------------------------------------------------------


def _result_table(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(
        df[[f.name for f in RESULT_SCHEMA]], schema=RESULT_SCHEMA, preserve_index=False
    )


def _reject_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols = {f.name: [r[f.name] for r in rows] for f in REJECT_SCHEMA}
    return pa.Table.from_pydict(cols, schema=REJECT_SCHEMA)


def process_chunk(matcher: Matcher, chunk: FirmChunk, top: int) -> tuple[pa.Table, pa.Table]:
    """The unit of work of both engines: one chunk of raw columns → (recommendations, rejects)."""
    batch, errors = matcher.prepare(chunk.cols, chunk.rows)
    long = matcher.long_frame(matcher.match(batch, top))
    long = long.sort_values([S.ROW, S.RANK], kind="stable")
    rejects = sorted([*chunk.rejects, *errors], key=lambda e: e.row)
    return _result_table(long), _reject_table([e.as_dict() for e in rejects])


# --- work directory -------------------------------------------------------------------------


def fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256_first_mib": h.hexdigest(),
    }


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _write_parquet_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class WorkDir:
    """``OUT.parts/``: one results and one rejects Parquet part per chunk, and the manifest."""

    def __init__(self, out: Path, settings: dict[str, Any], resume: bool, messages: list[str]):
        self.path = out.with_name(out.name + ".parts")
        self.settings = settings
        self.done: dict[int, dict[str, int]] = {}
        manifest = self.path / MANIFEST
        if self.path.exists() and not manifest.exists() and any(self.path.iterdir()):
            raise ValueError(f"{self.path} exists and is not a parkmatch work directory; move it away")
        if resume and manifest.exists():
            old = json.loads(manifest.read_text(encoding="utf-8"))
            if old.get("version") == MANIFEST_VERSION and old.get("settings") == settings:
                self.done = {int(k): v for k, v in old.get("done", {}).items()}
                self.done = {
                    k: v
                    for k, v in self.done.items()
                    if self._part(k, "results").exists() and self._part(k, "rejects").exists()
                }
            else:
                messages.append(
                    f"resume: the input or settings changed since the interrupted run; started over ({self.path})"
                )
                shutil.rmtree(self.path)
        elif resume:
            messages.append(f"resume: no interrupted run found at {self.path}; started from the beginning")
        if not resume and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._save()

    def _part(self, index: int, kind: str) -> Path:
        return self.path / f"{kind}-{index:06d}.parquet"

    def _save(self) -> None:
        _write_json_atomic(
            self.path / MANIFEST,
            {
                "version": MANIFEST_VERSION,
                "settings": self.settings,
                "done": {str(k): v for k, v in sorted(self.done.items())},
            },
        )

    def record(self, index: int, n_read: int, results: pa.Table, rejects: pa.Table) -> None:
        _write_parquet_atomic(results, self._part(index, "results"))
        _write_parquet_atomic(rejects, self._part(index, "rejects"))
        self.done[index] = {"read": n_read, "results": results.num_rows, "rejects": rejects.num_rows}
        self._save()

    def ids(self) -> list[int]:
        return sorted(self.done)

    def results(self) -> Iterator[pa.Table]:
        for i in self.ids():
            yield pq.read_table(self._part(i, "results"), schema=RESULT_SCHEMA)

    def rejects(self) -> pa.Table:
        tables = [pq.read_table(self._part(i, "rejects"), schema=REJECT_SCHEMA) for i in self.ids()]
        return pa.concat_tables(tables) if tables else REJECT_SCHEMA.empty_table()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# --- engines --------------------------------------------------------------------------------

ChunkDone = Callable[[FirmChunk | None, int, int, pa.Table, pa.Table], None]


def _run_local(
    matcher: Matcher, chunks: Iterator[FirmChunk], top: int, done: ChunkDone, skip: set[int]
) -> None:
    for chunk in chunks:
        if chunk.index in skip:
            done(None, chunk.index, chunk.n_read, REJECT_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table())
            continue
        results, rejects = process_chunk(matcher, chunk, top)
        done(chunk, chunk.index, chunk.n_read, results, rejects)


_WORKER_MATCHERS: dict[str, Matcher] = {}


def _worker_matcher(bundle: str) -> Matcher:
    m = _WORKER_MATCHERS.get(bundle)
    if m is None:
        m = _WORKER_MATCHERS[bundle] = Matcher.load(Path(bundle))
    return m


def _worker_load(bundle: str) -> str:
    """Run once on every worker (``client.run``): load the bundle into the process-global cache."""
    return _worker_matcher(bundle).model_version


def _worker_chunk(bundle: str, chunk: FirmChunk, top: int) -> tuple[int, int, pa.Table, pa.Table]:
    results, rejects = process_chunk(_worker_matcher(bundle), chunk, top)
    return chunk.index, chunk.n_read, results, rejects


def _run_dask(
    bundle: Path,
    chunks: Iterator[FirmChunk],
    top: int,
    done: ChunkDone,
    skip: set[int],
    scheduler: str | None,
    workers: int,
) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
            env={"OMP_NUM_THREADS": "1"},
        )
        client = Client(cluster)
    try:
        client.run(_worker_load, str(bundle))
        in_flight = 2 * max(len(client.scheduler_info().get("workers", {})), 1)
        ac = as_completed()
        pending = 0

        def drain(block_until: int) -> None:
            nonlocal pending
            while pending > block_until:
                fut = next(ac)
                index, n_read, results, rejects = fut.result()
                pending -= 1
                done(None, index, n_read, results, rejects)
                fut.release()

        for chunk in chunks:
            if chunk.index in skip:
                done(
                    None, chunk.index, chunk.n_read, REJECT_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table()
                )
                continue
            ac.add(client.submit(_worker_chunk, str(bundle), chunk, top, pure=False))
            pending += 1
            drain(in_flight)
        drain(0)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --- allocation -----------------------------------------------------------------------------


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 = even, → 1 = all in one park)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n = x.shape[0]
    if n == 0 or x.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1).dot(x) / (n * x.sum()))


def allocate(
    firm_start: np.ndarray, park_pos: np.ndarray, score: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Capacity-aware first choices over the whole list.

    ``firm_start`` indexes the first (rank 1) row of each firm in the long arrays ``park_pos``
    / ``score`` (rows of a firm are contiguous and in rank order).  Firms are served in order of
    their score margin (rank 1 minus rank 2; a firm with a single park has an infinite margin),
    largest first: the firm that loses most by not getting its favourite chooses first, as in
    an ascending auction.  Each takes the best park of its list with capacity left
    (``capacity_per_year``; the list is treated as one year's cohort).  Firms whose every listed
    park is full keep their order and are flagged ``allocated = False``.

    Returns ``allocated_rank`` per long row, ``allocated`` per firm, and the statistics.
    """
    n_rows = park_pos.shape[0]
    n_firms = firm_start.shape[0]
    n_parks = capacity.shape[0]
    ends = np.append(firm_start[1:], n_rows)
    sizes = ends - firm_start
    second = np.where(sizes > 1, score[np.minimum(firm_start + 1, n_rows - 1)], -np.inf)
    margin = score[firm_start] - second if n_firms else np.zeros(0)
    order = np.lexsort((np.arange(n_firms), -margin))
    remaining = np.maximum(np.asarray(capacity, dtype=np.int64), 0).copy()
    left = int(remaining.sum())
    chosen = np.zeros(n_firms, dtype=np.int64)  # offset inside the firm's list
    allocated = np.zeros(n_firms, dtype=bool)
    pp = park_pos.tolist()
    for f in order.tolist():
        if left <= 0:
            break
        s = int(firm_start[f])
        for off in range(int(sizes[f])):
            p = pp[s + off]
            if remaining[p] > 0:
                remaining[p] -= 1
                left -= 1
                chosen[f] = off
                allocated[f] = True
                break
    # allocated_rank: the chosen row becomes 1, the rows ranked above it shift down by one.
    firm_of_row = np.repeat(np.arange(n_firms), sizes)
    offset = np.arange(n_rows) - firm_start[firm_of_row]
    ch = chosen[firm_of_row]
    alloc_rank = np.where(offset == ch, 1, np.where(offset < ch, offset + 2, offset + 1)).astype(np.int64)
    before = np.bincount(park_pos[firm_start], minlength=n_parks) if n_firms else np.zeros(n_parks, np.int64)
    after_pos = park_pos[firm_start + chosen] if n_firms else np.zeros(0, np.int64)
    after = np.bincount(after_pos, minlength=n_parks) if n_firms else np.zeros(n_parks, np.int64)
    stats = {
        "n_parks": int(n_parks),
        "firms": int(n_firms),
        "capacity_total": int(np.maximum(capacity, 0).sum()),
        "coverage_before": float((before > 0).sum() / max(n_parks, 1)),
        "coverage_after": float((after > 0).sum() / max(n_parks, 1)),
        "gini_before": gini(before),
        "gini_after": gini(after),
        "moved": int((chosen > 0).sum()),
        "unallocated": int((~allocated).sum()),
        "over_capacity_before": int(np.maximum(before - np.maximum(capacity, 0), 0).sum()),
        "over_capacity_after_allocated": int(
            np.maximum(
                np.bincount(after_pos[allocated], minlength=n_parks) - np.maximum(capacity, 0), 0
            ).sum()
        )
        if n_firms
        else 0,
    }
    return alloc_rank, allocated, stats


def _allocation_columns(work: WorkDir, parks: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    ids = parks[S.PARK_ID].astype(str).tolist()
    pos = {p: i for i, p in enumerate(ids)}
    capacity = pd.to_numeric(parks[S.CAPACITY_PER_YEAR], errors="coerce").fillna(0).to_numpy(np.int64)
    rows_l, park_l, score_l = [], [], []
    for i in work.ids():
        t = pq.read_table(work._part(i, "results"), columns=[S.ROW, S.PARK_ID, S.SCORE])
        rows_l.append(t.column(S.ROW).to_numpy())
        park_l.append(np.array([pos[p] for p in t.column(S.PARK_ID).to_pylist()], dtype=np.int32))
        score_l.append(t.column(S.SCORE).to_numpy())
    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int64)
    park = np.concatenate(park_l) if park_l else np.zeros(0, np.int32)
    score = np.concatenate(score_l) if score_l else np.zeros(0)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.shape[0] else np.zeros(0, np.int64)
    alloc_rank, allocated, stats = allocate(starts, park, score, capacity)
    sizes = np.diff(np.append(starts, rows.shape[0]))
    return alloc_rank, np.repeat(allocated, sizes), stats


# --- final output ---------------------------------------------------------------------------


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


def _write_rejects_csv(rejects: pa.Table, path: Path) -> None:
    with _atomic(path) as tmp:
        rejects.to_pandas().to_csv(tmp, index=False, encoding="utf-8-sig")


def _write_output(
    out: Path, fmt: str, work: WorkDir, rejects: pa.Table, alloc: tuple[np.ndarray, np.ndarray] | None
) -> None:
    schema = RESULT_SCHEMA
    if alloc is not None:
        schema = pa.schema([*RESULT_SCHEMA, *ALLOC_FIELDS])
    if fmt == "xlsx":
        n_results = sum(v["results"] for v in work.done.values())
        for what, n in (("recommendations", n_results), ("rejected rows", rejects.num_rows)):
            if n + 1 > EXCEL_MAX_ROWS:
                raise ValueError(
                    f"{n:,} {what} do not fit in one Excel sheet (limit {EXCEL_MAX_ROWS:,} rows); "
                    f"write .parquet or .csv instead (the finished chunks are kept: rerun with --resume -o OUT.parquet is not "
                    f"possible across outputs, so rerun with a .parquet or .csv output)"
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


# --- entry points ---------------------------------------------------------------------------


OUTPUT_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet"}


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
) -> Summary:
    """Match every firm of ``inp`` and write ``out``; see the module docstring."""
    t0 = time.monotonic()
    inp, out = Path(inp), Path(out)
    fmt = OUTPUT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"{out}: unsupported output type {out.suffix!r}; use .parquet, .csv or .xlsx")
    if engine not in ("local", "dask"):
        raise ValueError(f"unknown engine {engine!r}; use local or dask")
    if top < 1:
        raise ValueError("top must be at least 1")
    if inp.resolve() == out.resolve():
        raise ValueError(f"{out}: the output would overwrite the input")
    if not out.parent.exists():
        raise FileNotFoundError(f"{out.parent}: output directory does not exist")
    table: FirmTable = open_firm_table(inp, chunk_rows)  # refuses unusable files before anything is written
    info = table.info
    if fmt == "xlsx" and info.total_rows is not None and info.total_rows * top + 1 > EXCEL_MAX_ROWS:
        raise ValueError(
            f"{info.total_rows:,} firms × top {top} may exceed Excel's {EXCEL_MAX_ROWS:,} rows; write .parquet or .csv instead"
        )

    bundle: Path | None = None
    if isinstance(matcher_or_path, Matcher):
        matcher: Matcher | None = matcher_or_path
        if engine == "dask":
            raise ValueError(
                "the dask engine needs the model bundle path (workers load it themselves), not a Matcher"
            )
    else:
        bundle = Path(matcher_or_path)
        matcher = Matcher.load(bundle) if engine == "local" else None

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

    def done(_chunk: FirmChunk | None, index: int, n_read: int, results: pa.Table, rejects: pa.Table) -> None:
        if index not in skip:
            work.record(index, n_read, results, rejects)
        else:
            summary.chunks_resumed += 1
        counted["rows"] += n_read
        bar.update(counted["rows"], table.fraction())

    try:
        if engine == "local":
            assert matcher is not None
            _run_local(matcher, table.chunks(), top, done, skip)
        else:
            assert bundle is not None
            _run_dask(bundle, table.chunks(), top, done, skip, scheduler, workers)
    finally:
        bar.update(counted["rows"], table.fraction(), force=True)
        bar.close()

    rejects = work.rejects()
    alloc = None
    if allocate:
        parks = matcher.parks if matcher is not None else pd.read_parquet(Path(str(bundle)) / PARKS_FILE)
        alloc_rank, alloc_flag, stats = _allocation_columns(work, parks)
        alloc = (alloc_rank, alloc_flag)
        summary.allocation = stats
    _write_output(out, fmt, work, rejects, alloc)
    if fmt != "xlsx":
        rpath = out.with_name(out.name + ".rejects.csv")
        _write_rejects_csv(rejects, rpath)
        summary.rejects_path = str(rpath)
    work.remove()

    summary.chunks = len(work.done)
    summary.rows_read = sum(v["read"] for v in work.done.values())
    summary.recommendations = sum(v["results"] for v in work.done.values())
    summary.rejected = rejects.num_rows
    summary.matched = summary.rows_read - summary.rejected
    summary.rejected_by_field = dict(Counter(rejects.column(S.FIELD).to_pylist()))
    summary.seconds = round(time.monotonic() - t0, 3)
    summary.rows_per_s = round(summary.rows_read / max(summary.seconds, 1e-9), 1)
    return summary


def cli_match(
    settings: Any,
    inp: Path,
    out: Path,
    model_dir: Path,
    top: int,
    engine: str,
    scheduler: str | None,
    workers: int,
    allocate: bool,
    resume: bool,
) -> int:
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
        chunk_rows=int(getattr(settings, "chunk_rows", 20_000)),
        progress=True,
    )
    print(summary.text(), file=sys.stderr)
    return 0


# --- benchmark ------------------------------------------------------------------------------


class _PeakRSS:
    """Samples the RSS of this process plus its children (Dask workers) every 0.2 s."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        total = 0
        with contextlib.suppress(psutil.Error):
            total = self.proc.memory_info().rss
            for ch in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += ch.memory_info().rss
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> _PeakRSS:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def benchmark_batch(
    model_dir: str | Path,
    n_firms: int = 100_000,
    engine: str = "local",
    workers: int = 2,
    seed: int = 20240601,
) -> dict[str, Any]:
    """End-to-end batch throughput (Parquet → Parquet, top 10) and LightGBM predict-only time."""
    from features.validation import columns_from_frame
    from training.synth import simulate

    model_dir = Path(model_dir)
    with tempfile.TemporaryDirectory(prefix="parkmatch-bench-") as d:
        t = time.monotonic()
        firms = simulate(n_firms, seed).firms
        firms = firms[[c for c in S.FIRM_COLUMNS if c in firms.columns]]
        inp = Path(d) / "firms.parquet"
        firms.to_parquet(inp, index=False)
        gen_s = time.monotonic() - t
        sample = firms.head(min(n_firms, 20_000))
        del firms
        out = Path(d) / "out.parquet"
        with _PeakRSS() as mem:
            summary = match_file(model_dir, inp, out, top=10, engine=engine, workers=workers, progress=False)
        peak = mem.peak
        # predict-only: the same number of candidate rows, built from real features of a sample
        m = Matcher.load(model_dir)
        batch, _ = m.prepare(columns_from_frame(sample))
        _, _cands, x = m.features(batch)
        xs = x.reshape(-1, x.shape[-1])
        rows = n_firms * m.candidates
        reps = int(np.ceil(rows / xs.shape[0]))
        xx = np.tile(xs, (reps, 1))[:rows]
        t = time.monotonic()
        m.ranker.predict(xx)
        predict_s = time.monotonic() - t
        del xx
    secs = summary.seconds
    return {
        "n_firms": n_firms,
        "engine": engine,
        "workers": workers if engine == "dask" else 1,
        "cpus": os.cpu_count(),
        "generate_seconds": round(gen_s, 2),
        "seconds": secs,
        "firms_per_s": round(n_firms / max(secs, 1e-9), 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "predict_only_seconds": round(predict_s, 3),
        "predict_rows": rows,
        "pipeline_over_predict": round(secs / max(predict_s, 1e-9), 2),
        "matched": summary.matched,
        "rejected": summary.rejected,
        "recommendations": summary.recommendations,
    }
