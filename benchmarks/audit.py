"""What the audit log costs a single recommendation: the same load as the HTTP section (real
uvicorn on loopback, concurrent keep-alive clients posting single firms) against two servers of
the same bundle, one with the audit on and one with it off, started together and driven in
alternating runs, so both see the same machine.  Medians over the runs, and their ratio.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from api.db import AuditEntry, Database
from benchmarks.http import _drive, running_server


def _figures(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    arr = np.asarray(latencies, dtype=np.float64)
    pct = (lambda q: round(float(np.percentile(arr, q)), 2)) if arr.size else (lambda q: float("nan"))
    return {
        "requests": int(arr.size),
        "errors": int(errors),
        "requests_per_s": round(arr.size / seconds, 1),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }


def _audit_rows(home: Path) -> int:
    db = Database(f"sqlite:///{(home / 'parkmatch.db').as_posix()}")
    try:
        with db.session() as s:
            return int(s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0)
    finally:
        db.dispose()


def run_audit_cost(
    model_dir: Path, clients: int = 8, seconds: float = 10.0, runs: int = 3, workers: int = 2
) -> dict[str, Any]:
    """``runs`` pairs of ``seconds``-long runs, audit off then on (the order alternates each
    pair), against two servers of ``model_dir`` running side by side.

    Returns each run's figures, the medians of p50 and p99 per mode, the on/off ratios, and the
    rows the audited server wrote (after its shutdown flush) against the requests it answered.
    """
    if runs < 1 or seconds <= 0:
        raise ValueError("runs must be at least 1 and seconds positive")
    per_mode: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="parkmatch-audit-bench-") as tmp:
        homes = {mode: Path(tmp) / mode for mode in per_mode}
        with (
            running_server(
                Path(model_dir), homes["off"], workers=workers, extra_env={"PARKMATCH_AUDIT": "false"}
            ) as off,
            running_server(
                Path(model_dir), homes["on"], workers=workers, extra_env={"PARKMATCH_AUDIT": "true"}
            ) as on,
        ):
            servers = {"off": off, "on": on}
            sent = {"off": 0, "on": 0}
            for i in range(runs):
                for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                    lat, errors, elapsed, samples = _drive(
                        servers[mode].url, servers[mode].api_key, clients, float(seconds), warmup=1.0
                    )
                    fig = _figures(lat, errors, elapsed)
                    fig["error_samples"] = samples
                    per_mode[mode].append(fig)
                    sent[mode] += fig["requests"] + fig["errors"]
        rows = {mode: _audit_rows(home) for mode, home in homes.items()}

    def median(mode: str, key: str) -> float:
        return round(statistics.median(r[key] for r in per_mode[mode]), 2)

    out: dict[str, Any] = {
        "endpoint": "POST /v1/recommendations",
        "clients": clients,
        "workers": workers,
        "seconds_per_run": seconds,
        "runs": runs,
        "off": {
            "runs": per_mode["off"],
            "p50_ms": median("off", "p50_ms"),
            "p99_ms": median("off", "p99_ms"),
        },
        "on": {"runs": per_mode["on"], "p50_ms": median("on", "p50_ms"), "p99_ms": median("on", "p99_ms")},
        # the warm-up requests are answered and audited too, so the rows are at least the measured ones
        "audit_rows": rows,
        "measured_requests": sent,
        "errors": sum(r["errors"] for rs in per_mode.values() for r in rs),
    }
    for q in ("p50_ms", "p99_ms"):
        off_q = out["off"][q]
        out[f"{q[:3]}_ratio"] = round(out["on"][q] / off_q, 3) if off_q else None
        # each pair ran back to back, so its ratio shares the machine's load of that moment
        pairs = [a[q] / b[q] for a, b in zip(per_mode["on"], per_mode["off"], strict=True) if b[q]]
        out[f"{q[:3]}_pair_ratio_median"] = round(statistics.median(pairs), 3) if pairs else None
    return out
