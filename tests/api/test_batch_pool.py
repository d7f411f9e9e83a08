"""Batch calls run in their own bounded pool (api.deps.Inference, app.state.batch_inference):
a stuck batch never holds a single recommendation, the bound answers 503 with Retry-After, and
the batch threads run at a lower CPU priority.  The latency effect is measured in
``parkmatch bench`` (benchmarks/http.py), not here."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import BATCH_NICENESS, create_app
from matcher.core import Matcher
from tests.api.conftest import FIRM, auth, make_config, make_keys


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_busy_batch_pool_leaves_single_recommendations_alone(
    tmp_path: Path, bundle_path: Path, matcher: Matcher
) -> None:
    config = dataclasses.replace(make_config(tmp_path, bundle_path), batch_threads=1, batch_queue=1)
    app = create_app(config, matcher=matcher)
    with TestClient(app) as client:
        keys = make_keys(app)
        pool = app.state.batch_inference
        release = threading.Event()
        pool.executor.submit(release.wait, 60)  # the only batch thread is taken
        answers: list[httpx.Response] = []
        h = auth(keys.viewer)
        batch = {"firms": [FIRM]}
        url = "/v1/recommendations/batch?top=2"
        first = threading.Thread(target=lambda: answers.append(client.post(url, json=batch, headers=h)))
        first.start()
        try:
            deadline = time.monotonic() + 30
            while pool.pending < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert pool.pending == 1  # admitted, waiting for the batch thread
            single = client.post("/v1/recommendations?top=2", json=FIRM, headers=h)
            assert single.status_code == 200 and len(single.json()["recommendations"]) == 2
            refused = client.post("/v1/recommendations/batch", json=batch, headers=h)
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
            err = refused.json()["error"]
            assert err["code"] == "busy" and "批量请求过多" in err["message"]
            assert not answers  # the first batch is still waiting
        finally:
            release.set()
            first.join(60)
        assert answers and answers[0].status_code == 200
        body = answers[0].json()
        assert body["errors"] == [] and [r["index"] for r in body["results"]] == [0]
        assert len(body["results"][0]["recommendations"]) == 2
        assert pool.pending == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_batch_threads_run_at_a_lower_priority(tmp_path: Path, bundle_path: Path, matcher: Matcher) -> None:
    app = create_app(make_config(tmp_path, bundle_path), matcher=matcher)
    with TestClient(app):
        base = os.getpriority(os.PRIO_PROCESS, 0)
        single = app.state.inference.executor.submit(_priority).result(10)
        batch = app.state.batch_inference.executor.submit(_priority).result(10)
    assert single == base and batch == min(19, base + BATCH_NICENESS)
