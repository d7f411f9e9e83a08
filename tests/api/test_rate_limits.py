"""Per-key rate limits (api.ratelimit): 429 with Retry-After, counted before a body is read,
per key and role, and one count shared by every worker (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import RateLimits
from api.db import Database
from api.main import create_app
from matcher.core import Matcher
from tests.api.conftest import Keys, auth, make_config, make_keys

LIMITS = RateLimits(viewer=3, officer=0, admin=5, window_seconds=60)
Limited = tuple[TestClient, Keys, FastAPI]


@pytest.fixture
def limited(tmp_path: Path, bundle_path: Path, matcher: Matcher) -> Iterator[Limited]:
    config = dataclasses.replace(make_config(tmp_path, bundle_path), rate_limits=LIMITS)
    app = create_app(config, matcher=matcher)
    with TestClient(app) as client:
        yield client, make_keys(app), app


def test_over_the_limit_is_429_with_retry_after(limited: Limited) -> None:
    client, keys, _ = limited
    for _ in range(LIMITS.viewer):
        assert client.get("/v1/parks?limit=1", headers=auth(keys.viewer)).status_code == 200
    r = client.get("/v1/parks?limit=1", headers=auth(keys.viewer))
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= LIMITS.window_seconds
    err = r.json()["error"]
    assert err["code"] == "rate_limited" and "请求过于频繁" in err["message"] and "3 次请求" in err["message"]
    # the count is per key: the admin key of the same organisation is not touched
    assert client.get("/v1/parks?limit=1", headers=auth(keys.admin)).status_code == 200


def test_a_body_request_is_refused_before_its_body_is_parsed(limited: Limited) -> None:
    client, keys, _ = limited
    for _ in range(LIMITS.viewer):
        client.get("/v1/parks?limit=1", headers=auth(keys.viewer))
    r = client.post(
        "/v1/recommendations",
        content=b"{not json",
        headers={**auth(keys.viewer), "Content-Type": "application/json"},
    )
    assert r.status_code == 429 and r.headers["Retry-After"].isdigit()  # not the 400 a parse would give


def test_a_zero_limit_is_no_limit(limited: Limited) -> None:
    client, keys, _ = limited
    statuses = {client.get("/v1/feedback", headers=auth(keys.officer)).status_code for _ in range(12)}
    assert statuses == {200}


def test_the_openapi_document_declares_429_and_400(limited: Limited) -> None:
    client, _, _ = limited
    paths = client.get("/openapi.json").json()["paths"]
    batch = paths["/v1/recommendations/batch"]["post"]["responses"]
    assert "Retry-After" in batch["429"]["headers"] and "400" in batch
    assert "400" in paths["/v1/feedback"]["post"]["responses"]


def test_every_worker_draws_from_one_count(empty_db_url: str) -> None:
    """Two engines (two workers' connection pools) on one database see one count; a new window
    starts at one and drops the key's old windows."""
    first, second = Database(empty_db_url), Database(empty_db_url)
    try:
        first.create_all()
        start = 1_800_000_000  # a multiple of 60
        counts = [db.count_request("k1", 60, now=start + 10 + i) for i, db in enumerate((first, second) * 3)]
        assert [c for c, _ in counts] == [1, 2, 3, 4, 5, 6]
        assert counts[0][1] == 50 and counts[-1][1] == 45  # seconds to the window's end
        assert second.count_request("k2", 60, now=start + 10)[0] == 1  # another key, its own count
        assert first.count_request("k1", 60, now=start + 60)[0] == 1
        with first.engine.connect() as conn:
            windows = conn.execute(sa.text("select count(*) from rate_counts where key_id = 'k1'")).scalar()
        assert windows == 1
    finally:
        first.dispose()
        second.dispose()


def test_admit_checks_the_key_and_counts_in_one_round(empty_db_url: str) -> None:
    """``Database.admit`` is ``authenticate`` plus ``count_request``: a valid key of a counted role
    is counted in the same window as ``count_request`` counts it, a role that is not limited is
    not counted, and an unknown or revoked key is refused and never counted."""
    db = Database(empty_db_url)
    try:
        db.create_all()
        viewer_row, viewer = db.create_key("org-a", "viewer", "v")
        officer_row, officer = db.create_key("org-a", "officer", "o")
        viewer_id, officer_id = viewer_row.id, officer_row.id
        start = 1_800_000_000
        seen = [db.admit(viewer, 60, ("viewer",), now=start + 5 + i) for i in range(3)]
        assert [a.count for a in seen] == [1, 2, 3] and seen[-1].retry_after == 53
        assert seen[0].principal is not None and seen[0].principal.key_id == viewer_id
        assert db.count_request(viewer_id, 60, now=start + 9)[0] == 4  # the same window's count
        not_counted = db.admit(officer, 60, ("viewer",), now=start + 9)
        assert not_counted.principal is not None and not_counted.principal.role == "officer"
        assert not_counted.count == 0 and db.count_request(officer_id, 60, now=start + 9)[0] == 1
        assert db.admit(viewer[:-1] + ("A" if viewer[-1] != "A" else "B"), 60, ("viewer",)).principal is None
        db.revoke_key(viewer_id)
        revoked = db.admit(viewer, 60, ("viewer",), now=start + 10)
        assert revoked.principal is None and revoked.count == 0
        assert db.count_request(viewer_id, 60, now=start + 11)[0] == 5  # the refused call was not counted
    finally:
        db.dispose()
