"""``parkmatch serve``'s HTTP half: the first admin key, the worker environment, uvicorn.

Building a first model is not the HTTP layer's job: :mod:`parkmatch.cli` does it before calling
:func:`cli_serve`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
    uvicorn.run(
        APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="info", access_log=False
    )
    return 0
