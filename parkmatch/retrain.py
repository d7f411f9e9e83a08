"""``parkmatch retrain``: wire the database's outcomes and approved corrections, the documented
corpus and the champion bundle into :func:`training.retrain.retrain`, then promote or keep.

This is the composition root's job because it is the one place that may read the API's
database (outcomes, corrections, the active model) and call training: the gate itself takes
typed values only.  Promotion writes the challenger as a new bundle beside the others, checks
it in a child process as a reload does, and records it as the fleet's active model, so every
running worker swaps to it on its next poll; nothing is promoted half-written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from api.db import Database, Feedback
from features import reference as R
from matcher.bundle import verify_in_child
from matcher.core import Matcher
from parkmatch.config import Settings
from training.outcomes import OutcomeRecord, outcome_frame
from training.relocations import load_relocations
from training.retrain import GateConfig, Verdict, retrain


def log(msg: str) -> None:
    print(f"[parkmatch] {msg}", file=sys.stderr, flush=True)


def read_outcomes(db: Database) -> tuple[list[OutcomeRecord], int]:
    """Every outcome recorded with the firm's profile, of every organisation (the model is
    shared; what one organisation may *see* is a separate matter), and how many were recorded
    without a profile and so cannot be learned from."""
    with db.session() as s:
        rows = list(s.scalars(select(Feedback).order_by(Feedback.id)))
    out = [
        OutcomeRecord(
            outcome_id=int(r.id),
            org=r.org,
            park_id=r.park_id,
            outcome=r.outcome,
            profile=json.loads(r.firm_profile),
            profile_hash=str(r.profile_hash),
            created=r.created,
        )
        for r in rows
        if r.firm_profile is not None and r.profile_hash is not None
    ]
    return out, len(rows) - len(out)


def champion_path(db: Database, settings: Settings) -> Path:
    """The bundle the fleet serves: the recorded active model, else the configured directory."""
    record = db.active_model()
    return Path(record.path) if record is not None else settings.resolved_model_dir()


def run_retrain(
    settings: Settings,
    relocations: Path | None = None,
    cfg: GateConfig | None = None,
    dry_run: bool = False,
    report: Path | None = None,
) -> Verdict:
    """The whole ``parkmatch retrain``; returns the verdict after acting on it."""
    from api.audit import record_event
    from api.corrections import approved_corrections, mark_applied
    from features.corrections import apply_corrections

    db = Database(settings.resolved_database_url())
    try:
        db.create_all()
        champ_dir = champion_path(db, settings)
        log(f"champion: {champ_dir}")
        champion = Matcher.load(champ_dir)
        world_dir = Path(str(champion.manifest.get("world_dir") or settings.resolved_world_dir()))
        if not world_dir.exists():
            raise FileNotFoundError(
                f"the champion's simulated world {world_dir} is missing; run `parkmatch train` first"
            )
        cases_path = relocations or R.data_file("relocations.csv")
        cases = load_relocations(cases_path)
        cases_info = {
            "path": str(cases_path),
            "sha256": hashlib.sha256(Path(cases_path).read_bytes()).hexdigest(),
            "rows": len(cases),
            "groups": int(cases["group_id"].nunique()),
        }
        records, without_profile = read_outcomes(db)
        outcomes = outcome_frame(records)
        approved = approved_corrections(db)
        parks, changes = apply_corrections(R.load_parks(), approved)
        # only the corrections that set a value: one overridden by a later decision, or one whose
        # park has left the catalogue, was never served
        applied = {int(c["correction_id"]) for c in changes}
        corrections = [
            {"id": c.id, "park_id": c.park_id, "field": c.field, "value": c.value}
            for c in approved
            if c.id in applied
        ]
        log(
            f"{len(outcomes)} outcomes with a profile ({without_profile} without, not learned from), "
            f"{len(corrections)} approved corrections, {len(cases)} documented cases"
        )
        verdict, challenger = retrain(
            champion, world_dir, cases, cases_info, outcomes, corrections, parks, cfg, log, not dry_run
        )
        verdict.inputs["outcomes_without_profile"] = without_profile
        if challenger is not None:
            out = settings.home / "models" / str(verdict.challenger_version)
            challenger.save(out, challenger.manifest)
            checked = verify_in_child(out)
            db.set_active_model(str(out.resolve()), challenger.model_version, checked["manifest_sha256"])
            mark_applied(db, sorted(applied), challenger.model_version)
            record_event(
                db,
                kind="promote",
                org="system",
                model_version=challenger.model_version,
                detail={"path": str(out), "from": verdict.champion_version},
            )
            log(f"promoted {challenger.model_version} ({out}); running workers follow on their next poll")
        elif dry_run and verdict.decision == "promoted":
            verdict.decision = "promoted (dry run: nothing written)"
        write_report(verdict, report or default_report_path(settings, verdict))
        return verdict
    finally:
        db.dispose()


def default_report_path(settings: Settings, verdict: Verdict) -> Path:
    return settings.home / "retrain" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{verdict.decision.split()[0]}.json"


def write_report(verdict: Verdict, path: Path) -> Path:
    """The verdict as JSON (atomically: a scheduler reading the folder never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(verdict.to_json(), ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    log(f"retrain report: {path}")
    return path


def summary(verdict: Verdict) -> str:
    if verdict.decision.startswith("promoted ("):
        head = "候选模型通过评估（试运行：未写入，未上线）"
        return "\n".join([head, *[f"- {r}" for r in verdict.reasons]])
    head = {
        "promoted": "候选模型通过评估，已上线",
        "kept": "候选模型未通过评估，继续使用当前模型",
        "unchanged": "输入未变，无需重训",
    }.get(verdict.decision.split()[0], verdict.decision)
    return "\n".join([f"{head}（{verdict.decision}）", *[f"- {r}" for r in verdict.reasons]])


def gate_config(args: Any) -> GateConfig:
    cfg = GateConfig()
    changes: dict[str, Any] = {}
    if getattr(args, "folds", None):
        changes["folds"] = int(args.folds)
    if getattr(args, "max_sim_events", None):
        changes["max_sim_events"] = int(args.max_sim_events)
    return dataclasses.replace(cfg, **changes)
