"""Batch matching benchmark (``parkmatch bench``, section 3): end-to-end throughput and peak memory.

It lives here rather than in :mod:`matcher.batch` because it needs the synthetic world of
:mod:`training.synth`, which the product layers must not import.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from benchmarks.memory import PeakRSS
from features import schemas as S
from features.validation import columns_from_frame
from matcher.batch import match_file
from matcher.bundle import release_memory
from matcher.core import Matcher
from training.synth import simulate

BENCH_CHUNK_ROWS = 10_000


def output_digest(path: Path) -> str:
    """SHA-256 over the per-row hashes of every column of a Parquet output, by row group."""
    h = hashlib.sha256()
    f = pq.ParquetFile(path)
    h.update(repr(f.schema_arrow.names).encode())
    for i in range(f.num_row_groups):
        rows = pd.util.hash_pandas_object(f.read_row_group(i).to_pandas(), index=False)
        h.update(rows.to_numpy().tobytes())
    return h.hexdigest()


def benchmark_batch(
    model_dir: str | Path,
    n_firms: int = 100_000,
    engine: str = "local",
    workers: int = 2,
    seed: int = 20240601,
) -> dict[str, Any]:
    """End-to-end batch throughput (Parquet → Parquet, top 10) and the ranker's predict-only time
    (compiled trees, both cores) on as many candidate rows.  Chunks of :data:`BENCH_CHUNK_ROWS`
    keep both workers busy to the end.  ``output_sha256`` digests the output's rows, so two
    engines' outputs can be compared."""
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
        # the generator's freed heap goes back to the kernel, so the peak below is the match's
        release_memory()
        out = Path(d) / "out.parquet"
        with PeakRSS() as mem:
            summary = match_file(
                model_dir,
                inp,
                out,
                top=10,
                engine=engine,
                workers=workers,
                progress=False,
                chunk_rows=BENCH_CHUNK_ROWS,
            )
        peak = mem.peak
        digest = output_digest(out)
        # predict-only: the same number of candidate rows, built from real features of a sample
        m = Matcher.load(model_dir)
        batch, _ = m.prepare(columns_from_frame(sample))
        _, _cands, x = m.features(batch)
        xs = x.reshape(-1, x.shape[-1])
        rows = n_firms * x.shape[1]  # every candidate the pipeline scores: FAISS picks plus policy parks
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
        "ranker": m.ranker.engine,
        "output_sha256": digest,
        "predict_rows": rows,
        "pipeline_over_predict": round(secs / max(predict_s, 1e-9), 2),
        "matched": summary.matched,
        "rejected": summary.rejected,
        "recommendations": summary.recommendations,
    }
