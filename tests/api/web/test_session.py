"""Sign-in, the session cookie and CSRF: the workspace's security, without a browser."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import Keys, auth
from tests.api.web.conftest import sign_in

FIRM = {"name": "北京某制药有限公司", "industry_code": "2710", "employees": 300}


def test_sign_in_sets_an_httponly_samesite_cookie_and_never_echoes_the_key(
    client: TestClient, keys: Keys
) -> None:
    client.cookies.clear()
    r = client.post("/web/login", json={"key": keys.officer})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "pm_session=" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert keys.officer not in cookie and keys.officer not in r.text
    assert r.json() == {"org": "org-a", "role": "officer", "next": "/find"}
    page = client.get("/find")
    assert page.status_code == 200 and keys.officer not in page.text
    assert "org-a" in page.text and "招商专员" in page.text


def test_sign_in_refuses_bad_keys_forms_and_other_sites(client: TestClient, keys: Keys) -> None:
    client.cookies.clear()
    r = client.post("/web/login", json={"key": "pm_not-a-key"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "API 密钥无效或已停用"
    assert "set-cookie" not in r.headers
    revoked = client.post("/web/login", json={"key": keys.revoked})
    assert revoked.status_code == 401
    form = client.post("/web/login", content=f"key={keys.officer}", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    foreign = client.post("/web/login", json={"key": keys.officer}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers


def test_pages_without_a_session_go_to_sign_in(client: TestClient) -> None:
    client.cookies.clear()
    for path in ("/", "/find", "/parks", "/batch", "/followups", "/parks/BJ001"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    assert client.get("/login").status_code == 200


def test_a_missing_or_forged_csrf_token_is_refused(client: TestClient, keys: Keys) -> None:
    b = sign_in(client, keys.officer)
    body = {"firm_name": "北京某制药有限公司", "park_id": "BJ001", "outcome": "visited"}
    missing = client.post("/v1/feedback", json=body)
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
    forged = client.post("/v1/feedback", json=body, headers={"X-CSRF-Token": b.csrf[:-2] + "xx"})
    assert forged.status_code == 403
    # refused by the gate before the body is read, and by the dependency for a body-less DELETE
    assert client.delete("/v1/admin/keys/nope").status_code == 403
    assert client.post("/web/logout").status_code == 403
    assert client.get("/v1/feedback").json()["total"] == 0, "a refused request must not have been recorded"
    ok = client.post("/v1/feedback", json=body, headers=b.headers())
    assert ok.status_code == 201 and ok.json()["org"] == "org-a"


def test_a_token_from_another_session_is_refused(client: TestClient, keys: Keys) -> None:
    other = sign_in(client, keys.other_org_officer).csrf
    sign_in(client, keys.officer)
    r = client.post("/v1/recommendations", json=FIRM, headers={"X-CSRF-Token": other})
    assert r.status_code == 403


def test_a_viewer_cannot_record_follow_ups(client: TestClient, keys: Keys) -> None:
    b = sign_in(client, keys.viewer)
    page = client.get("/followups")
    assert "当前密钥为只读" in page.text and "disabled" in page.text
    r = client.post(
        "/v1/feedback",
        json={"firm_name": "某企业", "park_id": "BJ001", "outcome": "signed"},
        headers=b.headers(),
    )
    assert r.status_code == 403
    assert client.post("/v1/recommendations?top=3", json=FIRM, headers=b.headers()).status_code == 200


def test_organisations_see_only_their_own_follow_ups(client: TestClient, keys: Keys) -> None:
    b = sign_in(client, keys.other_org_officer)
    mine = {"firm_name": "乙单位的企业", "park_id": "BJ001", "outcome": "landed"}
    assert client.post("/v1/feedback", json=mine, headers=b.headers()).status_code == 201
    sign_in(client, keys.officer)
    names = [f["firm_name"] for f in client.get("/v1/feedback").json()["items"]]
    assert "乙单位的企业" not in names
    sign_in(client, keys.other_org_officer)
    assert "乙单位的企业" in [f["firm_name"] for f in client.get("/v1/feedback").json()["items"]]


def test_sign_out_ends_the_session_everywhere(client: TestClient, keys: Keys) -> None:
    b = sign_in(client, keys.officer)
    cookie = client.cookies.get("pm_session")
    assert client.post("/web/logout", headers=b.headers()).json() == {"next": "/login"}
    client.cookies.set("pm_session", cookie or "")
    assert client.get("/v1/parks?limit=1").status_code == 401
    assert client.post("/v1/recommendations", json=FIRM, headers=b.headers()).status_code == 401
    assert client.get("/find", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(api_app: FastAPI, client: TestClient) -> None:
    row, key = api_app.state.db.create_key("org-a", "officer")
    sign_in(client, key)
    assert client.get("/v1/parks?limit=1").status_code == 200
    api_app.state.db.revoke_key(row.id)
    assert client.get("/v1/parks?limit=1").status_code == 401


def test_an_api_key_still_works_without_csrf(client: TestClient, keys: Keys) -> None:
    client.cookies.clear()
    assert client.post("/v1/recommendations?top=2", json=FIRM, headers=auth(keys.viewer)).status_code == 200
