"""Keys: missing, unknown and revoked keys are 401; roles and organisations are enforced."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import FIRM, Keys, auth


def test_missing_wrong_and_revoked_keys_are_401(client: TestClient, keys: Keys) -> None:
    for headers in ({}, auth("pm_not-a-key"), {"Authorization": "Bearer pm_wrong"}, auth(keys.revoked)):
        for method, path in (
            ("post", "/v1/recommendations"),
            ("get", "/v1/parks"),
            ("get", "/v1/industries"),
            ("get", "/v1/feedback"),
        ):
            r = client.request(method, path, json=FIRM if method == "post" else None, headers=headers)
            assert r.status_code == 401, (headers, path)
            assert r.json()["error"]["code"] == "unauthorized"


def test_viewer_cannot_post_feedback(client: TestClient, keys: Keys) -> None:
    pid = client.get("/v1/parks?limit=1", headers=auth(keys.viewer)).json()["items"][0]["park_id"]
    r = client.post(
        "/v1/feedback",
        json={"firm_name": "x", "park_id": pid, "outcome": "signed"},
        headers=auth(keys.viewer),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_organisations_only_see_their_own_feedback(client: TestClient, keys: Keys) -> None:
    pid = client.get("/v1/parks?limit=1", headers=auth(keys.viewer)).json()["items"][0]["park_id"]
    mine = client.post(
        "/v1/feedback",
        json={"firm_name": "A公司", "park_id": pid, "outcome": "landed"},
        headers=auth(keys.officer),
    )
    theirs = client.post(
        "/v1/feedback",
        json={"firm_name": "B公司", "park_id": pid, "outcome": "rejected", "reason_category": "price"},
        headers=auth(keys.other_org_officer),
    )
    assert mine.status_code == theirs.status_code == 201
    a = client.get("/v1/feedback?limit=500", headers=auth(keys.viewer)).json()["items"]
    b = client.get("/v1/feedback?limit=500", headers=auth(keys.other_org_officer)).json()["items"]
    assert mine.json()["id"] in {x["id"] for x in a} and theirs.json()["id"] not in {x["id"] for x in a}
    assert {x["org"] for x in a} == {"org-a"} and {x["org"] for x in b} == {"org-b"}


def test_only_admins_reload(client: TestClient, keys: Keys) -> None:
    for key in (keys.viewer, keys.officer):
        r = client.post("/v1/admin/reload", json={}, headers=auth(key))
        assert r.status_code == 403
    assert client.post("/v1/admin/reload", json={}).status_code == 401
