"""Wiring the workspace into the API app: static files, pages, batch runs, local API docs."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.config import ApiConfig
from api.web import jobs, pages
from api.web.security import SecurityHeaders

HERE = Path(__file__).resolve().parent


def install_web(app: FastAPI, config: ApiConfig) -> None:
    """Add the workspace to ``app``; ``shutdown_web`` stops its batch thread."""
    app.state.batch_runner = jobs.BatchRunner(config.batch_dir, config.batch_chunk_rows)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(jobs.router)
    app.add_middleware(SecurityHeaders)


def shutdown_web(app: FastAPI) -> None:
    runner: jobs.BatchRunner = app.state.batch_runner
    runner.shutdown()
