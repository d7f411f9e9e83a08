"""``parkmatch serve``: make sure a model and an admin key exist, then run uvicorn."""

from __future__ import annotations

import os
import sys

from api.core.config import Settings
from api.db import Database
from matcher.bundle import MANIFEST

APP_FACTORY = "api.main:app_from_env"


def ensure_model(settings: Settings) -> None:
    """Build the default model from the embedded data on first run (several minutes)."""
    model_dir = settings.resolved_model_dir()
    if (model_dir / MANIFEST).exists():
        return
    from training.train import train_bundle

    world = settings.resolved_world_dir()
    print(
        f"[parkmatch] no model bundle at {model_dir}: building the default model "
        f"({settings.world_firms:,} simulated firms, seed {settings.world_seed}) into it; this runs once",
        file=sys.stderr,
        flush=True,
    )
    train_bundle(world, model_dir, settings.world_firms, settings.world_seed, settings.candidates, settings.index_type, settings.catalogue_path)


def ensure_admin_key(settings: Settings) -> str | None:
    """On an empty key table, create the first admin key and return it (shown once)."""
    db = Database(settings.resolved_database_url())
    try:
        db.create_all()
        if db.count_keys() > 0:
            return None
        row, key = db.create_key(settings.bootstrap_admin_org, "admin", "bootstrap admin key")
    finally:
        db.dispose()
    print(f"[parkmatch] created the first admin key {row.id} for org {row.org!r}; store it now, it is not shown again:", file=sys.stderr)
    print(key, flush=True)
    return key


def export_settings(settings: Settings) -> None:
    """Worker processes build their app from the environment: hand them the resolved values."""
    os.environ["PARKMATCH_HOME"] = str(settings.home)
    os.environ["PARKMATCH_MODEL_DIR"] = str(settings.resolved_model_dir())
    os.environ["PARKMATCH_DATABASE_URL"] = settings.resolved_database_url()
    os.environ["PARKMATCH_MAX_BATCH"] = str(settings.max_batch)
    if settings.catalogue_path is not None:
        os.environ["PARKMATCH_CATALOGUE_PATH"] = str(settings.catalogue_path)
    # One request is a small, single-firm computation: extra OpenMP threads per worker only
    # contend for the cores the other workers use.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def cli_serve(settings: Settings, workers: int = 1) -> int:
    import uvicorn

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    ensure_model(settings)
    ensure_admin_key(settings)
    export_settings(settings)
    print(f"[parkmatch] serving on http://{settings.host}:{settings.port} (docs at /docs), {workers} worker(s)", file=sys.stderr, flush=True)
    uvicorn.run(APP_FACTORY, factory=True, host=settings.host, port=settings.port, workers=workers, log_level="info", access_log=False)
    return 0
