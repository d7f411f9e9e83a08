"""Batch calls of a bundle on disk run in a child process per worker (api.batchwork): same
answers as in process, the lowest CPU priority, reloads followed, and a killed child costing one
503, not the service.  The latency effect is measured in ``parkmatch bench`` (isolation)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.batchwork import held
from api.main import create_app
from matcher.core import Matcher
from tests.api.conftest import FIRM, auth, make_config, make_keys

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")

FIRMS = [
    FIRM,
    {"name": "北京某冷链物流公司", "description": "冷链仓储与城市配送", "functions": ["logistics"]},
    {},
]


def test_batch_answers_from_the_child_equal_the_in_process_ones_and_it_runs_at_idle_priority(
    tmp_path: Path, bundle_path: Path, matcher: Matcher
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_memory = create_app(make_config(tmp_path / "a", bundle_path), matcher=matcher)
    on_disk = create_app(make_config(tmp_path / "b", bundle_path))
    answers = []
    for app in (in_memory, on_disk):
        with TestClient(app) as client:
            keys = make_keys(app)
            r = client.post(
                "/v1/recommendations/batch?top=3", json={"firms": FIRMS}, headers=auth(keys.viewer)
            )
            assert r.status_code == 200
            answers.append(r.json())
            leads = client.post(
                "/v1/parks/HE082/leads", json={"firms": FIRMS, "top": 2}, headers=auth(keys.officer)
            )
            assert leads.status_code == 200
            answers.append(leads.json())
            unknown = client.post("/v1/parks/XX999/leads", json={"firms": FIRMS}, headers=auth(keys.officer))
            assert unknown.status_code == 404  # an HTTP error raised in the child keeps its status
            if app is on_disk:
                pid, path, digest, policy = app.state.batch_inference.ask(held)
                assert pid != os.getpid()
                assert Path(path) == bundle_path and digest
                assert policy == os.SCHED_IDLE
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert [e["index"] for e in answers[0]["errors"]] == [2]  # the empty firm is reported, not fatal


def test_the_child_follows_a_reload_and_a_killed_child_costs_one_503(
    tmp_path: Path, bundle_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle_path, copy)
    app = create_app(make_config(tmp_path, bundle_path))
    with TestClient(app) as client:
        keys = make_keys(app)
        h = auth(keys.admin)
        assert client.post("/v1/recommendations/batch", json={"firms": [FIRM]}, headers=h).status_code == 200
        r = client.post("/v1/admin/reload", json={"path": str(copy)}, headers=h)
        assert r.status_code == 200
        assert client.post("/v1/recommendations/batch", json={"firms": [FIRM]}, headers=h).status_code == 200
        pid, path, _, _ = app.state.batch_inference.ask(held)
        assert Path(path) == copy.resolve() or Path(path) == copy
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        statuses = []
        while time.monotonic() < deadline:
            r = client.post("/v1/recommendations/batch", json={"firms": [FIRM]}, headers=h)
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503 and r.json()["error"]["code"] == "batch_process_lost"
        assert statuses[-1] == 200 and statuses.count(503) <= 1
        assert app.state.batch_inference.ask(held)[0] != pid
        single = client.post("/v1/recommendations", json=FIRM, headers=h)
        assert single.status_code == 200


# A worker that dies without stopping its pool, as a killed worker does: once its child is
# running, and while the child is still starting (a server stopped right after it started).
_ORPHAN_PARENTS = {
    "running": """
import os
from api.batchwork import BatchWork, held
print(BatchWork().ask(held)[0], flush=True)
os._exit(0)
""",
    "starting": """
import os
from api.batchwork import BatchWork, held
pool = BatchWork()._executor()
pool.submit(held)
print(*pool._processes, flush=True)
os._exit(0)
""",
}


@pytest.mark.parametrize("when", sorted(_ORPHAN_PARENTS))
def test_the_child_exits_when_its_worker_dies_without_stopping_it(tmp_path: Path, when: str) -> None:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    log = tmp_path / "worker.log"
    with log.open("w") as out:  # a file, not a pipe: an orphaned child would hold a pipe open
        done = subprocess.run(
            [sys.executable, "-c", _ORPHAN_PARENTS[when]], cwd=root, stdout=out, stderr=out, timeout=120
        )
    assert done.returncode == 0, log.read_text()
    child = int(log.read_text().split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.2)
    outlived = _alive(child)
    if outlived:
        os.kill(child, signal.SIGKILL)
    assert not outlived, f"batch child {child} outlived its worker"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
