"""The FastAPI application: ``create_app(config, matcher=None)``.

The lifespan loads the model bundle once (unless a matcher is handed in, as tests do) and opens
the database; requests only read the loaded model.  Worker processes build the app through the
composition root's factory, :func:`parkmatch.app.app_from_env`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api import migrations
from api.audit import AuditLog
from api.batchwork import BatchWork, warm_in_background
from api.config import ApiConfig
from api.db import Database
from api.deps import Inference, ModelHolder, ModelState
from api.errors import install_error_handlers
from api.gate import RequestGate
from api.routes import audit as audit_routes
from api.routes import briefs, feedback, followups, industries, keys, parks, parkside, recommendations, system
from api.routes import corrections as correction_routes
from api.service import parkmatch_version
from api.web.app import install_web, shutdown_web
from matcher.core import Matcher

log = logging.getLogger("parkmatch.api")

# Matcher threads per process; scale with uvicorn workers (one process per core) instead.
INFERENCE_THREADS = 1
# Batch calls run in child processes at the lowest CPU priority (api.batchwork); a model that
# lives only in memory runs them on a thread at this niceness.
BATCH_NICENESS = 19


def batch_pool(config: ApiConfig) -> BatchWork:
    return BatchWork(config.batch_threads, max_pending=config.batch_queue, niceness=BATCH_NICENESS)


DESCRIPTION = """
Match Beijing firms relocating under the 疏解北京非首都功能 policy to receiving parks in
Beijing, Tianjin and Hebei.  Every `/v1` route needs an API key (`X-API-Key` header, or
`Authorization: Bearer <key>`) bound to an organisation and a role (viewer < officer < admin).
Errors always have the shape `{"error": {"code", "message", "field"?}}`.
"""


def _first_load(holder: ModelHolder, db: Database, config: ApiConfig, matcher: Matcher | None) -> None:
    """Start on the fleet's active model when one is recorded, so a worker that uvicorn
    restarts serves what the others serve, not the configured directory."""
    record = db.active_model()
    if matcher is not None:
        holder.swap(ModelState.build(matcher, "(in memory)"), record.generation if record else 0)
        return
    if record is not None:
        try:
            log.info("loading the active model bundle %s (generation %d)", record.path, record.generation)
            holder.swap(ModelState.load_pinned(Path(record.path), record.manifest_sha256), record.generation)
            return
        except Exception as exc:
            holder.last_error = f"generation {record.generation}: {type(exc).__name__}: {exc}"
            log.error("the active model cannot be loaded (%s); serving the configured one", exc)
    log.info("loading model bundle %s", config.model_dir)
    holder.swap(ModelState.load_verified(Path(config.model_dir)), 0)


async def watch_active_model(
    holder: ModelHolder, db: Database, interval: float, batches: BatchWork | None = None
) -> None:
    """Poll the recorded active model every ``interval`` seconds and swap when it moves: a
    reload answered by one worker reaches every worker of every server within ``interval``
    plus one in-process load (documented in docs/deploy.md)."""
    while True:
        await asyncio.sleep(interval)
        try:
            if await run_in_threadpool(holder.follow, db):
                if batches is not None:
                    warm_in_background(batches, holder.state)
                log.info(
                    "now serving generation %d (%s)", holder.generation, holder.state.matcher.model_version
                )
        except Exception:  # a database hiccup must not stop the watcher
            log.exception("checking the active model failed")


def create_app(config: ApiConfig, matcher: Matcher | None = None) -> FastAPI:

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db: Database = app.state.db
        await run_in_threadpool(migrations.on_start, db.engine)
        app.state.audit.start()
        app.state.inference = Inference(INFERENCE_THREADS)
        app.state.batch_inference = batch_pool(config)
        holder: ModelHolder = app.state.models
        if not holder.loaded:
            await run_in_threadpool(_first_load, holder, db, config, matcher)
        warm_in_background(app.state.batch_inference, holder.state)
        watcher = asyncio.create_task(
            watch_active_model(holder, db, config.reload_poll_seconds, app.state.batch_inference)
        )
        try:
            yield
        finally:
            watcher.cancel()
            app.state.inference.shutdown()
            app.state.batch_inference.shutdown()
            shutdown_web(app)
            await run_in_threadpool(app.state.audit.close)  # writes what is still queued
            db.dispose()

    app = FastAPI(
        title="parkmatch",
        version=parkmatch_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api.web from local Swagger UI files (works offline)
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.config = config
    app.state.db = Database(config.database_url)
    app.state.models = ModelHolder()
    app.state.served = [0]  # HTTP requests this worker has answered (see /health)
    app.state.inference = Inference(INFERENCE_THREADS)
    app.state.batch_inference = batch_pool(config)
    # served results are queued per call and written off the request path (api.audit)
    app.state.audit = AuditLog(
        app.state.db,
        enabled=config.audit,
        retention_days=config.audit_retention_days,
        flush_seconds=config.audit_flush_seconds,
    )
    install_error_handlers(app)
    app.add_middleware(RequestGate, max_body_bytes=config.max_body_bytes, rate_limits=config.rate_limits)
    # followups before feedback: its fixed /v1/feedback/conversion must win over any /{id} route
    for module in (system, recommendations, parkside, parks, briefs, industries, followups, feedback, keys):
        app.include_router(module.router)
    app.include_router(audit_routes.router)
    app.include_router(correction_routes.router)
    install_web(app, config)
    app.state.batch_runner.audit = app.state.audit
    return app
