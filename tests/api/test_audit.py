"""The audit log: every served call leaves the rows it should, with the answer's parks and
scores; an organisation sees only its own rows; filters, pagination, retention, Parquet export;
nothing is written with the audit off; a shutdown flushes the queue; an outage is bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import audit, service
from api.audit import AuditFilter, AuditLog
from api.config import ApiConfig
from api.db import AuditEntry, Database, Principal
from api.main import create_app
from features.schemas import FirmProfile
from matcher.core import Matcher
from parkmatch.cli import main
from tests.api.conftest import FIRM, GENEROUS, PHARMA, Keys, auth, make_keys, postgres_schema

PARK = "HE082"
WITH_ID = {**FIRM, "firm_id": "F-001"}
FIRMS: list[dict[str, Any]] = [
    {"name": "北京某软件公司", "industry_code": "6513", "functions": ["rnd"]},
    PHARMA,
    {"name": "坏行", "industry_code": "0000"},
    {**PHARMA, "firm_id": "F-007"},
]
CSV = "企业名称,行业代码,主营业务,疏解功能\n北京某制药有限公司,2710,,生产\n没有行业的企业,,,\n".encode()


def sha(firm: dict[str, Any]) -> str:
    return f"sha256:{service.profile_hash(FirmProfile.model_validate(firm))}"


def tops(recommendations: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["park_id"], r["score"]] for r in recommendations]


def page(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/admin/audit", params=params, headers=auth(key))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def key_id(client: TestClient, role: str) -> str:
    app: FastAPI = client.app  # type: ignore[assignment]
    return next(str(k.id) for k in app.state.db.list_keys() if k.role == role and k.org == "org-a")


def everything(client: TestClient, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every row the key's organisation may see, oldest first (after the writer flushed)."""
    app: FastAPI = client.app  # type: ignore[assignment]
    app.state.audit.flush()
    items: list[dict[str, Any]] = page(client, key, limit=500, **params)["items"]
    return items[::-1]


def _app(url: str, bundle_path: Path, matcher: Matcher, home: Path, **changes: Any) -> FastAPI:
    config = ApiConfig(
        model_dir=bundle_path,
        database_url=url,
        rate_limits=GENEROUS,
        batch_dir=home / "batch",
        audit_flush_seconds=0.05,
    )
    return create_app(replace(config, **changes), matcher=matcher)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bundle_path: Path,
    matcher: Matcher,
) -> Iterator[tuple[TestClient, Keys, str]]:
    """An app on each back end, its keys, and an admin of the second organisation."""
    home = tmp_path_factory.mktemp("audit")
    if request.param == "sqlite":
        url, done = f"sqlite:///{(home / 'api.db').as_posix()}", None
    else:
        done = postgres_schema()
        url = done.__enter__()
        migrated = Database(url)
        migrated.create_all()  # PostgreSQL is upgraded by `parkmatch db upgrade`, not by a worker
        migrated.dispose()
    try:
        app = _app(url, bundle_path, matcher, home)
        with TestClient(app) as client:
            keys = make_keys(app)
            _, other_admin = app.state.db.create_key("org-b", "admin")
            yield client, keys, other_admin
    finally:
        if done is not None:
            done.__exit__(None, None, None)


def _wait_job(client: TestClient, job_id: str, key: str) -> None:
    for _ in range(300):
        if client.get(f"/v1/batch-jobs/{job_id}", headers=auth(key)).json()["status"] in ("done", "failed"):
            return
        time.sleep(0.05)
    raise AssertionError("the batch job did not finish")


