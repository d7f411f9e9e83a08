"""Workspace fixtures: a signed-in browser is a TestClient holding the session cookie."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from matcher.core import Matcher
from tests.api.conftest import make_config

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass
class Browser:
    """A client with a session cookie and the CSRF token its pages carry."""

    client: TestClient
    csrf: str

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


def sign_in(client: TestClient, key: str) -> Browser:
    client.cookies.clear()
    assert client.post("/web/login", json={"key": key}).status_code == 200
    page = client.get("/find")
    assert page.status_code == 200
    found = CSRF_META.search(page.text)
    assert found is not None, "the page carries no CSRF token"
    return Browser(client, found.group(1))


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory, bundle_path: Path, matcher: Matcher) -> FastAPI:
    """The API tests' app, with its own batch folder and small chunks so progress moves."""
    home = tmp_path_factory.mktemp("web")
    config = replace(make_config(home, bundle_path), batch_dir=home / "batch", batch_chunk_rows=3)
    return create_app(config, matcher=matcher)
