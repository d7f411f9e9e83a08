"""``parkmatch serve``'s HTTP half: the first admin key, the worker environment, uvicorn.

Building a first model is not the HTTP layer's job: :mod:`parkmatch.cli` does it before calling
:func:`cli_serve`.

With several workers each one opens its own listening socket on the same port with
``SO_REUSEPORT``, so the kernel spreads new connections evenly over the workers by a hash of
the connection.  With one shared socket (uvicorn's own ``--workers``) whichever worker wakes
first takes the connection, and a few keep-alive clients can all end up on one worker while the
other idles: half the throughput.  The parent process only supervises: it never listens, starts
the workers, restarts one that dies, and stops them all on SIGINT/SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from api.db import Database

APP_FACTORY = "parkmatch.app:app_from_env"


def ensure_admin_key(database_url: str, org: str, key_file: Path) -> str | None:
    """On an empty key table, create the first admin key, write it to ``key_file`` (mode 0600)
    and print the file's path.  The key itself never goes to stdout or stderr, which end up in
    service logs; the operator reads the file once and deletes it."""
    db = Database(database_url)
    try:
        db.create_all()
        if db.count_keys() > 0:
            return None
        row, key = db.create_key(org, "admin", "bootstrap admin key")
    finally:
        db.dispose()
    write_secret(Path(key_file), key + "\n")
    print(
        f"[parkmatch] created the first admin key {row.id} for org {row.org!r} and wrote it to "
        f"{key_file} (mode 0600); store it and delete the file",
        file=sys.stderr,
        flush=True,
    )
    return key


def write_secret(path: Path, text: str) -> None:
    """Create or replace ``path`` readable by its owner only, never briefly wider: the mode is
    set when the file is created, and fixed before writing if the file already existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


RESTART_PAUSE_SECONDS = 1.0


def cli_serve(host: str, port: int, workers: int = 1) -> int:
    """Run uvicorn; worker processes build their app from the environment the caller exported."""
    import uvicorn

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    print(
        f"[parkmatch] serving on http://{host}:{port} (docs at /docs), {workers} worker(s)",
        file=sys.stderr,
        flush=True,
    )
    if workers == 1:
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, log_level="info", access_log=False)
        return 0
    return serve_workers(host, port, workers)


def listener(host: str, port: int, listen: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``: one per worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _worker_main(host: str, port: int) -> None:
    """One worker: its own listening socket, one uvicorn server on it."""
    import uvicorn

    sock = listener(host, port)
    config = uvicorn.Config(APP_FACTORY, factory=True, log_level="info", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int) -> int:
    """Start ``workers`` processes with their own ``SO_REUSEPORT`` listeners and supervise them."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError(
            "this system has no SO_REUSEPORT; run one worker per port behind a proxy (docs/deploy.md)"
        )
    listener(host, port, listen=False).close()  # fails now, in the parent, if the port is taken
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        proc = ctx.Process(target=_worker_main, args=(host, port), daemon=False)
        proc.start()
        return proc

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    try:
        while not stopping:
            for i, proc in enumerate(procs):
                if not proc.is_alive() and not stopping:
                    print(
                        f"[parkmatch] worker {proc.pid} exited with {proc.exitcode}; starting another",
                        file=sys.stderr,
                        flush=True,
                    )
                    time.sleep(RESTART_PAUSE_SECONDS)
                    procs[i] = start()
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