def test_every_call_served_is_in_the_audit_and_only_for_its_organisation(
    served: tuple[TestClient, Keys, str], bundle_path: Path
) -> None:
    client, keys, other_admin = served
    h = auth(keys.officer)
    single = client.post("/v1/recommendations?top=3", json=FIRM, headers=h).json()
    named = client.post("/v1/recommendations?top=3", json=WITH_ID, headers=h).json()
    batch = client.post("/v1/recommendations/batch?top=2", json={"firms": FIRMS}, headers=h).json()
    why = client.post(f"/v1/recommendations/why?park_id={PARK}", json=PHARMA, headers=h).json()
    ids = [r["park_id"] for r in single["recommendations"][:2]] + [PARK]
    compared = client.post(f"/v1/parks/compare?ids={','.join(ids)}", json=PHARMA, headers=h).json()
    leads = client.post(f"/v1/parks/{PARK}/leads", json={"firms": FIRMS, "top": 5}, headers=h).json()
    brief = client.post("/v1/briefs/firm", json=WITH_ID, headers=h)
    assert brief.status_code == 200
    job = client.post("/v1/batch-jobs?filename=list.csv&top=3", content=CSV, headers=h).json()
    _wait_job(client, job["id"], keys.officer)
    # refused calls are not served and leave nothing
    assert client.post("/v1/recommendations", json={"name": "x"}, headers=h).status_code == 422
    reload = client.post("/v1/admin/reload", json={"path": str(bundle_path)}, headers=auth(keys.admin))
    assert reload.status_code == 200, reload.text

    rows = everything(client, keys.admin)
    assert [r["kind"] for r in rows] == [
        "recommend",
        "recommend",
        "batch",
        "batch",
        "batch",
        "why",
        "compare",
        "leads",
        "brief",
        "batch_file",
        "reload",
    ]
    assert {r["org"] for r in rows} == {"org-a"}
    officer_id = key_id(client, "officer")
    assert all(r["key_id"] == officer_id for r in rows[:-1]) and rows[-1]["key_id"] == keys.admin_id
    version = single["model_version"]
    assert all(r["model_version"] == version for r in rows[:-1])
    assert len({r["call_id"] for r in rows}) == len(rows) - 2  # one batch call, three rows

    one, two = rows[0], rows[1]
    assert one["firm_ref"] == sha(FIRM) and one["top"] == tops(single["recommendations"])
    assert two["firm_ref"] == "F-001" and two["top"] == tops(named["recommendations"])
    assert one["detail"] == {"state": single["state"]}

    results = {r["index"]: r for r in batch["results"]}
    assert sorted(results) == [0, 1, 3] and [e["index"] for e in batch["errors"]] == [2]
    for row, index in zip(rows[2:5], (0, 1, 3), strict=True):
        assert row["detail"]["index"] == index
        assert row["top"] == tops(results[index]["recommendations"])
    assert [r["firm_ref"] for r in rows[2:5]] == [sha(FIRMS[0]), sha(PHARMA), "F-007"]

    w = rows[5]
    assert w["park_id"] == PARK and w["firm_ref"] == sha(PHARMA)
    assert w["detail"]["rank"] == why["rank"] and w["detail"]["score"] == why["score"]
    assert w["top"] == ([[why["top1"]["park_id"], why["top1"]["score"]]] if why["top1"] else [])
    assert rows[6]["top"] == [[p["park_id"], p["score"]] for p in compared["parks"]]

    lead = rows[7]
    assert lead["park_id"] == PARK and lead["firm_ref"] is None
    refs = {2: sha(PHARMA), 1: sha(FIRMS[0]), 4: "F-007"}
    assert lead["top"] == [[refs[x["row"]], x["lead_score"]] for x in leads["leads"]]
    assert lead["detail"]["firms"] == 4 and lead["detail"]["errors"] == len(leads["errors"])

    assert rows[8]["firm_ref"] == "F-001" and len(rows[8]["top"]) >= 1
    assert rows[9]["detail"]["job_id"] == job["id"] and rows[9]["detail"]["rows_read"] == 2
    assert rows[9]["detail"]["rejected"] == 1
    assert rows[10]["detail"] == {
        "path": str(bundle_path),
        "from": version,
        "to": reload.json()["model_version"],
    }

    # organisation B sees none of A's rows, then only its own
    assert page(client, other_admin)["total"] == 0
    assert (
        client.post("/v1/recommendations", json=FIRM, headers=auth(keys.other_org_officer)).status_code == 200
    )
    theirs = everything(client, other_admin)
    assert [(r["org"], r["kind"]) for r in theirs] == [("org-b", "recommend")]
    assert page(client, keys.admin)["total"] == len(rows)
    assert client.get("/v1/admin/audit", headers=auth(keys.officer)).status_code == 403


