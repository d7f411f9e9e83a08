"""Keys through the API: admins create and revoke their organisation's keys; a revocation holds
at once, on every worker."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from benchmarks.http import running_server
from tests.api.conftest import Keys, auth


def test_admin_creates_uses_and_revokes_a_key(client: TestClient, keys: Keys) -> None:
    r = client.post("/v1/admin/keys", json={"role": "viewer", "label": "desk 7"}, headers=auth(keys.admin))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["org"] == "org-a" and made["role"] == "viewer" and made["key"].startswith("pm_")
    assert client.get("/v1/parks?limit=1", headers=auth(made["key"])).status_code == 200
    listed = client.get("/v1/admin/keys", headers=auth(keys.admin)).json()["items"]
    assert made["id"] in {k["id"] for k in listed} and all("key" not in k for k in listed)
    assert {k["org"] for k in listed} == {"org-a"}
    gone = client.delete(f"/v1/admin/keys/{made['id']}", headers=auth(keys.admin))
    assert gone.status_code == 200 and gone.json()["revoked"] is not None
    # no cache window: the very next request is refused
    assert client.get("/v1/parks?limit=1", headers=auth(made["key"])).status_code == 401


def test_keys_routes_are_admin_only_and_per_organisation(client: TestClient, keys: Keys) -> None:
    for key in (keys.viewer, keys.officer):
        assert client.post("/v1/admin/keys", json={"role": "admin"}, headers=auth(key)).status_code == 403
        assert client.delete("/v1/admin/keys/whatever", headers=auth(key)).status_code == 403
    r = client.post("/v1/admin/keys", json={"role": "root"}, headers=auth(keys.admin))
    assert r.status_code == 422 and r.json()["error"]["field"] == "role"
    other = client.post("/v1/admin/keys", json={"role": "viewer"}, headers=auth(keys.admin)).json()
    # org-b's officer cannot see it; an admin of another org would get 404, not a revocation
    db = client.app.state.db  # type: ignore[attr-defined]
    _, b_admin = db.create_key("org-b", "admin")
    r = client.delete(f"/v1/admin/keys/{other['id']}", headers=auth(b_admin))
    assert r.status_code == 404 and r.json()["error"]["field"] == "key_id"
    assert client.get("/v1/parks?limit=1", headers=auth(other["key"])).status_code == 200
    assert client.delete("/v1/admin/keys/nope", headers=auth(keys.admin)).status_code == 404


@pytest.mark.integration
def test_revocation_holds_on_both_workers_at_once(bundle_path: Path, tmp_path: Path) -> None:
    with running_server(bundle_path, tmp_path / "home", workers=2) as server:
        admin = {"X-API-Key": server.api_key}
        with httpx.Client(base_url=server.url, headers=admin, timeout=30) as c:
            victim = c.post("/v1/admin/keys", json={"role": "officer"}).json()
            pids: set[int] = set()
            for _ in range(40):  # fresh connections spread over both workers
                with httpx.Client(base_url=server.url, timeout=30) as fresh:
                    r = fresh.get("/health")
                    pids.add(r.json()["pid"])
                    assert (
                        fresh.get("/v1/parks?limit=1", headers={"X-API-Key": victim["key"]}).status_code
                        == 200
                    )
            assert len(pids) == 2, pids
            assert c.delete(f"/v1/admin/keys/{victim['id']}").status_code == 200
            revoked_at = time.monotonic()
        statuses, seen = [], set()
        while time.monotonic() - revoked_at < 1.0 or len(seen) < 2:
            with httpx.Client(base_url=server.url, timeout=30) as fresh:
                seen.add(fresh.get("/health").json()["pid"])
                statuses.append(
                    fresh.get("/v1/parks?limit=1", headers={"X-API-Key": victim["key"]}).status_code
                )
            assert time.monotonic() - revoked_at < 10
        print(
            f"revocation: {len(statuses)} requests on {len(seen)} workers after the DELETE: {set(statuses)}"
        )
        assert set(statuses) == {401} and len(seen) == 2
