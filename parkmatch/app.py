"""The uvicorn factory for worker processes: settings from ``PARKMATCH_*`` variables, wired here."""

from __future__ import annotations

from fastapi import FastAPI

from api.main import create_app
from parkmatch.config import Settings


def app_from_env() -> FastAPI:
    return create_app(Settings().api_config())
