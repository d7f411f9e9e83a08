"""The FastAPI application: ``create_app(config, matcher=None)``.

The lifespan loads the model bundle once (unless a matcher is handed in, as tests do) and opens
the database; requests only read the loaded model.  Worker processes build the app through the
composition root's factory, :func:`parkmatch.app.app_from_env`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.config import ApiConfig
from api.db import Database
from api.deps import Inference, ModelHolder, ModelState
from api.errors import install_error_handlers
from api.routes import feedback, industries, parks, recommendations, system
from api.service import parkmatch_version
from matcher.core import Matcher

log = logging.getLogger("parkmatch.api")

# Matcher threads per process; scale with uvicorn workers (one process per core) instead.
INFERENCE_THREADS = 1

DESCRIPTION = """
Match Beijing firms relocating under the 疏解北京非首都功能 policy to receiving parks in
Beijing, Tianjin and Hebei.  Every `/v1` route needs an API key (`X-API-Key` header, or
`Authorization: Bearer <key>`) bound to an organisation and a role (viewer < officer < admin).
Errors always have the shape `{"error": {"code", "message", "field"?}}`.
"""


def create_app(config: ApiConfig, matcher: Matcher | None = None) -> FastAPI:

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db: Database = app.state.db
        await run_in_threadpool(db.create_all)
        app.state.inference = Inference(INFERENCE_THREADS)
        holder: ModelHolder = app.state.models
        if not holder.loaded:
            if matcher is not None:
                state = await run_in_threadpool(ModelState.build, matcher, "(in memory)")
            else:
                path = config.model_dir
                log.info("loading model bundle %s", path)
                state = await run_in_threadpool(ModelState.load_verified, Path(path))
            holder.swap(state)
        try:
            yield
        finally:
            app.state.inference.shutdown()
            db.dispose()

    app = FastAPI(
        title="parkmatch",
        version=parkmatch_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.config = config
    app.state.db = Database(config.database_url)
    app.state.models = ModelHolder()
    app.state.inference = Inference(INFERENCE_THREADS)
    install_error_handlers(app)
    for module in (system, recommendations, parks, industries, feedback):
        app.include_router(module.router)
    return app
