"""HTTP load test: a real uvicorn on loopback, driven by concurrent keep-alive clients.

``run_http_benchmark`` is what ``parkmatch bench`` calls; :func:`running_server` is also used by
the integration tests.  Everything binds to 127.0.0.1 and every loop is bounded in time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from api.db import Database
from api.serve import APP_FACTORY

HOST = "127.0.0.1"

# Varied, valid profiles: code only, description only, full profiles, port and pollution needs.
BENCH_FIRMS: tuple[dict[str, Any], ...] = (
    {"name": "北京某制药有限公司", "industry_code": "2710", "employees": 300},
    {
        "name": "北京某软件公司",
        "description": "软件开发、信息技术咨询服务、数据处理",
        "functions": ["back_office", "data_center"],
    },
    {
        "name": "北京某物流公司",
        "industry_code": "5810",
        "functions": ["logistics"],
        "max_distance_km": 200,
        "land_need_mu": 80,
    },
    {
        "name": "北京某汽车零部件公司",
        "industry_code": "3670",
        "employees": 1200,
        "land_need_mu": 150,
        "subsidy_priorities": ["land", "tax"],
    },
    {"name": "北京某批发市场商户", "industry_code": "5132", "functions": ["wholesale"], "beijing_ties": 0.8},
    {
        "name": "北京某化工公司",
        "industry_code": "2614",
        "pollution_level": "high",
        "needs_port": True,
        "employees": 500,
    },
    {
        "name": "北京某医疗器械公司",
        "industry_code": "3581",
        "talent_level": 0.7,
        "chain_partner_codes": ["2710", "3583"],
    },
    {
        "name": "北京某研究院",
        "description": "新材料研发 技术服务 检验检测",
        "functions": ["rnd", "research"],
        "origin_district": "海淀区",
    },
    {
        "name": "北京某食品公司",
        "industry_code": "1411",
        "employees": 260,
        "revenue_cny_10k": 52000,
        "origin_district": "大兴区",
    },
    {
        "name": "北京某电子公司",
        "industry_code": "3971",
        "floor_area_need_m2": 20000,
        "subsidy_priorities": ["rnd", "talent"],
    },
    {"name": "北京某服装公司", "industry_code": "1811", "employees": 800, "max_distance_km": 300},
    {"name": "北京某数据中心", "industry_code": "6450", "functions": ["data_center"], "land_need_mu": 60},
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    api_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def running_server(
    model_dir: Path,
    home: Path,
    workers: int = 1,
    port: int | None = None,
    startup_timeout: float = 120.0,
    role: str = "admin",
) -> Iterator[Server]:
    """Start ``uvicorn parkmatch.app:app_from_env --factory`` on loopback with its own home and
    database, create an API key, wait for ``/health`` and stop the server afterwards."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{(home / 'parkmatch.db').as_posix()}"
    db = Database(db_url)
    try:
        db.create_all()
        _, key = db.create_key("bench", role, "load test")
    finally:
        db.dispose()
    port = port or free_port()
    env = {
        **os.environ,
        "PARKMATCH_HOME": str(home),
        "PARKMATCH_MODEL_DIR": str(model_dir),
        "PARKMATCH_DATABASE_URL": db_url,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable, "-m", "uvicorn", APP_FACTORY, "--factory",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    log_path = home / "uvicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(Path(__file__).resolve().parents[1])
        )
    server = Server(f"http://{HOST}:{port}", key, proc, log_path)
    try:
        _wait_ready(server, startup_timeout, workers)
        yield server
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Ask the server to stop (uvicorn finishes its requests), kill it if it does not."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_ready(server: Server, timeout: float, workers: int) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"uvicorn exited with code {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                r = client.get(server.url + "/health")
                if r.status_code == 200 and r.json().get("model_loaded"):
                    if workers > 1:  # one worker answered; give the others time to finish loading
                        time.sleep(min(2.0 * workers, 10.0))
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not become ready within {timeout:.0f}s:\n{server.log_tail()}")


def _drive(
    url: str, key: str, clients: int, seconds: float, warmup: float = 2.0
) -> tuple[list[float], int, float, list[str]]:
    """``clients`` threads, each with its own keep-alive connection, posting single firms."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    samples: list[str] = []
    start_at = time.monotonic() + warmup
    stop_at = start_at + seconds

    def worker(i: int) -> None:
        headers = {"X-API-Key": key}
        n = i
        with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:
            while True:
                began = time.monotonic()
                if began >= stop_at:
                    return
                firm = BENCH_FIRMS[n % len(BENCH_FIRMS)]
                n += 1
                t0 = time.perf_counter()
                try:
                    r = client.post("/v1/recommendations", json=firm)
                    ok = r.status_code == 200
                    if not ok and len(samples) < 5:
                        samples.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    ok = False
                    if len(samples) < 5:
                        samples.append(f"{type(exc).__name__}: {exc}")
                dt = time.perf_counter() - t0
                if began >= start_at:  # requests of the warm-up are not counted
                    if ok:
                        latencies[i].append(dt * 1000.0)
                    else:
                        errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=warmup + seconds + 60)
    elapsed = seconds
    return [x for lat in latencies for x in lat], sum(errors), elapsed, samples


def run_http_benchmark(
    model_dir: Path, clients: int = 8, seconds: float = 30, workers: int = 2
) -> dict[str, Any]:
    """Serve ``model_dir`` with uvicorn (``workers`` single-threaded processes) and measure
    single-firm ``POST /v1/recommendations`` under ``clients`` concurrent keep-alive clients.

    Returns latency percentiles in milliseconds, requests per second and the error count.
    """
    if clients < 1 or workers < 1 or seconds <= 0:
        raise ValueError("clients and workers must be at least 1 and seconds positive")
    with (
        tempfile.TemporaryDirectory(prefix="parkmatch-http-bench-") as tmp,
        running_server(Path(model_dir), Path(tmp), workers=workers) as server,
    ):
        lat, errors, elapsed, samples = _drive(server.url, server.api_key, clients, float(seconds))
    arr = np.asarray(lat, dtype=np.float64)
    pct = (lambda q: round(float(np.percentile(arr, q)), 2)) if arr.size else (lambda q: float("nan"))
    return {
        "endpoint": "POST /v1/recommendations",
        "clients": clients,
        "workers": workers,
        "seconds": float(seconds),
        "requests": int(arr.size),
        "errors": int(errors),
        "error_samples": samples,
        "requests_per_s": round(arr.size / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(float(arr.max()), 2) if arr.size else float("nan"),
        "cpu_count": os.cpu_count(),
    }
