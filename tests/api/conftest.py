"""API fixtures: an app over the session's small model, a temporary SQLite database, keys, and
empty PostgreSQL schemas for the database suites."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import ApiConfig, RateLimits
from api.main import create_app
from matcher.core import Matcher

PG_URL = os.environ.get("PARKMATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

FIRM = {"name": "北京某制药有限公司", "industry_code": "2710", "employees": 300}
# An API plant: the park side's tests (leads, audit of leads calls) expect the pharma parks first.
PHARMA = {
    "name": "北京某原料药有限公司",
    "industry_code": "2710",
    "functions": ["production"],
    "employees": 300,
}


@dataclass
class Keys:
    viewer: str
    officer: str
    admin: str
    other_org_officer: str
    revoked: str
    admin_id: str


# Every request is counted as in production, with limits no test module reaches; test_rate_limits
# sets small ones.
GENEROUS = RateLimits(viewer=100_000, officer=100_000, admin=100_000)


def make_config(home: Path, bundle_path: Path) -> ApiConfig:
    return ApiConfig(
        model_dir=bundle_path, database_url=f"sqlite:///{(home / 'api.db').as_posix()}", rate_limits=GENEROUS
    )


def make_keys(app: FastAPI) -> Keys:
    db = app.state.db
    db.create_all()
    _, viewer = db.create_key("org-a", "viewer")
    _, officer = db.create_key("org-a", "officer")
    admin_row, admin = db.create_key("org-a", "admin")
    _, other = db.create_key("org-b", "officer")
    revoked_row, revoked = db.create_key("org-a", "admin")
    db.revoke_key(revoked_row.id)
    return Keys(viewer, officer, admin, other, revoked, admin_row.id)


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory, bundle_path: Path, matcher: Matcher) -> FastAPI:
    return create_app(make_config(tmp_path_factory.mktemp("api"), bundle_path), matcher=matcher)


@pytest.fixture(scope="module")
def client(api_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(api_app) as c:
        yield c


@pytest.fixture(scope="module")
def keys(api_app: FastAPI, client: TestClient) -> Keys:
    return make_keys(api_app)


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a new, empty schema on ``PARKMATCH_TEST_POSTGRES_URL`` (default: the machine's
    127.0.0.1:5432, database ``test``), dropped afterwards.  Locally the test skips with a message
    when no PostgreSQL answers; with ``CI`` set it fails instead."""
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {PG_URL} ({type(exc).__name__}); set PARKMATCH_TEST_POSTGRES_URL")
    schema = f"pm_test_{secrets.token_hex(4)}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each back end: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
        return
    with postgres_schema() as url:
        yield url
