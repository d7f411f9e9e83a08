"""Hot reload: a broken bundle is refused and the old model keeps serving; a good one swaps in."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from matcher.core import Matcher
from tests.api.conftest import FIRM, auth, make_config, make_keys


@pytest.fixture
def fresh(tmp_path: Path, bundle_path: Path, matcher: Matcher) -> Iterator[tuple[TestClient, str]]:
    app = create_app(make_config(tmp_path / "home", bundle_path), matcher=matcher)
    with TestClient(app) as client:
        yield client, make_keys(app).admin


def _copy(bundle_path: Path, to: Path) -> Path:
    shutil.copytree(bundle_path, to)
    return to


def test_corrupt_bundle_keeps_old_model(
    fresh: tuple[TestClient, str], bundle_path: Path, tmp_path: Path
) -> None:
    client, admin = fresh
    bad = _copy(bundle_path, tmp_path / "bad")
    target = bad / "ranker.txt"
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2] + b"garbage")
    r = client.post("/v1/admin/reload", json={"path": str(bad)}, headers=auth(admin))
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "bundle_invalid" and "checksum mismatch for ranker.txt" in err["message"]
    assert client.get("/health").json()["model_version"] == "test-small"
    assert client.post("/v1/recommendations", json=FIRM, headers=auth(admin)).status_code == 200
    missing = client.post("/v1/admin/reload", json={"path": str(tmp_path / "nowhere")}, headers=auth(admin))
    assert missing.status_code == 409 and "does not exist" in missing.json()["error"]["message"]


def test_good_bundle_swaps_version(fresh: tuple[TestClient, str], bundle_path: Path, tmp_path: Path) -> None:
    client, admin = fresh
    good = _copy(bundle_path, tmp_path / "good")
    manifest = json.loads((good / "manifest.json").read_text(encoding="utf-8"))
    manifest["model_version"] = "test-small-v2"
    (good / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    before = client.post("/v1/recommendations", json=FIRM, headers=auth(admin)).json()
    r = client.post("/v1/admin/reload", json={"path": str(good)}, headers=auth(admin))
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == "test-small-v2" and r.json()["previous_version"] == "test-small"
    assert client.get("/health").json()["model_version"] == "test-small-v2"
    after = client.post("/v1/recommendations", json=FIRM, headers=auth(admin)).json()
    assert after["model_version"] == "test-small-v2"
    assert [x["park_id"] for x in after["recommendations"]] == [
        x["park_id"] for x in before["recommendations"]
    ]
    # no body: the configured model directory (the fixture bundle)
    r = client.post("/v1/admin/reload", headers=auth(admin))
    assert r.status_code == 200 and r.json()["model_version"] == "test-small"
