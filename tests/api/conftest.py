"""API fixtures: an app over the session's small model, a temporary SQLite database, keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import ApiConfig
from api.main import create_app
from matcher.core import Matcher

FIRM = {"name": "北京某制药有限公司", "industry_code": "2710", "employees": 300}


@dataclass
class Keys:
    viewer: str
    officer: str
    admin: str
    other_org_officer: str
    revoked: str
    admin_id: str


def make_config(home: Path, bundle_path: Path) -> ApiConfig:
    return ApiConfig(model_dir=bundle_path, database_url=f"sqlite:///{(home / 'api.db').as_posix()}")


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
