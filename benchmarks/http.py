"""HTTP load test: a real uvicorn on loopback, driven by concurrent keep-alive clients.

``run_http_benchmark`` is what ``parkmatch bench`` calls; :func:`running_server` is also used by
the integration tests.  Everything binds to 127.0.0.1 and every loop is bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
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
    rate_limit: int = 10_000_000,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``uvicorn parkmatch.app:app_from_env --factory`` on loopback with its own home and
    database, create an API key, wait for ``/health`` and stop the server afterwards.  ``extra_env``
    adds or overrides ``PARKMATCH_*`` settings (the audit section serves with the audit off)."""
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
        # The limiter counts every request as in production; the load itself must not trip it.
        **{f"PARKMATCH_RATE_LIMIT_{r.upper()}": str(rate_limit) for r in ("viewer", "officer", "admin")},
    }
    env.update(extra_env or {})
    # the real command: with several workers, each has its own SO_REUSEPORT listener
    cmd = [
        sys.executable, "-m", "parkmatch", "serve",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
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


def _extra_key(server: Server, role: str, label: str) -> str:
    """Another key on the server's database (each batch client sends with its own key)."""
    db = Database(f"sqlite:///{(server.log_path.parent / 'parkmatch.db').as_posix()}")
    try:
        return db.create_key("bench", role, label)[1]
    finally:
        db.dispose()


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values), q)), 2) if values else float("nan")


@dataclass
class _Loop:
    """A client thread posting until ``stop``: latencies (ms) and every status it got."""

    statuses: list[int]
    latencies: list[float]
    thread: threading.Thread


def _loop(url: str, key: str, stop: threading.Event, send: Any, timeout: float = 120.0) -> _Loop:
    loop = _Loop([], [], threading.Thread(daemon=True))

    def run() -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=timeout) as client:
            n = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    status = send(client, n).status_code
                except httpx.HTTPError:
                    status = 599  # no answer at all: counted with the 5xx
                loop.latencies.append((time.perf_counter() - t0) * 1000.0)
                loop.statuses.append(status)
                n += 1

    loop.thread = threading.Thread(target=run, daemon=True)
    loop.thread.start()
    return loop


def _single(client: httpx.Client, n: int) -> httpx.Response:
    return client.post("/v1/recommendations", json=BENCH_FIRMS[n % len(BENCH_FIRMS)])


def _batch_of(size: int) -> Any:
    """Encoded once: the load clients share the measuring process, and its CPU, with the
    single-firm clients."""
    firms = [{**BENCH_FIRMS[i % len(BENCH_FIRMS)], "firm_id": str(i)} for i in range(size)]
    body = json.dumps({"firms": firms}, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    return lambda client, _n: client.post("/v1/recommendations/batch", content=body, headers=headers)


def _run_for(seconds: float, loops: list[_Loop], stop: threading.Event) -> None:
    time.sleep(seconds)
    stop.set()
    for loop in loops:
        loop.thread.join(timeout=180)


def _batch_sender(url: str, key: str, size: int, stop: Any, out: Any) -> None:
    """A batch client in its own process: posts ``size``-firm batches until ``stop`` is set,
    then puts (statuses, latencies in ms) on ``out``."""
    send = _batch_of(size)
    statuses: list[int] = []
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=180) as client:
        n = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                statuses.append(send(client, n).status_code)
            except httpx.HTTPError:
                statuses.append(599)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            n += 1
    out.put((statuses, latencies))


