"""The park's side over HTTP, and the same answers from the CLI and the files (one code path)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features import schemas as S
from parkmatch.cli import main
from tests.api.conftest import PHARMA, Keys, auth

PARK = "HE082"
FIRMS = [
    {"name": "北京某软件公司", "industry_code": "6513", "functions": ["rnd"]},
    PHARMA,
    {"name": "坏行", "industry_code": "0000"},
    {"name": "北京某冷链物流公司", "description": "冷链仓储与城市配送", "functions": ["logistics"]},
]


def test_leads_endpoint_ranks_the_list_and_reports_the_bad_row(client: TestClient, keys: Keys) -> None:
    r = client.post(f"/v1/parks/{PARK}/leads", json={"firms": FIRMS, "top": 10}, headers=auth(keys.viewer))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["park_id"] == PARK and doc["park_name"] and doc["model_version"]
    assert doc["leads"][0]["firm_name"] == PHARMA["name"] and doc["leads"][0]["row"] == 2
    assert [e["row"] for e in doc["errors"]] == [3] and doc["errors"][0]["field"] == "industry_code"
    assert len(doc["leads"]) == 3
    lead = doc["leads"][0]
    assert set(lead["pressure_parts"]) == set(S.PRESSURE_PARTS)
    assert all("text" in part for part in lead["pressure_parts"].values())
    missing = client.post("/v1/parks/NOPE/leads", json={"firms": FIRMS}, headers=auth(keys.viewer))
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "park_id"


def test_why_answers_get_and_post_alike(client: TestClient, keys: Keys) -> None:
    url = f"/v1/recommendations/why?park_id={PARK}"
    got = client.request("GET", url, json=PHARMA, headers=auth(keys.viewer))
    posted = client.post(url, json=PHARMA, headers=auth(keys.viewer))
    assert got.status_code == 200, got.text
    assert got.json() == posted.json()
    doc = got.json()
    assert doc["park_id"] == PARK and doc["summary"].startswith("本园区")
    assert doc["rank"] is None or doc["rank"] >= 1
    bad = client.post("/v1/recommendations/why", json=PHARMA, headers=auth(keys.viewer))
    assert bad.status_code == 422


def test_compare_and_the_cli_give_the_same_answer(
    client: TestClient, keys: Keys, bundle_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = client.post("/v1/recommendations?top=2", json=PHARMA, headers=auth(keys.viewer)).json()
    ids = [r["park_id"] for r in top["recommendations"]] + [PARK]
    api = client.post(f"/v1/parks/compare?ids={','.join(ids)}", json=PHARMA, headers=auth(keys.viewer)).json()
    assert [p["park_id"] for p in api["parks"]] == ids and api["parks"][0]["rank"] == 1
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(PHARMA, ensure_ascii=False), encoding="utf-8")
    assert main(["recommend", str(path), "--model", str(bundle_path), "--compare", ",".join(ids)]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert [(p["park_id"], p["rank"], p["score"]) for p in cli["parks"]] == [
        (p["park_id"], p["rank"], p["score"]) for p in api["parks"]
    ]
    assert main(["recommend", str(path), "--model", str(bundle_path), "--why", PARK]) == 0
    why_cli = json.loads(capsys.readouterr().out)
    why_api = client.post(
        f"/v1/recommendations/why?park_id={PARK}", json=PHARMA, headers=auth(keys.viewer)
    ).json()
    assert (why_cli["rank"], why_cli["score"], why_cli["summary"]) == (
        why_api["rank"],
        why_api["score"],
        why_api["summary"],
    )


def test_leads_file_equals_the_api_and_the_workbook_is_in_chinese(
    client: TestClient, keys: Keys, bundle_path: Path, tmp_path: Path
) -> None:
    src = tmp_path / "firms.csv"
    rows = [{**f, "functions": ";".join(f.get("functions", []))} for f in FIRMS]  # type: ignore[arg-type]
    pd.DataFrame(rows).to_csv(src, index=False)
    out = tmp_path / "leads.xlsx"
    assert main(["leads", "--park", PARK, str(src), "--model", str(bundle_path), "-o", str(out)]) == 0
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["说明", "招商线索", "未匹配与拒绝"]
    sheet = list(wb["招商线索"].iter_rows(values_only=True))
    assert sheet[0][: len(S.LEAD_COLUMNS)] == tuple(S.OUTPUT_HEADERS_ZH.get(c, c) for c in S.LEAD_COLUMNS)
    rejected = list(wb["未匹配与拒绝"].iter_rows(values_only=True))
    assert len(rejected) == 2 and rejected[1][0] == 3
    csv_out = tmp_path / "leads.csv"
    assert main(["leads", "--park", PARK, str(src), "--model", str(bundle_path), "-o", str(csv_out)]) == 0
    frame = pd.read_csv(csv_out, encoding="utf-8-sig")
    api = client.post(f"/v1/parks/{PARK}/leads", json={"firms": FIRMS}, headers=auth(keys.viewer)).json()
    assert list(frame[S.FIRM_NAME]) == [lead["firm_name"] for lead in api["leads"]]
    assert list(frame[S.LEAD_SCORE]) == pytest.approx([lead["lead_score"] for lead in api["leads"]])
    assert list(frame[S.ROW]) == [lead["row"] for lead in api["leads"]]


def test_index_firms_then_leads_from_the_index_equal_the_list(
    bundle_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "firms.csv"
    rows = [{**f, "functions": ";".join(f.get("functions", []))} for f in FIRMS]  # type: ignore[arg-type]
    pd.DataFrame(rows).to_csv(src, index=False)
    model = ["--model", str(bundle_path)]
    assert main(["index-firms", str(src), "--out", str(tmp_path / "ix"), *model]) == 0
    assert (tmp_path / "ix" / "manifest.json").exists()
    capsys.readouterr()
    assert main(["leads", "--park", PARK, "--index", str(tmp_path / "ix"), *model]) == 0
    indexed = json.loads(capsys.readouterr().out)
    assert main(["leads", "--park", PARK, str(src), *model]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(x["row"], x["lead_score"]) for x in indexed["leads"]] == [
        (x["row"], x["lead_score"]) for x in listed["leads"]
    ]
    assert main(["leads", "--park", "NOPE", str(src), *model]) == 2
    assert "NOPE" in capsys.readouterr().err
