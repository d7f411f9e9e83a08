"""Happy paths and input errors of every endpoint, through the ASGI app."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient

from features.registry import search_codes
from features.schemas import ParkProfile, RecommendationResult
from tests.api.conftest import FIRM, Keys, auth


def test_health_and_version_need_no_key(client: TestClient) -> None:
    h = client.get("/health").json()
    assert h == {
        "status": "ok",
        "model_loaded": True,
        "model_version": "test-small",
        "catalogue_size": h["catalogue_size"],
        "pid": os.getpid(),
        "last_reload_error": None,
        "requests_served": h["requests_served"],
    }
    assert h["catalogue_size"] > 100
    # this worker counts every request it answers, the /health call included
    assert client.get("/health").json()["requests_served"] == h["requests_served"] + 1
    assert client.get("/ready").json() == {"ready": True, "model_version": "test-small", "pid": os.getpid()}
    v = client.get("/version").json()
    assert v["model_version"] == "test-small" and v["parkmatch"]
    assert "lightgbm" in v["libraries"]


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    expected = {"/v1/recommendations", "/v1/recommendations/batch", "/v1/parks", "/v1/parks/{park_id}"}
    expected |= {"/v1/industries", "/v1/feedback", "/v1/admin/reload", "/health", "/version", "/ready"}
    expected |= {"/v1/admin/keys", "/v1/admin/keys/{key_id}"}
    assert expected <= set(spec["paths"])
    err = spec["paths"]["/v1/recommendations"]["post"]["responses"]["422"]["content"]["application/json"][
        "schema"
    ]
    assert err["$ref"].endswith("/ErrorResponse")
    assert client.get("/docs").status_code == 200


def test_recommendation(client: TestClient, keys: Keys) -> None:
    r = client.post("/v1/recommendations?top=5", json={**FIRM, "firm_id": "F1"}, headers=auth(keys.viewer))
    assert r.status_code == 200, r.text
    body = RecommendationResult.model_validate(r.json())
    assert body.firm_id == "F1" and body.model_version == "test-small"
    assert [x.rank for x in body.recommendations] == [1, 2, 3, 4, 5]
    assert all(x.reasons for x in body.recommendations)
    assert body.excluded == []


def test_bearer_and_explain_excluded(client: TestClient, keys: Keys) -> None:
    firm = {**FIRM, "pollution_level": "high", "max_distance_km": 150}
    r = client.post(
        "/v1/recommendations?explain_excluded=true",
        json=firm,
        headers={"Authorization": f"Bearer {keys.viewer}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["excluded"], "a polluting firm with a short radius excludes parks"
    assert {"park_id", "park_name", "rule", "detail"} <= set(r.json()["excluded"][0])


def test_top_bounds(client: TestClient, keys: Keys) -> None:
    for top in (0, 51):
        r = client.post(f"/v1/recommendations?top={top}", json=FIRM, headers=auth(keys.viewer))
        assert r.status_code == 422
        assert r.json()["error"]["field"] == "top"
    for top in (1, 50):
        r = client.post(f"/v1/recommendations?top={top}", json=FIRM, headers=auth(keys.viewer))
        assert r.status_code == 200
        assert 1 <= len(r.json()["recommendations"]) <= top


def test_validation_errors_name_the_field(client: TestClient, keys: Keys) -> None:
    cases = {
        "employees": {**FIRM, "employees": 0},
        "industry_code": {**FIRM, "industry_code": "27x"},
        "functions.0": {**FIRM, "functions": ["teleport"]},
        "name": {"industry_code": "2710"},
        "talent_level": {**FIRM, "talent_level": 2},
    }
    for field, firm in cases.items():
        r = client.post("/v1/recommendations", json=firm, headers=auth(keys.viewer))
        assert r.status_code == 422, field
        err = r.json()["error"]
        assert err["code"] == "validation_error" and err["field"] == field, (field, err)
        assert set(r.json()) == {"error"}


def test_unknown_field_rejected(client: TestClient, keys: Keys) -> None:
    r = client.post("/v1/recommendations", json={**FIRM, "headcount": 5}, headers=auth(keys.viewer))
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "validation_error",
        "message": "unknown field 'headcount'",
        "field": "headcount",
    }
    r = client.post(
        "/v1/feedback",
        json={"firm_name": "x", "park_id": "p", "outcome": "signed", "extra": 1},
        headers=auth(keys.officer),
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "extra"


def test_malformed_json(client: TestClient, keys: Keys) -> None:
    r = client.post(
        "/v1/recommendations",
        content=b"{not json",
        headers={**auth(keys.viewer), "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["code"], err["field"]) == ("invalid_json", "body") and "不是有效的 JSON" in err["message"]


def test_batch_reports_bad_firms_beside_good_ones(client: TestClient, keys: Keys) -> None:
    firms = [
        {**FIRM, "firm_id": "a"},
        {"name": "no industry"},
        {**FIRM, "firm_id": "c", "employees": -3},
        {"name": "软件", "description": "软件开发 信息技术服务", "firm_id": "d"},
        {**FIRM, "firm_id": "e", "colour": "blue"},
    ]
    r = client.post("/v1/recommendations/batch?top=3", json={"firms": firms}, headers=auth(keys.viewer))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(x["index"], x["firm_id"]) for x in body["results"]] == [(0, "a"), (3, "d")]
    assert all(len(x["recommendations"]) == 3 for x in body["results"])
    errors = {e["index"]: e for e in body["errors"]}
    assert sorted(errors) == [1, 2, 4]
    assert errors[2]["field"] == "employees"
    assert errors[4]["field"] == "colour" and "unknown field" in errors[4]["message"]


def test_batch_matches_single(client: TestClient, keys: Keys) -> None:
    single = client.post("/v1/recommendations", json=FIRM, headers=auth(keys.viewer)).json()
    batch = client.post(
        "/v1/recommendations/batch", json={"firms": [FIRM, FIRM]}, headers=auth(keys.viewer)
    ).json()
    ids = [x["park_id"] for x in single["recommendations"]]
    assert [[x["park_id"] for x in res["recommendations"]] for res in batch["results"]] == [ids, ids]


def test_batch_limits(client: TestClient, keys: Keys) -> None:
    r = client.post("/v1/recommendations/batch", json={"firms": [FIRM] * 1001}, headers=auth(keys.viewer))
    assert r.status_code == 422 and r.json()["error"]["field"] == "firms"
    r = client.post("/v1/recommendations/batch", json={"firms": [], "top": 3}, headers=auth(keys.viewer))
    assert r.status_code == 422 and r.json()["error"]["field"] == "top"
    r = client.post("/v1/recommendations/batch", json={"firms": []}, headers=auth(keys.viewer))
    assert r.json() == {"results": [], "errors": []}


def test_parks_list_filters_and_pagination(client: TestClient, keys: Keys) -> None:
    h = auth(keys.viewer)
    everything = client.get("/v1/parks?limit=500", headers=h).json()
    assert everything["total"] == len(everything["items"]) > 100
    for item in everything["items"][:5]:
        ParkProfile.model_validate(item)
    hebei = client.get("/v1/parks", params={"province": "河北省", "limit": 500}, headers=h).json()
    assert 0 < hebei["total"] < everything["total"] and all(p["province"] == "河北省" for p in hebei["items"])
    pharma = client.get("/v1/parks", params={"industry_code": "27", "limit": 500}, headers=h).json()
    assert pharma["total"] > 0 and all(
        any(c.startswith("27") for c in p["industry_codes"]) for p in pharma["items"]
    )
    city = hebei["items"][0]["city"]
    ptype = hebei["items"][0]["platform_type"]
    both = client.get("/v1/parks", params={"city": city, "platform_type": ptype}, headers=h).json()
    assert both["total"] >= 1 and all(
        p["city"] == city and p["platform_type"] == ptype for p in both["items"]
    )
    page1 = client.get("/v1/parks?limit=3&offset=0", headers=h).json()
    page2 = client.get("/v1/parks?limit=3&offset=3", headers=h).json()
    assert [p["park_id"] for p in page1["items"] + page2["items"]] == [
        p["park_id"] for p in everything["items"][:6]
    ]
    assert client.get("/v1/parks?limit=0", headers=h).json()["error"]["field"] == "limit"


def test_park_by_id(client: TestClient, keys: Keys) -> None:
    pid = client.get("/v1/parks?limit=1", headers=auth(keys.viewer)).json()["items"][0]["park_id"]
    r = client.get(f"/v1/parks/{pid}", headers=auth(keys.viewer))
    assert r.status_code == 200 and r.json()["park_id"] == pid
    r = client.get("/v1/parks/NOPE-1", headers=auth(keys.viewer))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_industries(client: TestClient, keys: Keys) -> None:
    h = auth(keys.viewer)
    r = client.get("/v1/industries", params={"q": "医药"}, headers=h).json()
    via = {code for code, _term in search_codes("医药")}  # 生物医药, 医药批发 … in the synonym table
    assert r["total"] > 0 and all("医药" in i["name"] or i["code"] in via for i in r["items"])
    r = client.get("/v1/industries", params={"q": "冷链"}, headers=h).json()
    assert {"5930", "5432"} <= {i["code"] for i in r["items"]}
    r = client.get("/v1/industries", params={"q": "271", "level": "小类"}, headers=h).json()
    assert r["items"] and all(i["code"].startswith("271") and i["level"] == "小类" for i in r["items"])
    r = client.get("/v1/industries", params={"limit": 5}, headers=h).json()
    assert len(r["items"]) == 5 and r["total"] > 1000
    assert (
        client.get("/v1/industries", params={"level": "bogus"}, headers=h).json()["error"]["field"] == "level"
    )


def test_feedback_roundtrip(client: TestClient, keys: Keys) -> None:
    pid = client.get("/v1/parks?limit=1", headers=auth(keys.viewer)).json()["items"][0]["park_id"]
    body = {
        "firm_id": "F9",
        "firm_name": "北京某公司",
        "park_id": pid,
        "outcome": "visited",
        "note": "看过两次",
    }
    r = client.post("/v1/feedback", json=body, headers=auth(keys.officer))
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["org"] == "org-a" and saved["outcome"] == "visited" and saved["created_by"]
    assert (
        client.post("/v1/feedback", json={**body, "outcome": "signed"}, headers=auth(keys.admin)).status_code
        == 201
    )
    listed = client.get("/v1/feedback", headers=auth(keys.viewer)).json()
    assert listed["total"] >= 2 and {x["outcome"] for x in listed["items"]} >= {"visited", "signed"}
    assert saved["id"] in [x["id"] for x in listed["items"]]


def test_feedback_validation(client: TestClient, keys: Keys) -> None:
    h = auth(keys.officer)
    r = client.post(
        "/v1/feedback", json={"firm_name": "x", "park_id": "NO-SUCH-PARK", "outcome": "signed"}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "park_id"
    r = client.post("/v1/feedback", json={"firm_name": "x", "park_id": "P", "outcome": "married"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "outcome"


def test_unknown_route_has_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_served_park_carries_provenance_and_its_sources(client: TestClient, keys: Keys) -> None:
    park = client.get("/v1/parks/HE115", headers=auth(keys.viewer)).json()
    assert park["name"].startswith("河北雄安新区")
    assert "education" in park["designated_functions"]
    assert park["provenance"]["designated_functions"] == "sourced"
    assert park["field_sources"]["designated_functions"][0]["url"].startswith("http")
    # unknown stays unknown: null, and said so
    assert park["available_land_mu"] is None and park["provenance"]["available_land_mu"] == "unknown"
    assert park["provenance"]["talent_pool"] == "estimated"
    assert set(park["reprint_only"]) <= set(park["field_sources"])
