"""The brief routes return the same PDF briefs the CLI writes, with the API's error shape."""

from __future__ import annotations

import json

import pypdfium2 as pdfium
from fastapi.testclient import TestClient

from tests.api.conftest import FIRM, Keys


def _text(data: bytes) -> str:
    doc = pdfium.PdfDocument(data)
    return "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).replace("\r\n", "")


def test_firm_brief_by_post_and_by_get(client: TestClient, keys: Keys) -> None:
    head = {"X-API-Key": keys.viewer}
    posted = client.post("/v1/briefs/firm", json=FIRM, headers=head)
    assert posted.status_code == 200 and posted.headers["content-type"] == "application/pdf"
    assert len(pdfium.PdfDocument(posted.content)) == 1
    fetched = client.get("/v1/briefs/firm", params={"firm": json.dumps(FIRM)}, headers=head)
    assert fetched.status_code == 200
    top = client.post("/v1/recommendations?top=1", json=FIRM, headers=head).json()["recommendations"][0]
    assert top["park_name"] in _text(fetched.content).replace("\n", "")


def test_brief_errors_name_the_field(client: TestClient, keys: Keys) -> None:
    head = {"X-API-Key": keys.viewer}
    bad = client.post("/v1/briefs/firm", json={**FIRM, "employees": 0}, headers=head)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "employees"
    missing = client.get("/v1/briefs/parks/NO-SUCH-PARK", headers=head)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "park_id"
    assert client.get("/v1/briefs/parks/NO-SUCH-PARK").status_code == 401


def test_park_brief_with_leads_in_the_body(client: TestClient, keys: Keys) -> None:
    head = {"X-API-Key": keys.viewer}
    park_id = client.get("/v1/parks?limit=1", headers=head).json()["items"][0]["park_id"]
    body = {
        "leads": [{"firm_name": "北京某线索企业有限公司", "lead_score": 1.2}],
        "what_if": ["若公布地价，排名可升"],
    }
    got = client.post(f"/v1/briefs/parks/{park_id}", json=body, headers=head)
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    text = _text(got.content).replace("\n", "")
    assert "北京某线索企业有限公司" in text and "若公布地价，排名可升" in text
