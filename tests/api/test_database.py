"""The database layer on SQLite and on PostgreSQL: the same suite, both back ends.

PostgreSQL comes from :func:`tests.api.conftest.postgres_schema`: each module gets its own
schema, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.config import ApiConfig
from api.db import BatchJob, Database, hash_key
from api.main import create_app
from matcher.core import Matcher
from tests.api.conftest import FIRM, auth, postgres_schema


@pytest.fixture(scope="module")
def pg_schema_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'db.sqlite').as_posix()}"
    url: str = request.getfixturevalue("pg_schema_url")
    db = Database(url)
    db.create_all()
    with db.engine.begin() as conn:  # each test starts empty
        for table in ("web_sessions", "batch_jobs", "feedback", "api_keys", "active_model", "rate_counts"):
            conn.execute(sa.text(f"delete from {table}"))
    db.dispose()
    return url


def test_keys_and_revocation(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.create_all()
        row, key = db.create_key("org-a", "officer", "desk")
        p = db.authenticate(key)
        assert p is not None and (p.org, p.role, p.key_id) == ("org-a", "officer", row.id)
        assert db.authenticate(key + "x") is None and db.count_keys() == 1
        other = Database(db_url)  # another worker's connection pool
        try:
            assert other.authenticate(key) is not None
            db.revoke_key(row.id)
            assert other.authenticate(key) is None  # no cache window on the other worker
        finally:
            other.dispose()
        fetched = db.get_key(row.id)
        assert fetched is not None and fetched.revoked is not None
    finally:
        db.dispose()


def test_workspace_sessions_and_batch_jobs(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.create_all()
        row, key = db.create_key("org-a", "officer")
        assert db.open_web_session("pm_wrong", timedelta(hours=1)) is None
        opened = db.open_web_session(key, timedelta(hours=1))
        assert opened is not None
        who, token, csrf = opened
        assert db.web_session(token) == (who, csrf) and who.org == "org-a"
        with db.engine.connect() as conn:  # only the token's digest is stored
            stored = conn.execute(sa.text("select token_hash from web_sessions")).scalars().all()
        assert token not in stored and hash_key(token) in stored
        stale = db.open_web_session(key, timedelta(seconds=-1))
        assert stale is not None and db.web_session(stale[1]) is None
        db.end_web_session(token)
        assert db.web_session(token) is None
        again = db.open_web_session(key, timedelta(hours=1))
        assert again is not None
        db.revoke_key(row.id)
        assert db.web_session(again[1]) is None  # revoking the key ends its sessions
        db.add_batch_job(BatchJob(id="j1", org="org-a", created_by=row.id, filename="a.xlsx"))
        db.update_batch_job("j1", status="done", rows_done=3, fraction=1.0)
        job = db.batch_job("j1")
        assert job is not None and (job.status, job.rows_done, job.fraction) == ("done", 3, 1.0)
    finally:
        db.dispose()


def test_active_model_generations(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.create_all()
        assert db.active_model() is None
        first = db.set_active_model("/m/a", "v1", "a" * 64)
        second = db.set_active_model("/m/b", "v2", "b" * 64)
        assert (first.generation, second.generation) == (1, 2)
        assert db.active_model() == second
    finally:
        db.dispose()


def test_the_api_on_each_database(db_url: str, bundle_path: Path, matcher: Matcher) -> None:
    app = create_app(ApiConfig(model_dir=bundle_path, database_url=db_url), matcher=matcher)
    with TestClient(app) as client:
        _, admin = app.state.db.create_key("org-a", "admin")
        h = auth(admin)
        made = client.post("/v1/admin/keys", json={"role": "officer"}, headers=h).json()
        rec = client.post("/v1/recommendations?top=1", json=FIRM, headers=auth(made["key"])).json()
        pid = rec["recommendations"][0]["park_id"]
        ids = []
        for i in range(5):
            r = client.post(
                "/v1/feedback",
                json={"firm_name": f"公司{i}", "park_id": pid, "outcome": "shortlisted"},
                headers=auth(made["key"]),
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        listed = client.get("/v1/feedback?limit=500", headers=h).json()
        assert listed["total"] == 5 and {x["id"] for x in listed["items"]} == set(ids)
        assert client.delete(f"/v1/admin/keys/{made['id']}", headers=h).status_code == 200
        assert client.get("/v1/feedback", headers=auth(made["key"])).status_code == 401
        r = client.post("/v1/admin/reload", headers=h)
        assert r.status_code == 200, r.text
        assert app.state.db.active_model().generation == 1