def test_filters_and_pagination(client: TestClient, keys: Keys) -> None:
    h = auth(keys.viewer)
    started = datetime.now(UTC)
    for i in range(5):
        assert (
            client.post(
                "/v1/recommendations?top=2", json={**FIRM, "firm_id": f"P-{i}"}, headers=h
            ).status_code
            == 200
        )
    assert client.post(f"/v1/recommendations/why?park_id={PARK}", json=PHARMA, headers=h).status_code == 200
    everything(client, keys.admin)
    assert page(client, keys.admin, kind="recommend", since=started.isoformat())["total"] == 5
    assert page(client, keys.admin, kind="why")["items"][0]["park_id"] == PARK
    assert page(client, keys.admin, park_id=PARK)["total"] >= 1
    only = page(client, keys.admin, firm_ref="P-3")
    assert only["total"] == 1 and only["items"][0]["firm_ref"] == "P-3"
    assert page(client, keys.admin, until=started.isoformat(), firm_ref="P-3")["total"] == 0
    viewer_id = key_id(client, "viewer")
    assert page(client, keys.admin, key_id=viewer_id, since=started.isoformat())["total"] == 6
    a = page(client, keys.admin, kind="recommend", since=started.isoformat(), limit=2, offset=0)
    b = page(client, keys.admin, kind="recommend", since=started.isoformat(), limit=2, offset=2)
    c = page(client, keys.admin, kind="recommend", since=started.isoformat(), limit=2, offset=4)
    assert (a["limit"], b["offset"], a["total"]) == (2, 2, 5)
    seen = [r["firm_ref"] for r in a["items"] + b["items"] + c["items"]]
    assert seen == ["P-4", "P-3", "P-2", "P-1", "P-0"]  # newest first, no row twice
    assert a["writer"]["enabled"] is True and a["writer"]["dropped"] == 0
    assert client.get("/v1/admin/audit?limit=501", headers=auth(keys.admin)).status_code == 422
    assert client.get("/v1/admin/audit?since=yesterday", headers=auth(keys.admin)).status_code == 422


def _old_and_new(db: Database) -> None:
    now = datetime.now(UTC)
    blank = {"key_id": None, "park_id": None, "model_version": "v", "top": "[]", "detail": None}
    rows = [
        {**blank, "ts": now - timedelta(days=d), "call_id": f"c{d}", "kind": "recommend", "org": org}
        | {"firm_ref": f"F{d}"}
        for d, org in ((400, "org-a"), (40, "org-a"), (1, "org-a"), (0, "org-b"))
    ]
    with db.engine.begin() as conn:
        conn.execute(sa.delete(AuditEntry))
        conn.execute(sa.insert(AuditEntry), rows)


def _refs(db: Database) -> list[str | None]:
    with db.session() as s:
        return sorted(s.scalars(sa.select(AuditEntry.firm_ref)), key=str)


def test_retention_prunes_old_rows_only_and_export_writes_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{(tmp_path / 'a.db').as_posix()}"
    db = Database(url)
    db.create_all()
    _old_and_new(db)
    assert audit.prune(db, 365) == 1 and _refs(db) == ["F0", "F1", "F40"]
    monkeypatch.setenv("PARKMATCH_DATABASE_URL", url)
    monkeypatch.setenv("PARKMATCH_AUDIT_RETENTION_DAYS", "30")
    assert main(["audit", "prune"]) == 0 and _refs(db) == ["F0", "F1"]
    _old_and_new(db)
    assert main(["audit", "prune", "--days", "0"]) == 0 and len(_refs(db)) == 4  # 0 keeps everything

    out = tmp_path / "audit.parquet"
    since = (datetime.now(UTC) - timedelta(days=60)).date().isoformat()
    assert main(["audit", "export", "--since", since, "--org", "org-a", "--out", str(out)]) == 0
    table = pq.read_table(out)
    assert table.num_rows == 2 and sorted(table.column("firm_ref").to_pylist()) == ["F1", "F40"]
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert table.schema.field("top").type == "string" and table.column("top").to_pylist() == ["[]", "[]"]
    assert main(["audit", "export", "--since", "2000-01-01", "--out", str(out)]) == 0
    assert pq.read_table(out).num_rows == 4
    n = audit.export_parquet(db, out, AuditFilter(since=datetime(2100, 1, 1)))
    assert n == 0 and pq.read_table(out).num_rows == 0
    db.dispose()


def _count(url: str) -> int:
    db = Database(url)
    try:
        with db.session() as s:
            return int(s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0)
    finally:
        db.dispose()


