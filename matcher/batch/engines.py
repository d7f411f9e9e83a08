"""The engines of a batch run: in this process, on a pool of local worker processes (both
``local``), or on ``distributed`` workers (``dask``).

All run the same :func:`process_chunk` on the same chunks with one scoring thread per process,
so their results are equal.  ``local`` with a bundle path and ``workers > 1`` spreads the chunks
over that many processes (each loads the bundle once), which is how a batch uses every core:
the pipeline is mostly Python and NumPy between the compiled calls, so threads would queue on
the interpreter lock.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from features import schemas as S
from matcher.batch.readers import FirmChunk
from matcher.batch.workdir import FIRMS_SCHEMA, REJECT_SCHEMA, RESULT_SCHEMA
from matcher.core import Matcher

ChunkDone = Callable[[FirmChunk | None, int, int, pa.Table, pa.Table, pa.Table], None]


def _result_table(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(
        df[[f.name for f in RESULT_SCHEMA]], schema=RESULT_SCHEMA, preserve_index=False
    )


def _reject_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols = {f.name: [r[f.name] for r in rows] for f in REJECT_SCHEMA}
    return pa.Table.from_pydict(cols, schema=REJECT_SCHEMA)


def process_chunk(matcher: Matcher, chunk: FirmChunk, top: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The unit of work of both engines: one chunk of raw columns → (recommendations, rejects,
    one row per input row with its state).  The third table is what proves every row is
    accounted for: it has exactly ``chunk.n_read`` rows."""
    batch, errors = matcher.prepare(chunk.cols, chunk.rows)
    result = matcher.match(batch, top)
    long = matcher.long_frame(result)
    long = long.sort_values([S.ROW, S.RANK], kind="stable")
    rejects = sorted([*chunk.rejects, *errors], key=lambda e: e.row)
    firms = matcher.firm_summary(result, rejects)
    if len(firms) != chunk.n_read:
        raise AssertionError(f"chunk {chunk.index}: {len(firms)} firm rows for {chunk.n_read} input rows")
    return (
        _result_table(long),
        _reject_table([e.as_dict() for e in rejects]),
        pa.Table.from_pandas(firms, schema=FIRMS_SCHEMA, preserve_index=False),
    )


def _run_local(
    matcher: Matcher, chunks: Iterator[FirmChunk], top: int, done: ChunkDone, skip: set[int]
) -> None:
    for chunk in chunks:
        if chunk.index in skip:
            empty = REJECT_SCHEMA.empty_table()
            done(None, chunk.index, chunk.n_read, empty, empty, FIRMS_SCHEMA.empty_table())
            continue
        results, rejects, firms = process_chunk(matcher, chunk, top)
        done(chunk, chunk.index, chunk.n_read, results, rejects, firms)


def _drain(
    futures: set[Future[tuple[int, int, pa.Table, pa.Table, pa.Table]]], done: ChunkDone, keep: int
) -> set[Future[tuple[int, int, pa.Table, pa.Table, pa.Table]]]:
    """Hand finished chunks to ``done`` until at most ``keep`` are still running."""
    while len(futures) > keep:
        finished, futures = wait(futures, return_when=FIRST_COMPLETED)
        for fut in finished:
            done(None, *fut.result())
    return futures


def _run_pool(
    bundle: Path, chunks: Iterator[FirmChunk], top: int, done: ChunkDone, skip: set[int], workers: int
) -> None:
    """The local engine on ``workers`` processes; at most two chunks per worker are in flight, so
    memory stays flat.  ``forkserver`` starts clean children (no inherited OpenMP state)."""
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_load, initargs=(str(bundle),)
    ) as pool:
        futures: set[Future[tuple[int, int, pa.Table, pa.Table, pa.Table]]] = set()
        for chunk in chunks:
            if chunk.index in skip:
                empty = REJECT_SCHEMA.empty_table()
                done(None, chunk.index, chunk.n_read, empty, empty, FIRMS_SCHEMA.empty_table())
                continue
            futures.add(pool.submit(_worker_chunk, str(bundle), chunk, top))
            futures = _drain(futures, done, 2 * workers)
        _drain(futures, done, 0)


# --- Dask workers ---------------------------------------------------------------------------

_WORKER_MATCHERS: dict[str, Matcher] = {}


def _worker_matcher(bundle: str) -> Matcher:
    m = _WORKER_MATCHERS.get(bundle)
    if m is None:
        _one_thread_per_process()
        m = _WORKER_MATCHERS[bundle] = Matcher.load(Path(bundle))
        m.ranker.num_threads = 1
    return m


def _one_thread_per_process() -> None:
    """Each worker owns one core: OpenMP, BLAS and FAISS threads would only contend with the
    other workers."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except (ImportError, AttributeError):
        pass


def _worker_load(bundle: str) -> str:
    """Run once on every worker (``client.run``): load the bundle into the process-global cache."""
    return _worker_matcher(bundle).model_version


def _worker_chunk(bundle: str, chunk: FirmChunk, top: int) -> tuple[int, int, pa.Table, pa.Table, pa.Table]:
    results, rejects, firms = process_chunk(_worker_matcher(bundle), chunk, top)
    return chunk.index, chunk.n_read, results, rejects, firms


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
                index, n_read, results, rejects, firms = fut.result()
                pending -= 1
                done(None, index, n_read, results, rejects, firms)
                fut.release()

        for chunk in chunks:
            if chunk.index in skip:
                empty = REJECT_SCHEMA.empty_table()
                done(None, chunk.index, chunk.n_read, empty, empty, FIRMS_SCHEMA.empty_table())
                continue
            ac.add(client.submit(_worker_chunk, str(bundle), chunk, top, pure=False))
            pending += 1
            drain(in_flight)
        drain(0)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
