"""Validate before swapping: a bundle whose files match their checksums but would crash LightGBM,
or one missing a required stage, is refused; the serving model and process survive."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from benchmarks.http import running_server
from matcher.bundle import MANIFEST, BundleError, read_manifest, required_files, sha256
from matcher.core import Matcher
from tests.api.conftest import FIRM, auth, make_config, make_keys

REPO = Path(__file__).resolve().parents[2]


def forged(
    bundle_path: Path, to: Path, edit: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()
) -> Path:
    """A copy of the bundle with some files replaced or removed and the manifest re-forged to
    match, as an operator's broken copy or a hand-edited model would be."""
    shutil.copytree(bundle_path, to)
    manifest = json.loads((to / MANIFEST).read_text(encoding="utf-8"))
    for name, data in (edit or {}).items():
        (to / name).write_bytes(data)
        manifest["files"][name] = sha256(to / name)
    for name in drop:
        (to / name).unlink()
        manifest["files"].pop(name, None)
        if name in manifest.get("required_files", []):
            manifest["required_files"].remove(name)
    (to / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return to


def aborting_ranker(bundle_path: Path) -> bytes:
    """A ranker.txt on which LightGBM's parser calls std::terminate (measured: exit 134)."""
    text = (bundle_path / "ranker.txt").read_text(encoding="utf-8")
    return text.replace("num_leaves=", "num_leaves=x", 3).encode("utf-8")


def segfaulting_ranker(bundle_path: Path) -> bytes:
    """Half a ranker.txt: LightGBM reads past the end (measured: exit 139, SIGSEGV)."""
    data = (bundle_path / "ranker.txt").read_bytes()
    return data[: len(data) // 2] + b"garbage"


@pytest.fixture
def fresh(tmp_path: Path, bundle_path: Path, matcher: Matcher) -> Iterator[tuple[TestClient, str]]:
    app = create_app(make_config(tmp_path / "home", bundle_path), matcher=matcher)
    with TestClient(app) as client:
        yield client, make_keys(app).admin


def test_the_malformed_ranker_really_kills_a_process(bundle_path: Path, tmp_path: Path) -> None:
    """The defect itself: loading it in-process dies on a signal, so no try/except could help."""
    bad = forged(bundle_path, tmp_path / "bad", {"ranker.txt": aborting_ranker(bundle_path)})
    code = f"from matcher.core import Matcher; Matcher.load({str(bad)!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=180, cwd=REPO)
    assert proc.returncode < 0 or proc.returncode >= 128, proc.returncode


@pytest.mark.parametrize("make", [aborting_ranker, segfaulting_ranker], ids=["sigabrt", "sigsegv"])
def test_reload_refuses_a_crashing_ranker_and_keeps_serving(
    fresh: tuple[TestClient, str], bundle_path: Path, tmp_path: Path, make: object
) -> None:
    client, admin = fresh
    assert callable(make)
    bad = forged(bundle_path, tmp_path / "bad", {"ranker.txt": make(bundle_path)})
    read_manifest(bad, Matcher.load(bundle_path).ranker.feature_names)  # checksums all match
    r = client.post("/v1/admin/reload", json={"path": str(bad)}, headers=auth(admin))
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "bundle_invalid" and err["field"] == "path"
    assert "crashed the process that test-loaded it with SIG" in err["message"], err["message"]
    health = client.get("/health").json()
    assert health["model_version"] == "test-small" and "crashed" in health["last_reload_error"]
    assert client.post("/v1/recommendations", json=FIRM, headers=auth(admin)).status_code == 200


@pytest.mark.parametrize("stage", ["tower", "history", "ranker"])
def test_a_bundle_missing_a_required_stage_is_refused(
    fresh: tuple[TestClient, str], bundle_path: Path, tmp_path: Path, stage: str
) -> None:
    from matcher.bundle import REQUIRED_FILES

    client, admin = fresh
    drop = REQUIRED_FILES[1][stage]
    bad = forged(bundle_path, tmp_path / f"no-{stage}", drop=drop)
    with pytest.raises(BundleError, match="is incomplete"):
        Matcher.load(bad)
    r = client.post("/v1/admin/reload", json={"path": str(bad)}, headers=auth(admin))
    assert r.status_code == 409, r.text
    assert "is incomplete" in r.json()["error"]["message"] and drop[0] in r.json()["error"]["message"]
    assert client.get("/health").json()["model_version"] == "test-small"


def test_dropping_an_optional_stage_the_manifest_declares_is_refused(
    bundle_path: Path, tmp_path: Path
) -> None:
    """Precedents are optional in the format, but a bundle trained with them declares them."""
    shutil.copytree(bundle_path, tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text(encoding="utf-8"))
    assert "precedents.json" in manifest["required_files"]
    assert required_files() <= set(manifest["required_files"])
    (tmp_path / "b" / "precedents.json").unlink()
    del manifest["files"]["precedents.json"]
    (tmp_path / "b" / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=r"precedents\.json"):
        Matcher.load(tmp_path / "b")


def test_recommend_cli_exits_2_on_a_crashing_ranker(bundle_path: Path, tmp_path: Path) -> None:
    bad = forged(bundle_path, tmp_path / "bad", {"ranker.txt": aborting_ranker(bundle_path)})
    firm = tmp_path / "firm.json"
    firm.write_text(json.dumps(FIRM, ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "parkmatch", "recommend", str(firm), "--model", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "parkmatch recommend: error:" in proc.stderr and "SIGABRT" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.integration
def test_malformed_reload_under_load_fails_no_request(bundle_path: Path, tmp_path: Path) -> None:
    """Clients keep posting single firms while an admin tries the crashing bundle: every request
    succeeds, the process stays up and the old version answers throughout."""
    bad = forged(bundle_path, tmp_path / "bad", {"ranker.txt": aborting_ranker(bundle_path)})
    with running_server(bundle_path, tmp_path / "home", workers=1, startup_timeout=120) as server:
        h = {"X-API-Key": server.api_key}
        stop = threading.Event()
        statuses: list[int] = []
        versions: set[str] = set()

        def load() -> None:
            with httpx.Client(base_url=server.url, headers=h, timeout=30) as c:
                while not stop.is_set():
                    try:
                        r = c.post("/v1/recommendations?top=3", json=FIRM)
                        statuses.append(r.status_code)
                        versions.add(r.json().get("model_version", "?"))
                    except httpx.HTTPError:
                        statuses.append(-1)

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            with httpx.Client(base_url=server.url, headers=h, timeout=240) as c:
                r = c.post("/v1/admin/reload", json={"path": str(bad)})
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        assert r.status_code == 409 and "SIGABRT" in r.json()["error"]["message"], r.text
        assert server.process.poll() is None, server.log_tail()
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert versions == {"test-small"}
