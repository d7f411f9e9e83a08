"""``parkmatch serve``'s HTTP half: the first admin key, the worker environment, uvicorn.

Building a first model is not the HTTP layer's job: :mod:`parkmatch.cli` does it before calling
:func:`cli_serve`.
"""

from __future__ import annotations

import sys

from api.db import Database

APP_FACTORY = "parkmatch.app:app_from_env"


def ensure_admin_key(database_url: str, org: str) -> str | None:
    """On an empty key table, create the first admin key and return it (shown once)."""
    db = Database(database_url)
    try:
        db.create_all()
        if db.count_keys() > 0:
            return None
        row, key = db.create_key(org, "admin", "bootstrap admin key")
    finally:
        db.dispose()
    print(
        f"[parkmatch] created the first admin key {row.id} for org {row.org!r}; "
        "store it now, it is not shown again:",
        file=sys.stderr,
    )
    print(key, flush=True)
    return key


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
