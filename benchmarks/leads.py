"""The leads benchmark: top-200 leads for one park over a registry-sized firm index.

The index holds ``n`` simulated firms (``training.synth.simulate_firms``).  Building it scores
every feasible park for every firm once (the kept best parks bound what ``leads`` must score);
to keep the bench within its time the full run simulates and scores
``n_distinct`` firms and repeats them (with their own ids and rows) up to ``n``, so the FAISS
search and the scoring run over ``n`` rows as they would for a real registry.  The naive peer
scores every firm of the index for the park: it is the
exhaustive answer that recall@200 is measured against.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from features import schemas as S
from features.pairs import FirmArrays
from matcher.core import Matcher
from matcher.leads import FirmIndex, Scored, _batch_from_table, park_scores
from matcher.retrieval import VectorIndex
from training.synth import simulate_firms

TOP = 200
TARGET_SECONDS = 2.0
TARGET_RECALL = 0.95
BENCH_PARKS = ("HE082", "HE098", "TJ051")


def tiled_index(
    matcher: Matcher, n: int, n_distinct: int, seed: int = 11, nlist: int = 4096
) -> tuple[FirmIndex, np.ndarray]:
    """A firm index of ``n`` rows built from ``n_distinct`` simulated firms; and its vectors."""
    firms = simulate_firms(n_distinct, seed)
    batch, errors = matcher.prepare({k: _col(firms, k) for k in S.FIRM_COLUMNS if k in firms})
    if errors:
        raise RuntimeError(f"{len(errors)} simulated firms failed validation: {errors[0].reason}")
    base = FirmIndex(nlist=4).fit(matcher, batch)
    vectors = matcher.firm_vectors(batch, FirmArrays.build(batch, matcher.park_arrays))
    reps = -(-n // len(batch))
    take = pa.array(np.tile(np.arange(len(batch)), reps)[:n])
    table = base.table_.take(take)
    table = table.set_column(
        table.column_names.index(S.ROW), S.ROW, pa.array(np.arange(1, n + 1), pa.int64())
    )
    ids = pa.array([f"B{i:07d}" for i in range(n)], pa.string())
    table = table.set_column(table.column_names.index(S.FIRM_ID), S.FIRM_ID, ids)
    x = np.tile(vectors, (reps, 1))[:n]
    index = FirmIndex(index_type="ivf", nlist=nlist, nprobe=256)
    index.vectors_ = VectorIndex(index_type="ivf", nlist=nlist, nprobe=256).fit(x)
    index.table_ = table
    index.model_version_ = matcher.model_version
    index._direct_map()
    index.refresh()
    return index, x


def _col(firms: Any, name: str) -> np.ndarray:
    if name in S.FIRM_LIST_COLUMNS:
        out = np.empty(len(firms), dtype=object)
        out[:] = [list(v) for v in firms[name]]
        return out
    return firms[name].to_numpy(object)


def exhaustive(index: FirmIndex, matcher: Matcher, p: int, vectors: np.ndarray) -> Scored:
    """Every firm of the index scored for park ``p`` (the naive peer), in chunks."""
    parts = []
    for start in range(0, len(index), 200_000):
        stop = min(start + 200_000, len(index))
        batch = _batch_from_table(index.table_.slice(start, stop - start))
        parts.append(park_scores(matcher, batch, p, vectors[start:stop] @ matcher.park_vectors_[p]))
    rows = index.table_.column(S.ROW).to_numpy()
    return Scored(
        _RowsOnly(rows),  # type: ignore[arg-type]
        np.concatenate(parts),
        index.first_score_,
        index.first_park_,
        index.pressure_,
        index.parts_,
    )


class _RowsOnly:
    """What :meth:`Scored.top` reads of a batch: the rows."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows


def run(matcher: Matcher, n: int, n_distinct: int, repeats: int = 3) -> dict[str, Any]:
    t0 = time.perf_counter()
    index, vectors = tiled_index(matcher, n, n_distinct, nlist=4096 if n >= 500_000 else 256)
    build = time.perf_counter() - t0
    out: dict[str, Any] = {
        "n_firms": n,
        "n_distinct": n_distinct,
        "build_seconds": round(build, 1),
        "parks": {},
    }
    for park_id in BENCH_PARKS:
        p = int(np.flatnonzero(matcher.park_arrays.ids == park_id)[0])
        times = []
        leads: list[dict[str, Any]] = []
        for _ in range(repeats):
            ts = time.perf_counter()
            leads = index.leads(matcher, park_id, TOP)
            times.append(time.perf_counter() - ts)
        ts = time.perf_counter()
        truth = exhaustive(index, matcher, p, vectors)
        naive = time.perf_counter() - ts
        want_rows = truth.batch.rows[truth.top(TOP)]
        got_rows = np.array([int(lead[S.ROW]) for lead in leads])
        want, got = set(want_rows.tolist()), set(got_rows.tolist())
        # copies of one simulated firm tie exactly, and which copies FAISS returns among equal
        # vectors is arbitrary: recall over distinct firms counts a copy as its firm
        want_firms = set(((want_rows - 1) % n_distinct).tolist())
        got_firms = set(((got_rows - 1) % n_distinct).tolist())
        out["parks"][park_id] = {
            "seconds_median": round(float(np.median(times)), 3),
            "seconds_max": round(float(np.max(times)), 3),
            "naive_seconds": round(naive, 2),
            "recall_at_200": round(len(want & got) / max(len(want), 1), 4),
            "recall_at_200_distinct_firms": round(len(want_firms & got_firms) / max(len(want_firms), 1), 4),
            "n_leads": len(leads),
        }
    return out


def bench_leads(ctx: Any) -> None:
    """``parkmatch bench`` section: 1,000,000 firms in the full run, 50,000 in the quick one."""
    from benchmarks.suite import Row, log

    n, n_distinct = (50_000, 5_000) if ctx.quick else (1_000_000, 100_000)
    matcher = Matcher.load(ctx.model_dir)
    log(f"leads: indexing {n:,} firms ({n_distinct:,} distinct)")
    res = run(matcher, n, n_distinct)
    ctx.results["leads"] = res
    for park_id, r in res["parks"].items():
        ctx.rows.append(
            Row(
                "leads",
                f"top-{TOP} leads, {park_id}, {n:,} firms",
                r["seconds_median"],
                r["naive_seconds"],
                "s",
                ratio=r["naive_seconds"] / max(r["seconds_median"], 1e-9),
                target=f"<= {TARGET_SECONDS:g} s",
                met=r["seconds_max"] <= TARGET_SECONDS,
                note="peer: exhaustive scoring of every firm",
            )
        )
        ctx.rows.append(
            Row(
                "leads",
                f"recall@{TOP} vs exhaustive, {park_id}",
                r["recall_at_200"],
                1.0,
                target=f">= {TARGET_RECALL:g}",
                met=r["recall_at_200"] >= TARGET_RECALL,
            )
        )
