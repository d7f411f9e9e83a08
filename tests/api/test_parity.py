"""The API and ``parkmatch recommend`` rank the same firm identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from parkmatch.cli import main
from tests.api.conftest import Keys, auth

FIRMS = [
    {"name": "北京某制药有限公司", "industry_code": "2710", "employees": 300},
    {
        "name": "北京某软件公司",
        "description": "软件开发、信息技术咨询服务",
        "functions": ["back_office"],
        "firm_id": "S1",
    },
    {
        "name": "北京某化工公司",
        "industry_code": "2614",
        "pollution_level": "high",
        "needs_port": True,
        "max_distance_km": 400,
    },
]


@pytest.mark.parametrize("firm", FIRMS)
def test_api_and_cli_rank_identically(
    firm: dict[str, object],
    client: TestClient,
    keys: Keys,
    bundle_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(firm, ensure_ascii=False), encoding="utf-8")
    assert main(["recommend", str(path), "--model", str(bundle_path), "--top", "15"]) == 0
    cli = json.loads(capsys.readouterr().out)
    api = client.post("/v1/recommendations?top=15", json=firm, headers=auth(keys.viewer)).json()
    assert [r["park_id"] for r in api["recommendations"]] == [r["park_id"] for r in cli["recommendations"]]
    assert [r["score"] for r in api["recommendations"]] == pytest.approx(
        [r["score"] for r in cli["recommendations"]]
    )
    assert api["imputed"] == cli["imputed"]
