"""The whole loop on SQLite and PostgreSQL: officers post outcomes and a park correction through
the API, `parkmatch retrain` promotes a challenger when the outcomes agree with the documented
cases and keeps the champion when a poisoned batch would make it worse on the real folds, the
running app follows the promotion, the approved correction changes the park's value, provenance
and criterion score, the audit shows every call, and no organisation sees another's rows."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.config import ApiConfig
from api.db import AuditEntry, Database
from api.main import create_app
from features import schemas as S
from matcher.core import Matcher
from parkmatch.cli import main
from parkmatch.config import Settings
from parkmatch.retrain import run_retrain
from tests.api.conftest import GENEROUS, auth
from training.relocations import case_targets, load_relocations, relocation_records
from training.retrain import GateConfig
from training.synth import World

# small refits: the gate's logic, not its accuracy, is under test
FAST_GATE = GateConfig(
    folds=2,
    max_sim_events=1500,
    final_sim_events=1500,
    ranker_params={"n_estimators": 40},
    min_holdout_firms=5,
)
# The promotion step decides on the officers' outcomes alone: the real-case check of these
# 40-tree refits on 1,500 events moves by several hundredths with nothing but the CPU's BLAS
# kernels (0.627 → 0.616 on one machine, 0.609 → 0.568 on another, for the same inputs), so a
# tolerance of 0.01 there would test the hardware.  The poisoned step keeps the real-case check.
PROMOTE_GATE = dataclasses.replace(FAST_GATE, tolerance_real_hit5=1.0)
MANUFACTURER = {
    "name": "北京某机械制造有限公司",
    "industry_code": "3421",
    "origin_district": "朝阳区",
    "functions": ["production"],
    "land_need_mu": 80,
    "employees": 400,
}


def case_profiles(matcher: Matcher) -> list[tuple[dict[str, Any], list[int], list[int]]]:
    """Each documented case with a catalogue park: its profile as an officer would send it, the
    documented parks and the parks of the destination county."""
    cases = load_relocations()
    matched, county = case_targets(cases, matcher.parks)
    out = []
    for rec, m, c in zip(relocation_records(cases), matched, county, strict=True):
        if m:
            prof = {k: v for k, v in rec.items() if v not in (None, []) and k != S.FIRM_ID}
            out.append((prof, m, c))
    return out


def post(client: TestClient, key: str, path: str, body: Any, status: int = 201, **params: Any) -> Any:
    r = client.post(path, json=body, headers=auth(key), params=params)
    assert r.status_code == status, r.text
    return r.json()


def get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    r = client.get(path, headers=auth(key), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for_version(client: TestClient, version: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.get("/health").json()["model_version"] == version:
            return
        time.sleep(0.2)
    raise AssertionError(f"the app did not follow the promotion to {version}")


@pytest.mark.slow
@pytest.mark.integration
def test_outcomes_and_corrections_retrain_behind_a_gate_with_an_audit_trail(
    empty_db_url: str,
    tmp_path: Path,
    bundle_path: Path,
    matcher: Matcher,
    small_world: tuple[World, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, world_dir = small_world
    db_url = empty_db_url
    schema = Database(db_url)
    schema.create_all()  # `parkmatch db upgrade`: a worker refuses a PostgreSQL schema that is behind
    schema.dispose()
    config = ApiConfig(
        model_dir=bundle_path, database_url=db_url, rate_limits=GENEROUS, reload_poll_seconds=0.2
    )
    app = create_app(config, matcher=matcher)
    settings = Settings(
        home=tmp_path / "var", model_dir=bundle_path, world_dir=world_dir, database_url=db_url
    )
    with TestClient(app) as client:
        db: Database = app.state.db
        _, officer_a = db.create_key("org-a", "officer")
        admin_a_row, admin_a = db.create_key("org-a", "admin")
        _, officer_b = db.create_key("org-b", "officer")
        _, admin_b = db.create_key("org-b", "admin")
        ids = [str(p) for p in matcher.park_arrays.ids]

        # a park whose land price no source states, compared for a manufacturer
        unknown_price = [
            str(r[S.PARK_ID]) for r in matcher.parks.to_dict("records") if np.isnan(float(r[S.LAND_PRICE]))
        ]
        before = post(
            client, officer_a, "/v1/parks/compare", MANUFACTURER, 200, ids=",".join(unknown_price[:40])
        )
        park = next(p for p in before["parks"] if p["rank"] is not None)
        park_id, land_before = park["park_id"], park["criteria"]["land"]
        assert get(client, officer_a, f"/v1/parks/{park_id}")["provenance"][S.LAND_PRICE] == "unknown"

        # org A: outcomes that agree with the documented cases, and a correction of the park
        calls = 1  # the compare above
        for i, (prof, matched_parks, _c) in enumerate(case_profiles(matcher)):
            body = {
                "firm_name": prof[S.NAME],
                "park_id": ids[matched_parks[0]],
                "outcome": "signed",
                "firm": prof,
            }
            post(client, officer_a, "/v1/feedback", body)
            if i % 10 == 0:  # and a few rejections elsewhere, with their reasons
                other = ids[(matched_parks[0] + 37) % len(ids)]
                reject = {**body, "park_id": other, "outcome": "rejected", "reason_category": "distance"}
                post(client, officer_a, "/v1/feedback", reject)
        bad = {**body, "outcome": "rejected"}
        assert client.post("/v1/feedback", json=bad, headers=auth(officer_a)).status_code == 422
        proposal = {
            "field": S.LAND_PRICE,
            "value": 150000,
            "source": "https://example.gov.cn/notice/2026-land.html",
        }
        corr = post(client, officer_a, f"/v1/parks/{park_id}/corrections", proposal)
        decided = post(client, admin_a, f"/v1/admin/corrections/{corr['id']}", {"decision": "approve"}, 200)
        assert decided["status"] == "approved"
        for _ in range(3):
            post(client, officer_a, "/v1/recommendations", MANUFACTURER, 200)
            calls += 1

        # org B sees none of org A's outcomes, corrections, history or audit rows
        assert get(client, officer_b, "/v1/feedback")["total"] == 0
        assert get(client, admin_b, "/v1/admin/corrections")["total"] == 0
        assert get(client, officer_b, f"/v1/parks/{park_id}/corrections") == [] or (
            get(client, officer_b, f"/v1/parks/{park_id}/corrections").get("total", 0) == 0
        )
        assert get(client, admin_b, "/v1/admin/audit")["total"] == 0
        assert (
            client.post(
                f"/v1/admin/corrections/{corr['id']}", json={"decision": "reject"}, headers=auth(admin_b)
            ).status_code
            == 404
        )

        # the retrain promotes a challenger; the app follows it
        champion_version = client.get("/health").json()["model_version"]
        verdict = run_retrain(settings, cfg=PROMOTE_GATE, report=tmp_path / "promote.json")
        assert verdict.decision == "promoted", verdict.reasons
        assert verdict.holdout["challenger"]["ndcg@5"] > verdict.holdout["champion"]["ndcg@5"]
        assert {"champion", "challenger"} <= set(verdict.real)
        record = db.active_model()
        assert record is not None and record.model_version == verdict.challenger_version
        wait_for_version(client, record.model_version)
        promoted = Matcher.load(Path(record.path))
        assert promoted.manifest["outcomes"]["count"] == get(client, admin_a, "/v1/feedback")["total"]
        assert promoted.manifest["corrections"]["ids"] == [corr["id"]]
        assert promoted.manifest["retrained_from"] == champion_version

        # the approved correction: value, provenance and who approved it, then the criterion
        served = get(client, officer_a, f"/v1/parks/{park_id}")
        assert served[S.LAND_PRICE] == 150000
        assert served["provenance"][S.LAND_PRICE] == "provided"
        assert admin_a_row.id in served["field_sources"][S.LAND_PRICE][0]["title"]
        after = post(client, officer_a, "/v1/parks/compare", MANUFACTURER, 200, ids=park_id)
        calls += 1
        assert after["parks"][0]["criteria"]["land"] != land_before
        history = get(client, officer_a, f"/v1/parks/{park_id}/history")
        items = history["items"] if isinstance(history, dict) else history
        assert items and items[0]["new_provenance"] == "provided"
        assert get(client, admin_a, "/v1/admin/corrections", status="approved")["items"][0]["applied_in"] == (
            record.model_version
        )

        # running it again on the same inputs changes nothing (the command as a scheduler runs it)
        for name, value in (
            ("HOME", settings.home),
            ("MODEL_DIR", bundle_path),
            ("WORLD_DIR", world_dir),
            ("DATABASE_URL", db_url),
        ):
            monkeypatch.setenv(f"PARKMATCH_{name}", str(value))
        assert main(["retrain", "--report", str(tmp_path / "again.json")]) == 0
        assert "输入未变，无需重训" in capsys.readouterr().out
        assert json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))["decision"] == "unchanged"
        assert db.active_model() == record

        # a poisoned batch: each documented firm signed somewhere it never went, its real park rejected
        rng = np.random.default_rng(0)
        for prof, matched_parks, county in case_profiles(matcher):
            wrong = [
                ids[j] for j in rng.choice(len(ids), 3, replace=False) if j not in matched_parks + county
            ]
            for w in wrong:
                post(
                    client,
                    officer_a,
                    "/v1/feedback",
                    {"firm_name": "x", "park_id": w, "outcome": "signed", "firm": prof},
                )
            reject = {"firm_name": "x", "park_id": ids[matched_parks[0]], "outcome": "rejected"}
            post(client, officer_a, "/v1/feedback", {**reject, "reason_category": "other", "firm": prof})
        kept = run_retrain(settings, cfg=FAST_GATE, report=tmp_path / "poisoned.json")
        assert kept.decision == "kept", kept.reasons
        assert kept.real["challenger"]["county_hit@5"] < kept.real["champion"]["county_hit@5"] - 0.01
        assert db.active_model() == record
        assert (tmp_path / "poisoned.json").exists()

        # the audit shows every call made: recommendations and compares of org A, and the promotion
        app.state.audit.flush()
        log = get(client, admin_a, "/v1/admin/audit", limit=500)
        kinds = [i["kind"] for i in log["items"]]
        assert kinds.count("recommend") == 3 and kinds.count("compare") == calls - 3
        assert all(i["org"] == "org-a" for i in log["items"])
        with db.session() as s:
            promotions = list(s.scalars(select(AuditEntry).where(AuditEntry.kind == "promote")))
        assert [p.model_version for p in promotions] == [record.model_version]
