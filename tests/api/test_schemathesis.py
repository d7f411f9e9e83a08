"""Property-based: generated requests against the OpenAPI document, through ASGI."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.deps import ModelState
from api.main import create_app
from matcher.core import Matcher
from tests.api.conftest import make_config, make_keys

# The schema is read at collection time; the model is put in place by the fixture below.
_home = Path(tempfile.mkdtemp(prefix="parkmatch-st-"))
app = create_app(make_config(_home, _home / "no-model"))
# reloading is exercised in test_reload.py; fuzzing it would reload the model dozens of times
schema = schemathesis.openapi.from_dict(app.openapi()).exclude(path="/v1/admin/reload")
schema.app = app  # calls go through ASGI, as with ``from_asgi`` (which would start the lifespan too early)
_state: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _serving(matcher: Matcher) -> Iterator[None]:
    app.state.models.swap(ModelState.build(matcher, "(fixture)"))
    with TestClient(app):  # runs the lifespan: tables ready, the model above kept
        _state["key"] = make_keys(app).admin
        yield


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"X-API-Key": _state["key"]}, checks=[not_a_server_error, response_schema_conformance]
    )
