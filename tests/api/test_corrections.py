"""Park corrections over HTTP on SQLite and PostgreSQL: propose, list, decide, history, the
organisations kept apart, and the approved value served after the retrain's overlay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import ApiConfig
from api.corrections import approved_corrections, mark_applied
from api.db import Database
from api.deps import ModelState
from api.main import create_app
from features import schemas as S
from features.corrections import apply_corrections
from matcher.core import Matcher
from tests.api.conftest import GENEROUS, auth, postgres_schema


@dataclass
class World:
    client: TestClient
    app: FastAPI
    park: str
    other_park: str
    viewer: str
    officer: str
    admin: str
    admin_id: str
    b_officer: str
    b_admin: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bundle_path: Path,
    matcher: Matcher,
) -> Iterator[World]:
    def serve(url: str) -> Iterator[World]:
        app = create_app(
            ApiConfig(model_dir=bundle_path, database_url=url, rate_limits=GENEROUS), matcher=matcher
        )
        with TestClient(app) as client:
            db = app.state.db
            keys = {
                name: db.create_key(org, role)
                for name, org, role in (
                    ("viewer", "org-a", "viewer"),
                    ("officer", "org-a", "officer"),
                    ("admin", "org-a", "admin"),
                    ("b_officer", "org-b", "officer"),
                    ("b_admin", "org-b", "admin"),
                )
            }
            ids = [str(p) for p in matcher.parks[S.PARK_ID]]
            yield World(
                client,
                app,
                ids[0],
                ids[1],
                keys["viewer"][1],
                keys["officer"][1],
                keys["admin"][1],
                keys["admin"][0].id,
                keys["b_officer"][1],
                keys["b_admin"][1],
            )

    if request.param == "sqlite":
        yield from serve(f"sqlite:///{(tmp_path_factory.mktemp('corr') / 'api.db').as_posix()}")
        return
    with postgres_schema() as url:
        db = Database(url)
        db.create_all()  # a server on PostgreSQL needs the schema upgraded first (`parkmatch db upgrade`)
        db.dispose()
        yield from serve(url)


def propose(
    w: World, key: str, park: str, field: str, value: object, source: object = "https://a.gov.cn/p"
) -> dict:
    r = w.client.post(
        f"/v1/parks/{park}/corrections",
        json={"field": field, "value": value, "source": source},
        headers=auth(key),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_propose_list_approve_history_and_served_after_the_retrain(world: World) -> None:
    w, c = world, world.client
    served = c.get(f"/v1/parks/{w.park}", headers=auth(w.viewer)).json()
    created = propose(w, w.officer, w.park, S.LAND_PRICE, 480000)
    assert created["status"] == "pending" and created["value"] == 480000.0 and created["org"] == "org-a"
    assert created["field_zh"] == "工业用地价格" and created["decided"] is None

    listed = c.get(f"/v1/parks/{w.park}/corrections", headers=auth(w.viewer)).json()
    assert [x["id"] for x in listed["items"]] == [created["id"]] and listed["total"] == 1
    pending = c.get("/v1/admin/corrections?status=pending", headers=auth(w.admin)).json()
    assert created["id"] in [x["id"] for x in pending["items"]]

    r = c.post(
        f"/v1/admin/corrections/{created['id']}",
        json={"decision": "approve", "note": "核实"},
        headers=auth(w.admin),
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "approved" and decided["decided_by"] == w.admin_id
    assert decided["decision_note"] == "核实" and decided["decided"] is not None
    again = c.post(
        f"/v1/admin/corrections/{created['id']}", json={"decision": "reject"}, headers=auth(w.admin)
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    (h,) = c.get(f"/v1/parks/{w.park}/history", headers=auth(w.viewer)).json()["items"]
    assert h["correction_id"] == created["id"] and h["new_value"] == 480000.0
    assert h["old_value"] == served["land_price_cny_per_mu"]
    assert h["old_provenance"] == served["provenance"][S.LAND_PRICE] and h["new_provenance"] == "provided"
    assert h["approved_by"] == w.admin_id and h["applied_in"] is None and h["source"] == "https://a.gov.cn/p"

    # not served before the retrain
    assert c.get(f"/v1/parks/{w.park}", headers=auth(w.viewer)).json() == served

    # the retrain: every approved correction over the catalogue, the new model served
    db = w.app.state.db
    found = approved_corrections(db)
    assert [x.id for x in found] == [created["id"]]
    corrected, changes = apply_corrections(w.app.state.models.state.matcher.parks, found)
    holder, before = w.app.state.models, w.app.state.models.state
    holder.swap(ModelState.build(before.matcher.with_catalogue(corrected), "(retrained)"))
    try:
        assert mark_applied(db, [ch["correction_id"] for ch in changes], "v-retrained") == 1
        park = c.get(f"/v1/parks/{w.park}", headers=auth(w.viewer)).json()
        assert park["land_price_cny_per_mu"] == 480000.0 and park["provenance"][S.LAND_PRICE] == "provided"
        (src,) = park["field_sources"][S.LAND_PRICE]
        assert src == {
            "url": "https://a.gov.cn/p",
            "title": f"机构提供：org-a（审核 {w.admin_id}），依据：https://a.gov.cn/p",
            "source_class": "organisation",
        }
        (h,) = c.get(f"/v1/parks/{w.park}/history", headers=auth(w.viewer)).json()["items"]
        assert h["applied_in"] == "v-retrained"
        assert mark_applied(db, [created["id"]], "v-later") == 0  # the first version that served it stays
    finally:
        holder.swap(before)


def test_reject_and_admin_filters(world: World) -> None:
    w, c = world, world.client
    made = propose(w, w.admin, w.other_park, "subsidy_tax", 2, source="2025年招商优惠政策汇编")
    r = c.post(f"/v1/admin/corrections/{made['id']}", json={"decision": "reject"}, headers=auth(w.admin))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    rejected = c.get(
        f"/v1/admin/corrections?status=rejected&park_id={w.other_park}", headers=auth(w.admin)
    ).json()
    assert [x["id"] for x in rejected["items"]] == [made["id"]] and rejected["total"] == 1
    assert c.get(f"/v1/parks/{w.other_park}/history", headers=auth(w.admin)).json()["total"] == 0
    page = c.get("/v1/admin/corrections?limit=1&offset=0", headers=auth(w.admin)).json()
    assert len(page["items"]) == 1 and page["total"] >= 2 and page["limit"] == 1
    assert made["id"] not in [x.id for x in approved_corrections(w.app.state.db)]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"field": "name", "value": "x", "source": "s"}, "field", "不是可更正的园区字段"),
        ({"field": S.LAND_PRICE, "value": 45, "source": "s"}, "value", "万元"),
        ({"field": S.RESTRICTED_INDUSTRIES, "value": ["9999"], "source": "s"}, "value", "限制行业"),
        ({"field": S.LAND_PRICE, "value": 450000}, "source", "请填写依据"),
        ({"field": S.LAND_PRICE, "value": 450000, "source": "  "}, "source", "请填写依据"),
        ({"field": S.LAND_PRICE, "value": 10**400, "source": "s"}, "value", "应为数字"),
        ({"field": S.LAND_PRICE, "value": 450000, "source": "a\u0000b"}, "source", "NUL"),
    ],
)
def test_bad_proposals_are_refused_in_chinese(world: World, body: dict, field: str, words: str) -> None:
    r = world.client.post(f"/v1/parks/{world.park}/corrections", json=body, headers=auth(world.officer))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field and words in err["message"]


def test_roles_and_unknown_parks(world: World) -> None:
    w, c = world, world.client
    body = {"field": S.AVAILABLE_LAND_MU, "value": 100, "source": "s"}
    assert c.post(f"/v1/parks/{w.park}/corrections", json=body, headers=auth(w.viewer)).status_code == 403
    assert c.get("/v1/admin/corrections", headers=auth(w.officer)).status_code == 403
    made = propose(w, w.officer, w.park, S.AVAILABLE_LAND_MU, 100)
    r = c.post(f"/v1/admin/corrections/{made['id']}", json={"decision": "approve"}, headers=auth(w.officer))
    assert r.status_code == 403
    assert c.post("/v1/parks/NO-SUCH/corrections", json=body, headers=auth(w.officer)).status_code == 404
    assert c.get("/v1/parks/NO-SUCH/history", headers=auth(w.viewer)).status_code == 404
    assert (
        c.post(
            "/v1/admin/corrections/999999", json={"decision": "approve"}, headers=auth(w.admin)
        ).status_code
        == 404
    )


def test_organisations_never_see_each_others_corrections(world: World) -> None:
    w, c = world, world.client
    mine = propose(w, w.officer, w.other_park, S.DESIGNATED_FUNCTIONS, ["production"])
    theirs = propose(w, w.b_officer, w.other_park, S.RESTRICTED_INDUSTRIES, ["2710"])
    assert theirs["org"] == "org-b"

    def ids(key: str, path: str) -> set[int]:
        r = c.get(path, headers=auth(key))
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["items"]}

    for path in (f"/v1/parks/{w.other_park}/corrections", "/v1/admin/corrections"):
        assert mine["id"] in ids(w.admin, path) and theirs["id"] not in ids(w.admin, path)
        assert theirs["id"] in ids(w.b_admin, path) and mine["id"] not in ids(w.b_admin, path)
    # another organisation's correction is as good as absent: 404, and it stays pending
    for key, other in ((w.admin, theirs), (w.b_admin, mine)):
        r = c.post(f"/v1/admin/corrections/{other['id']}", json={"decision": "approve"}, headers=auth(key))
        assert r.status_code == 404
    assert (
        c.post(
            f"/v1/admin/corrections/{theirs['id']}", json={"decision": "approve"}, headers=auth(w.b_admin)
        ).status_code
        == 200
    )
    assert theirs["id"] not in {
        h["correction_id"]
        for h in c.get(f"/v1/parks/{w.other_park}/history", headers=auth(w.admin)).json()["items"]
    }
    b_history = c.get(f"/v1/parks/{w.other_park}/history", headers=auth(w.b_officer)).json()["items"]
    assert [h["correction_id"] for h in b_history] == [theirs["id"]] and b_history[0]["org"] == "org-b"
    pending = c.get("/v1/admin/corrections?status=pending", headers=auth(w.admin)).json()["items"]
    assert mine["id"] in [x["id"] for x in pending]


def test_an_admin_cannot_approve_their_own_proposal(world: World) -> None:
    """Four eyes: the proposer may withdraw a correction but a second admin approves it."""
    w, c = world, world.client
    own = propose(w, w.admin, w.other_park, S.AVAILABLE_LAND_MU, 321)
    r = c.post(f"/v1/admin/corrections/{own['id']}", json={"decision": "approve"}, headers=auth(w.admin))
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["field"] == "correction_id" and "另一位管理员" in err["message"]
    pending = {
        x["id"] for x in c.get("/v1/admin/corrections?status=pending", headers=auth(w.admin)).json()["items"]
    }
    assert own["id"] in pending
    db = w.app.state.db
    second_id, second = db.create_key("org-a", "admin")
    r = c.post(f"/v1/admin/corrections/{own['id']}", json={"decision": "approve"}, headers=auth(second))
    assert r.status_code == 200 and r.json()["decided_by"] == second_id.id
    withdrawn = propose(w, w.admin, w.other_park, S.AVAILABLE_LAND_MU, 123)
    r = c.post(f"/v1/admin/corrections/{withdrawn['id']}", json={"decision": "reject"}, headers=auth(w.admin))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
