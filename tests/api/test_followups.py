"""GET /v1/feedback/conversion on SQLite and PostgreSQL: counts with known answers, each firm
once per park at its furthest stage, and only the caller's organisation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.config import ApiConfig
from api.db import Database, Feedback
from api.main import create_app
from matcher.core import Matcher
from tests.api.conftest import FIRM, GENEROUS, auth, postgres_schema


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path_factory.mktemp('followups') / 'db.sqlite').as_posix()}"
        return
    with postgres_schema() as url:
        db = Database(url)
        db.create_all()
        db.dispose()
        yield url


class World:
    """An app with three organisations' keys and the first two parks of the catalogue."""

    def __init__(self, client: TestClient, db: Database, keys: dict[str, str], parks: list[str]) -> None:
        self.client, self.db, self.keys, self.parks = client, db, keys, parks

    def post(self, key: str, **body: Any) -> None:
        r = self.client.post("/v1/feedback", json=body, headers=auth(self.keys[key]))
        assert r.status_code == 201, r.text

    def conversion(self, key: str, **params: str) -> dict[str, Any]:
        r = self.client.get("/v1/feedback/conversion", params=params, headers=auth(self.keys[key]))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture(scope="module")
def world(db_url: str, bundle_path: Path, matcher: Matcher) -> Iterator[World]:
    app = create_app(
        ApiConfig(model_dir=bundle_path, database_url=db_url, rate_limits=GENEROUS), matcher=matcher
    )
    with TestClient(app) as client:
        db = app.state.db
        keys = {
            name: db.create_key(org, role)[1]
            for name, org, role in (
                ("officer", "org-a", "officer"),
                ("viewer", "org-a", "viewer"),
                ("other", "org-b", "officer"),
            )
        }
        keys["legacy"] = db.create_key("org-c", "viewer")[1]
        parks = [
            p["park_id"]
            for p in client.get("/v1/parks?limit=2", headers=auth(keys["viewer"])).json()["items"]
        ]
        yield World(client, db, keys, parks)
    app.state.db.dispose()


def record_the_story(w: World) -> None:
    """Park 1: 甲 (by profile, under two names) goes all the way, 乙 (by id) visits, 丙 is
    shortlisted then rejected over price.  Park 2: 丁 lands, 丙 is shortlisted, 戊 is only
    rejected (over land).  Organisation B signs 甲 at park 1."""
    p1, p2 = w.parks
    for outcome, name in (("shortlisted", "甲"), ("visited", "甲公司"), ("signed", "甲")):
        w.post("officer", firm_name=name, park_id=p1, outcome=outcome, firm=FIRM)
    for outcome in ("shortlisted", "visited"):
        w.post("officer", firm_id="B1", firm_name="乙", park_id=p1, outcome=outcome)
    w.post("officer", firm_name="乙", park_id=p1, outcome="shortlisted", firm_id="B1")  # again: still one
    w.post("officer", firm_name="丙", park_id=p1, outcome="shortlisted")
    w.post("officer", firm_name="丙", park_id=p1, outcome="rejected", reason_category="price")
    w.post("officer", firm_name="丁", park_id=p2, outcome="landed")
    w.post("officer", firm_name="丙", park_id=p2, outcome="shortlisted")
    w.post("officer", firm_name="戊", park_id=p2, outcome="rejected", reason_category="land")
    w.post("other", firm_name="甲", park_id=p1, outcome="signed")


def test_the_funnel_has_known_counts(world: World) -> None:
    record_the_story(world)
    p1, p2 = world.parks
    got = world.conversion("viewer")  # any key of the organisation reads it
    assert got["parks"] == [
        {"park_id": p1, "shortlisted": 3, "visited": 2, "signed": 1, "rejected": 1,
         "visit_rate": 0.6667, "sign_rate": 0.5},
        {"park_id": p2, "shortlisted": 2, "visited": 1, "signed": 1, "rejected": 1,
         "visit_rate": 0.5, "sign_rate": 1.0},
    ]  # fmt: skip
    assert got["overall"] == {
        "shortlisted": 5, "visited": 3, "signed": 2, "rejected": 2, "visit_rate": 0.6, "sign_rate": 0.6667
    }  # fmt: skip
    reasons = {r["category"]: r["count"] for r in got["reasons"]}
    assert reasons == {"land": 1, "price": 1, "distance": 0, "talent": 0, "policy": 0, "other": 0}
    assert got["since"] is None


def test_only_the_callers_organisation(world: World) -> None:
    got = world.conversion("other")
    assert got["parks"] == [
        {"park_id": world.parks[0], "shortlisted": 1, "visited": 1, "signed": 1, "rejected": 0,
         "visit_rate": 1.0, "sign_rate": 1.0}
    ]  # fmt: skip
    assert all(r["count"] == 0 for r in got["reasons"])
    nobody = world.client.get("/v1/feedback/conversion")
    assert nobody.status_code == 401 and nobody.json()["error"]["code"] == "unauthorized"


def test_since_and_an_empty_funnel(world: World) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    got = world.conversion("officer", since=later)
    assert got["parks"] == [] and got["overall"]["shortlisted"] == 0
    assert got["overall"]["visit_rate"] is None and got["overall"]["sign_rate"] is None
    assert datetime.fromisoformat(got["since"]) == datetime.fromisoformat(later)
    earlier = world.conversion("officer", since="2000-01-01")
    assert earlier["overall"]["shortlisted"] == 5
    assert world.conversion("officer", since="0001-01-01T00:00:00+05:00")["overall"]["signed"] == 2
    bad = world.client.get("/v1/feedback/conversion?since=yesterday", headers=auth(world.keys["officer"]))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "since"


def test_rejections_recorded_before_reasons_were_asked_for(world: World) -> None:
    legacy = world.db.authenticate(world.keys["legacy"])
    assert legacy is not None
    with world.db.session() as s:
        s.add(
            Feedback(
                org="org-c",
                firm_name="己",
                park_id=world.parks[0],
                outcome="rejected",
                created_by=legacy.key_id,
            )
        )
        s.commit()
    got = world.conversion("legacy")
    assert got["parks"][0]["rejected"] == 1 and got["parks"][0]["shortlisted"] == 0
    assert {"category": "unspecified", "count": 1} in got["reasons"]
