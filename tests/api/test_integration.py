"""A real uvicorn process on loopback, as ``parkmatch serve`` runs it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from benchmarks.http import running_server
from tests.api.conftest import FIRM


@pytest.mark.integration
def test_real_server(bundle_path: Path, tmp_path: Path) -> None:
    with (
        running_server(bundle_path, tmp_path / "home", workers=1, startup_timeout=90) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        assert c.get("/health").json()["model_version"] == "test-small"
        assert c.post("/v1/recommendations", json=FIRM).status_code == 401
        h = {"X-API-Key": server.api_key}
        r = c.post("/v1/recommendations?top=3", json=FIRM, headers=h)
        assert r.status_code == 200 and len(r.json()["recommendations"]) == 3
        assert c.get("/v1/parks?limit=2", headers=h).json()["total"] > 100
        pid = r.json()["recommendations"][0]["park_id"]
        fb = c.post(
            "/v1/feedback",
            json={"firm_name": "北京某制药有限公司", "park_id": pid, "outcome": "shortlisted"},
            headers=h,
        )
        assert fb.status_code == 201
        assert c.get("/v1/feedback", headers=h).json()["total"] == 1
    assert server.process.poll() is not None