def run_batch_isolation(
    model_dir: Path,
    seconds: float = 20,
    workers: int = 2,
    single_clients: int = 2,
    batch_keys: int = 2,
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Single-firm latency alone, then while ``batch_keys`` keys (one client each) send
    ``batch_size``-firm batches back to back; both phases on the same server in the same run.

    The claim it checks: single p99 under the batch load stays within 2× its unloaded value."""
    with (
        tempfile.TemporaryDirectory(prefix="parkmatch-isolation-") as tmp,
        running_server(Path(model_dir), Path(tmp), workers=workers) as server,
    ):
        warm = threading.Event()
        _run_for(2.0, [_loop(server.url, server.api_key, warm, _single) for _ in range(single_clients)], warm)
        phases: dict[str, Any] = {}
        ctx = multiprocessing.get_context("spawn")
        for phase in ("unloaded", "batch_load"):
            stop = threading.Event()
            senders: list[tuple[Any, Any]] = []
            if phase == "batch_load":
                # one process per key, as the batches come from other machines: their clients
                # must not share this process's interpreter with the single-firm clients
                go = ctx.Event()
                for i in range(batch_keys):
                    out = ctx.Queue()
                    key = _extra_key(server, "viewer", f"batch {i}")
                    proc = ctx.Process(target=_batch_sender, args=(server.url, key, batch_size, go, out))
                    proc.start()
                    senders.append((proc, out))
                time.sleep(3.0)  # the batches are running before single latencies are counted
            singles = [_loop(server.url, server.api_key, stop, _single) for _ in range(single_clients)]
            load_start = os.getloadavg()[0]
            _run_for(seconds, singles, stop)
            batch_results = []
            if senders:
                go.set()
                batch_results = [out.get(timeout=180) for _, out in senders]
                for proc, _ in senders:
                    proc.join(timeout=30)
            lat = [x for s in singles for x in s.latencies]
            statuses = [x for s in singles for x in s.statuses] + [x for r in batch_results for x in r[0]]
            batch_lat = [x for r in batch_results for x in r[1]]
            phases[phase] = {
                "single_requests": len(lat),
                "single_p50_ms": _pct(lat, 50),
                "single_p99_ms": _pct(lat, 99),
                "batches_done": sum(st == 200 for r in batch_results for st in r[0]),
                "batch_p50_s": round(_pct(batch_lat, 50) / 1000, 2) if batch_results else None,
                "non_200": sum(st != 200 for st in statuses),
                "load_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            }
    unloaded, loaded = phases["unloaded"]["single_p99_ms"], phases["batch_load"]["single_p99_ms"]
    return {
        "workers": workers,
        "single_clients": single_clients,
        "batch_keys": batch_keys,
        "batch_size": batch_size,
        "seconds_per_phase": seconds,
        **phases,
        "p99_ratio": round(loaded / unloaded, 2) if unloaded else None,
        "cpu_count": os.cpu_count(),
    }


def _worker_rss(server: Server) -> dict[int, int]:
    """RSS in bytes of each uvicorn worker process together with its own children (the batch
    process and its resource tracker): what one worker costs the machine."""
    import psutil

    def total(proc: psutil.Process) -> int:
        size = 0
        for p in (proc, *proc.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                size += p.memory_info().rss
        return size

    supervisor = psutil.Process(server.process.pid)
    workers = []
    for child in supervisor.children(recursive=False):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(child.cmdline())
            if "spawn_main" in cmd and "resource_tracker" not in cmd:
                workers.append(child)
    if not workers:  # one worker runs in the supervisor
        return {supervisor.pid: total(supervisor)}
    return {w.pid: total(w) for w in workers}


# RSS after warm-up may rise at most this much per worker (median of the soak's last third
# against the median of its middle third) for memory to count as flat: one model bundle leaked
# per reload would add well over a hundred MiB each time.
FLAT_RSS_MIB = 32.0


Series = list[tuple[float, dict[int, int]]]


def _rss_series(server: Server, stop: threading.Event, every: float, out: Series) -> None:
    began = time.monotonic()
    while not stop.wait(every):
        out.append((round(time.monotonic() - began, 1), _worker_rss(server)))


def rss_flatness(series: Series) -> dict[str, Any]:
    """Per worker: the middle and last thirds' median RSS (MiB) and their difference."""
    third = len(series) // 3
    out: dict[str, Any] = {}
    if third == 0:
        return out
    for pid in series[0][1]:
        mid = [v[pid] / 2**20 for _, v in series[third : 2 * third] if pid in v]
        last = [v[pid] / 2**20 for _, v in series[2 * third :] if pid in v]
        if mid and last:
            m, lst = float(np.median(mid)), float(np.median(last))
            out[str(pid)] = {
                "middle_mib": round(m, 1),
                "last_mib": round(lst, 1),
                "growth_mib": round(lst - m, 1),
            }
    return out


def run_soak(
    model_dir: Path, seconds: float = 60, workers: int = 2, reload_every: float = 10, batch_size: int = 200
) -> dict[str, Any]:
    """``seconds`` of mixed traffic on loopback: two single-firm clients, one batch client, one
    feedback client and a reload every ``reload_every`` seconds.  Reports 5xx answers, feedback
    rows against 201s (lost writes) and each worker's RSS at the start and the end."""
    with (
        tempfile.TemporaryDirectory(prefix="parkmatch-soak-") as tmp,
        running_server(Path(model_dir), Path(tmp), workers=workers) as server,
    ):
        with httpx.Client(base_url=server.url, headers={"X-API-Key": server.api_key}, timeout=30) as c:
            park_id = _single(c, 0).json()["recommendations"][0]["park_id"]
        warm = threading.Event()
        _run_for(3.0, [_loop(server.url, server.api_key, warm, _single) for _ in range(2)], warm)
        rss_start = _worker_rss(server)

        def feedback(client: httpx.Client, n: int) -> httpx.Response:
            body = {"firm_name": f"北京某企业{n}", "park_id": park_id, "outcome": "shortlisted"}
            return client.post("/v1/feedback", json=body)

        began = time.monotonic()

        def reload(client: httpx.Client, n: int) -> httpx.Response:
            # on a fixed 10 s schedule, however long each reload takes
            stop.wait(max(0.0, began + (n + 1) * reload_every - time.monotonic()))
            return client.post("/v1/admin/reload", json={"path": str(model_dir)})

        stop = threading.Event()
        key = server.api_key
        loops = {
            "single": [_loop(server.url, key, stop, _single) for _ in range(2)],
            "batch": [_loop(server.url, key, stop, _batch_of(batch_size))],
            "feedback": [_loop(server.url, key, stop, feedback)],
            "reload": [_loop(server.url, key, stop, reload)],
        }
        series: Series = []
        sampler = threading.Thread(target=_rss_series, args=(server, stop, 2.0, series), daemon=True)
        sampler.start()
        _run_for(seconds, [x for v in loops.values() for x in v], stop)
        sampler.join(timeout=10)
        rss_end = _worker_rss(server)
        db = Database(f"sqlite:///{(Path(tmp) / 'parkmatch.db').as_posix()}")
        try:
            from api.db import Feedback

            with db.session() as s:
                rows = s.query(Feedback).count()
        finally:
            db.dispose()
    statuses = {name: [st for x in v for st in x.statuses] for name, v in loops.items()}
    flat = rss_flatness(series)
    return {
        "seconds": seconds,
        "workers": workers,
        "requests": {name: len(v) for name, v in statuses.items()},
        "status_counts": {
            name: {str(code): v.count(code) for code in sorted(set(v))} for name, v in statuses.items()
        },
        "5xx": sum(st >= 500 for v in statuses.values() for st in v),
        "feedback_201": statuses["feedback"].count(201),
        "feedback_rows": rows,
        "lost_writes": statuses["feedback"].count(201) - rows,
        "rss_mib_start": {str(k): round(v / 2**20, 1) for k, v in sorted(rss_start.items())},
        "rss_mib_end": {str(k): round(v / 2**20, 1) for k, v in sorted(rss_end.items())},
        "rss_mib_series": [
            [t, {str(k): round(v / 2**20, 1) for k, v in sorted(sample.items())}] for t, sample in series
        ],
        "rss_flatness": flat,
        "rss_flat": bool(flat) and all(w["growth_mib"] <= FLAT_RSS_MIB for w in flat.values()),
        "load_1min_end": round(os.getloadavg()[0], 2),
    }


# --- wrk: a C load generator, so the client costs almost nothing -----------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, \\"p50_us\\": %.1f, " ..
    "\\"p90_us\\": %.1f, \\"p99_us\\": %.1f, \\"max_us\\": %.1f}}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def ensure_wrk() -> tuple[str | None, str]:
    """The path of ``wrk``, installing Debian's package when it is missing; or ``None`` and why not."""
    found = shutil.which("wrk")
    if found:
        return found, "found on PATH"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "wrk is not installed and there is no apt-get to install it"
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    try:
        for args in (["update"], ["install", "-y", "--no-install-recommends", "wrk"]):
            subprocess.run([*prefix, apt, *args], check=True, capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"wrk is not installed and apt-get could not install it: {exc}"
    found = shutil.which("wrk")
    return (found, "installed with apt-get") if found else (None, "apt-get ran but wrk is not on PATH")


def worker_counts(url: str, probes: int = 40) -> dict[int, int]:
    """pid → requests that worker has served, over fresh connections (the kernel spreads them)."""
    seen: dict[int, int] = {}
    for _ in range(probes):
        with httpx.Client(base_url=url, timeout=10) as c:
            h = c.get("/health").json()
        seen[int(h["pid"])] = int(h.get("requests_served", 0))
    return seen


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process and all its children."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def wait_until_idle(
    pid: int, quiet_cpu_s: float = 0.05, interval: float = 0.5, timeout: float = 90.0
) -> float:
    """Wait until the server's process tree uses under ``quiet_cpu_s`` of CPU in ``interval``
    seconds; the seconds waited.  A worker answers ``/health`` before its batch process has
    loaded the model (at the lowest priority): measured before that, the start-up's CPU would be
    charged to the requests."""
    t0 = time.monotonic()
    last = server_cpu_seconds(pid)
    while time.monotonic() - t0 < timeout:
        time.sleep(interval)
        now = server_cpu_seconds(pid)
        if now - last < quiet_cpu_s:
            break
        last = now
    return round(time.monotonic() - t0, 1)


def run_wrk_benchmark(
    model_dir: Path, connections: int = 8, workers: int = 2, runs: int = 3, seconds: int = 10
) -> dict[str, Any]:
    """``runs`` runs of ``wrk`` against ``parkmatch serve --workers N``, posting one firm; per run
    requests/s, latency percentiles, errors, server CPU per request and requests per worker."""
    wrk, how = ensure_wrk()
    if wrk is None:
        return {"status": "not available", "reason": how}
    firm = BENCH_FIRMS[0]
    out: dict[str, Any] = {"wrk": wrk, "wrk_source": how, "firm": firm, "runs": []}
    with (
        tempfile.TemporaryDirectory(prefix="parkmatch-wrk-") as tmp,
        running_server(Path(model_dir), Path(tmp), workers=workers) as server,
    ):
        script = Path(tmp) / "post.lua"
        body = json.dumps(firm, ensure_ascii=False)
        script.write_text(WRK_SCRIPT.format(body=body, key=server.api_key), encoding="utf-8")
        cmd = [wrk, "-t1", f"-c{connections}", "-d2s", "-s", str(script), server.url + "/v1/recommendations"]
        out["idle_wait_s"] = wait_until_idle(server.process.pid)
        subprocess.run(cmd, capture_output=True, timeout=60, check=False)  # warm-up
        for _ in range(runs):
            before = worker_counts(server.url)
            cpu0 = server_cpu_seconds(server.process.pid)
            cmd[3] = f"-d{seconds}s"
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
            cpu1 = server_cpu_seconds(server.process.pid)
            after = worker_counts(server.url)
            line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
            if line is None:
                out["runs"].append({"status": "failed", "reason": (done.stdout + done.stderr)[-400:]})
                continue
            r = json.loads(line[len("WRK_JSON ") :])
            secs = r["duration_us"] / 1e6
            served = {pid: after.get(pid, 0) - before.get(pid, 0) for pid in after}
            out["runs"].append(
                {
                    "requests": r["requests"],
                    "requests_per_s": round(r["requests"] / secs, 1),
                    "p50_ms": round(r["p50_us"] / 1000, 2),
                    "p90_ms": round(r["p90_us"] / 1000, 2),
                    "p99_ms": round(r["p99_us"] / 1000, 2),
                    "max_ms": round(r["max_us"] / 1000, 2),
                    "errors": r["errors"],
                    "cpu_ms_per_request": round(1000 * (cpu1 - cpu0) / max(r["requests"], 1), 3),
                    "served_per_worker": sorted(served.values(), reverse=True),
                }
            )
    out.update({"connections": connections, "workers": workers, "seconds": seconds})
    return out