def test_audit_off_writes_nothing(tmp_path: Path, bundle_path: Path, matcher: Matcher) -> None:
    url = f"sqlite:///{(tmp_path / 'off.db').as_posix()}"
    app = _app(url, bundle_path, matcher, tmp_path, audit=False)
    with TestClient(app) as client:
        keys = make_keys(app)
        h = auth(keys.officer)
        assert client.post("/v1/recommendations", json=FIRM, headers=h).status_code == 200
        assert client.post("/v1/recommendations/batch", json={"firms": FIRMS}, headers=h).status_code == 200
        assert client.post(f"/v1/parks/{PARK}/leads", json={"firms": FIRMS}, headers=h).status_code == 200
        doc = page(client, keys.admin)
        assert doc["total"] == 0 and doc["writer"] == {
            "enabled": False,
            "pending": 0,
            "written": 0,
            "dropped": 0,
        }
    assert _count(url) == 0


def test_shutdown_flushes_every_queued_row(tmp_path: Path, bundle_path: Path, matcher: Matcher) -> None:
    url = f"sqlite:///{(tmp_path / 'stop.db').as_posix()}"
    app = _app(url, bundle_path, matcher, tmp_path, audit_flush_seconds=3600.0)
    with TestClient(app) as client:
        h = auth(make_keys(app).viewer)
        for i in range(7):
            assert (
                client.post("/v1/recommendations", json={**FIRM, "firm_id": str(i)}, headers=h).status_code
                == 200
            )
        assert client.post("/v1/recommendations/batch", json={"firms": FIRMS}, headers=h).status_code == 200
        assert app.state.audit.pending == 10 and _count(url) == 0  # queued, not written yet
    assert _count(url) == 10 and app.state.audit.dropped == 0


def test_a_database_outage_is_bounded_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = Database(f"sqlite:///{(tmp_path / 'later.db').as_posix()}")  # no tables yet: every insert fails
    log = AuditLog(db, max_rows=5)
    who = Principal("k1", "org-a", "viewer")
    result = {"model_version": "v", "recommendations": [{"park_id": "P", "score": 1.0}], "state": "matched"}
    firm = FirmProfile.model_validate(FIRM)
    for _ in range(8):
        log.recommendation(who, firm, result)
    assert log.dropped == 3 and log.pending == 5
    with caplog.at_level("WARNING", logger="parkmatch.audit"):
        assert log.flush() is False
    assert log.pending == 5 and "not written yet" in caplog.text
    log.recommendation(who, firm, result)
    assert log.dropped == 4  # still full while the rows wait
    db.create_all()
    assert log.flush() is True and log.pending == 0 and log.written == 5
    log.recommendation(who, firm, result)
    log.close()
    assert log.written == 6 and log.status()["dropped"] == 4
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 6
    db.dispose()


def test_a_promotion_outside_a_request_is_one_row(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{(tmp_path / 'p.db').as_posix()}")
    db.create_all()
    audit.record_event(db, "promote", "org-a", "v2", detail={"path": "/m/v2", "from": "v1", "to": "v2"})
    with db.session() as s:
        row = s.scalars(sa.select(AuditEntry)).one()
    assert (row.kind, row.org, row.key_id, row.firm_ref, row.model_version) == (
        "promote",
        "org-a",
        None,
        None,
        "v2",
    )
    assert json.loads(row.detail or "{}")["to"] == "v2"
    with pytest.raises(ValueError, match="kind must be one of"):
        audit.record_event(db, "nonsense", "org-a", "v2")
    db.dispose()


def test_the_firm_reference_is_the_id_or_the_canonical_hash() -> None:
    a = FirmProfile.model_validate({"employees": 300, "industry_code": "2710", "name": "北京某制药有限公司"})
    b = FirmProfile.model_validate({**FIRM, "description": "  "})  # blank is missing
    assert audit.firm_ref(a) == audit.firm_ref(b) == sha(FIRM) and len(sha(FIRM)) == len("sha256:") + 64
    assert audit.firm_ref(FirmProfile.model_validate(WITH_ID)) == "F-001"
    assert audit.raw_firm_ref(FIRM) == sha(FIRM) and audit.raw_firm_ref(FIRM, "X") == "X"


def test_the_settings_reach_the_app_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from parkmatch.config import Settings

    for name in ("PARKMATCH_AUDIT", "PARKMATCH_AUDIT_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    assert (Settings().api_config().audit, Settings().api_config().audit_retention_days) == (True, 365)
    monkeypatch.setenv("PARKMATCH_AUDIT", "false")
    monkeypatch.setenv("PARKMATCH_AUDIT_RETENTION_DAYS", "90")
    config = Settings().api_config()
    assert (config.audit, config.audit_retention_days) == (False, 90)
