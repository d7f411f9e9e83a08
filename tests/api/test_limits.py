"""The gate: auth before the body is read, the body capped before it is parsed (413)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from benchmarks.http import Server, running_server
from matcher.core import Matcher
from tests.api.conftest import FIRM, Keys, auth, make_config, make_keys

FIFTY_MB = 50 * 1024 * 1024


def test_unauthenticated_garbage_is_401_not_422(client: TestClient, keys: Keys) -> None:
    """Before the gate the body was parsed first, so broken JSON without a key got a 422."""
    r = client.post("/v1/recommendations", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = client.post("/v1/recommendations/batch", content=b"[" * 10_000, headers=auth(keys.revoked))
    assert r.status_code == 401


def test_declared_oversize_body_is_413_in_the_error_shape(client: TestClient, keys: Keys) -> None:
    body = json.dumps({"firms": [FIRM] * 300_000}, ensure_ascii=False).encode("utf-8")
    assert len(body) > 16 * 1024 * 1024
    r = client.post("/v1/recommendations/batch", content=body, headers=auth(keys.viewer))
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err["code"] == "payload_too_large" and err["field"] == "body"
    assert "请求体过大" in err["message"] and "16,777,216-byte limit" in err["message"]


def test_streamed_body_is_cut_off_at_the_cap(tmp_path: Path, bundle_path: Path, matcher: Matcher) -> None:
    config = make_config(tmp_path, bundle_path)
    from dataclasses import replace

    app = create_app(replace(config, max_body_bytes=10_000), matcher=matcher)
    with TestClient(app) as c:
        keys = make_keys(app)
        sent = 0

        def chunks() -> Iterator[bytes]:  # no Content-Length: the gate must count
            nonlocal sent
            for _ in range(1000):
                sent += 1000
                yield b" " * 1000

        r = c.post("/v1/recommendations", content=chunks(), headers=auth(keys.viewer))
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large", r.text
        ok = c.post("/v1/recommendations", json=FIRM, headers=auth(keys.viewer))
        assert ok.status_code == 200


def _raw_post(server: Server, path: str, headers: dict[str, str], body_bytes: int) -> tuple[int, float, int]:
    """POST with ``Content-Length: body_bytes`` over a raw socket, sending at most ``body_bytes``
    of body until the server answers; returns (status, seconds to the answer, bytes sent)."""
    parts = urlsplit(server.url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.hostname}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()] + [f"Content-Length: {body_bytes}", "", ""]
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    try:
        began = time.monotonic()
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        sent = 0
        sock.setblocking(False)
        chunk = b"[" * 65536
        response = b""
        while b"\r\n" not in response:
            try:
                response += sock.recv(65536)
                if not response:
                    break
                continue
            except BlockingIOError:
                pass
            if sent < body_bytes:
                try:
                    sent += sock.send(chunk[: body_bytes - sent])
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    time.sleep(0.001)
            else:
                time.sleep(0.001)
            if time.monotonic() - began > 30:
                raise TimeoutError("no answer in 30 s")
        return int(response.split(b" ", 2)[1]), time.monotonic() - began, sent
    finally:
        sock.close()


@pytest.mark.integration
def test_fifty_megabytes_get_413_and_no_key_gets_401_before_the_body(
    bundle_path: Path, tmp_path: Path
) -> None:
    with running_server(bundle_path, tmp_path / "home", workers=1, role="viewer") as server:
        status, seconds, sent = _raw_post(
            server, "/v1/recommendations/batch", {"X-API-Key": server.api_key}, FIFTY_MB
        )
        print(f"50 MB with a key: {status} after {seconds * 1000:.1f} ms, {sent:,} body bytes sent")
        assert status == 413 and seconds < 1.0 and sent < FIFTY_MB // 2
        # No key: the answer comes while the client has not sent one body byte.
        parts = urlsplit(server.url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        try:
            began = time.monotonic()
            sock.sendall(
                b"POST /v1/recommendations/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {FIFTY_MB}\r\n\r\n".encode()
            )
            head = sock.recv(4096)
            elapsed = time.monotonic() - began
            while chunk := sock.recv(4096):  # the server closes: it will not wait for the body
                head += chunk
        finally:
            sock.close()
        print(f"50 MB without a key: {head[9:12].decode()} after {elapsed * 1000:.1f} ms, 0 bytes sent")
        assert head.startswith(b"HTTP/1.1 401") and b'"code":"unauthorized"' in head
        assert elapsed < 1.0
        assert server.process.poll() is None
