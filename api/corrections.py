"""What the park-correction routes do: proposals, an admin's decision, and the field history.

Every read and every decision is confined to the caller's organisation: another organisation's
correction answers 404, exactly like one that does not exist, so no caller learns what another
organisation proposed.  The approved values themselves overlay the one shared catalogue, but
only at the next retrain (:func:`approved_corrections`, :func:`mark_applied`, called by the
composition root around :func:`features.corrections.apply_corrections`): a decision never
changes the model being served, so every worker keeps serving the same catalogue until the
new bundle is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd
from fastapi import HTTPException
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.correction_models import CorrectionIn, DecisionIn
from api.db import Database, ParkCorrection, ParkFieldHistory, Principal, as_utc, utcnow
from features import schemas as S
from features.corrections import (
    CORRECTABLE_FIELDS,
    ApprovedCorrection,
    correctable_list,
    current_value,
    validate_value,
)

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
STATUSES: tuple[str, ...] = (PENDING, APPROVED, REJECTED)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _not_found(message: str, field: str) -> HTTPException:
    return HTTPException(404, detail={"code": "not_found", "message": message, "field": field})


def no_park(park_id: str) -> HTTPException:
    return _not_found(f"目录中没有编号为 {park_id!r} 的园区 (no park with id {park_id!r})", "park_id")


def _no_correction(correction_id: int) -> HTTPException:
    message = f"本机构没有编号为 {correction_id} 的更正 (no correction {correction_id})"
    return _not_found(message, "correction_id")


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(422, detail={"code": "validation_error", "message": message, "field": field})


def _no_nul(name: str, text: str | None) -> None:
    """PostgreSQL text cannot hold NUL, and no name, URL or note has one: refused, not a 500."""
    if text and "\x00" in text:
        raise _invalid(name, f"{name} 含有不可见的控制字符 NUL，请删除后重新提交")


def check_park(park_id: str, park_ids: frozenset[str]) -> None:
    if park_id not in park_ids:
        raise no_park(park_id)


def correction_out(row: ParkCorrection) -> dict[str, Any]:
    """A stored correction as the API shows it: the JSON value decoded, the field named in Chinese."""
    return {
        "id": row.id,
        "org": row.org,
        "park_id": row.park_id,
        "field": row.field,
        "field_zh": S.PARK_FIELD_ZH.get(row.field, row.field),
        "value": _loads(row.value),
        "source": row.source,
        "note": row.note,
        "status": row.status,
        "proposed_by": row.proposed_by,
        "proposed": row.proposed,
        "decided_by": row.decided_by,
        "decided": row.decided,
        "decision_note": row.decision_note,
        "applied_in": row.applied_in,
    }


def propose(
    session: Session, who: Principal, park_ids: frozenset[str], park_id: str, body: CorrectionIn
) -> dict[str, Any]:
    """Store a pending proposal once its field, value and source pass; the value is stored in
    the catalogue's own form, so the admin approves exactly what the retrain will set."""
    check_park(park_id, park_ids)
    if body.field not in CORRECTABLE_FIELDS:
        raise _invalid("field", f"“{body.field}”不是可更正的园区字段；可更正的字段：{correctable_list()}")
    try:
        value = validate_value(body.field, body.value)
    except ValueError as exc:
        raise _invalid("value", str(exc)) from None
    source = (body.source or "").strip()
    if not source:
        raise _invalid("source", "请填写依据：该数值所依据的网址或文件名称（source）")
    _no_nul("source", source)
    _no_nul("note", body.note)
    row = ParkCorrection(
        org=who.org,
        park_id=park_id,
        field=body.field,
        value=_dumps(value),
        source=source,
        note=(body.note or "").strip() or None,
        status=PENDING,
        proposed_by=who.key_id,
        proposed=utcnow(),
    )
    session.add(row)
    session.commit()
    return correction_out(row)


def list_corrections(
    session: Session,
    who: Principal,
    status: str | None,
    park_id: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The caller's organisation's corrections, newest first."""
    where = [ParkCorrection.org == who.org]
    if status is not None:
        where.append(ParkCorrection.status == status)
    if park_id is not None:
        _no_nul("park_id", park_id)
        where.append(ParkCorrection.park_id == park_id)
    total = int(session.scalar(select(func.count()).select_from(ParkCorrection).where(*where)) or 0)
    rows = session.scalars(
        select(ParkCorrection).where(*where).order_by(ParkCorrection.id.desc()).limit(limit).offset(offset)
    )
    return {"items": [correction_out(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def park_history(session: Session, who: Principal, park_id: str, limit: int, offset: int) -> dict[str, Any]:
    """The caller's organisation's changes to a park's fields, newest first, each with the
    source it rests on and the model version that first served it (``None`` before the retrain)."""
    where = [ParkFieldHistory.org == who.org, ParkFieldHistory.park_id == park_id]
    total = int(session.scalar(select(func.count()).select_from(ParkFieldHistory).where(*where)) or 0)
    rows = session.execute(
        select(ParkFieldHistory, ParkCorrection.source, ParkCorrection.applied_in)
        .join(ParkCorrection, ParkCorrection.id == ParkFieldHistory.correction_id)
        .where(*where)
        .order_by(ParkFieldHistory.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        {
            "id": h.id,
            "park_id": h.park_id,
            "field": h.field,
            "field_zh": S.PARK_FIELD_ZH.get(h.field, h.field),
            "old_value": _loads(h.old_value),
            "new_value": _loads(h.new_value),
            "old_provenance": h.old_provenance,
            "new_provenance": h.new_provenance,
            "correction_id": h.correction_id,
            "source": source,
            "org": h.org,
            "approved_by": h.approved_by,
            "changed": h.changed,
            "applied_in": applied_in,
        }
        for h, source, applied_in in rows
    ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def decide(
    session: Session, who: Principal, catalogue: pd.DataFrame, correction_id: int, body: DecisionIn
) -> dict[str, Any]:
    """Approve or reject a pending correction of the caller's organisation.

    A proposal is approved by a second person: its proposer may withdraw it (reject) but not
    approve it, so no single key can change what every organisation is served.  The status
    moves with one conditional UPDATE (``status = 'pending'``), so of two admins deciding at
    once exactly one succeeds and the other gets the 409 a second decision gets.
    Approving writes the field's history in the same transaction: the value and provenance the
    served ``catalogue`` has now, and the approved value with provenance ``provided``.
    """
    _no_nul("note", body.note)
    row = session.get(ParkCorrection, correction_id)
    if row is None or row.org != who.org:
        raise _no_correction(correction_id)
    status = APPROVED if body.decision == "approve" else REJECTED
    if status == APPROVED and row.proposed_by == who.key_id:
        raise HTTPException(
            403,
            detail={
                "code": "forbidden",
                "message": f"更正 {correction_id} 由您本人提交，须由本机构另一位管理员批准 "
                "(a correction is approved by someone other than its proposer)",
                "field": "correction_id",
            },
        )
    now = utcnow()
    done = session.execute(
        update(ParkCorrection)
        .where(
            ParkCorrection.id == correction_id,
            ParkCorrection.org == who.org,
            ParkCorrection.status == PENDING,
        )
        .values(
            status=status,
            decided_by=who.key_id,
            decided=now,
            decision_note=(body.note or "").strip() or None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        session.rollback()
        session.refresh(row)
        word = "批准" if row.status == APPROVED else "驳回"
        raise HTTPException(
            409,
            detail={
                "code": "conflict",
                "message": f"更正 {correction_id} 已被{word}，不能再次审核 (already {row.status})",
                "field": "correction_id",
            },
        )
    if status == APPROVED:
        old, old_provenance = current_value(catalogue, row.park_id, row.field)
        session.add(
            ParkFieldHistory(
                park_id=row.park_id,
                field=row.field,
                old_value=None if old is None else _dumps(old),
                new_value=row.value,
                old_provenance=old_provenance,
                new_provenance=S.PROVIDED,
                correction_id=row.id,
                org=row.org,
                approved_by=who.key_id,
                changed=now,
            )
        )
    session.commit()
    session.refresh(row)
    return correction_out(row)


# --- the retrain's side ---------------------------------------------------------------------


def approved_corrections(source: Session | Database) -> list[ApprovedCorrection]:
    """Every approved correction of every organisation, oldest decision first: the retrain lays
    them all over the one shared catalogue (the latest decision per park and field wins)."""
    if isinstance(source, Database):
        with source.session() as session:
            return approved_corrections(session)
    rows = source.scalars(
        select(ParkCorrection)
        .where(ParkCorrection.status == APPROVED)
        .order_by(ParkCorrection.decided, ParkCorrection.id)
    )
    return [
        ApprovedCorrection(
            id=r.id,
            park_id=r.park_id,
            field=r.field,
            value=_loads(r.value),
            source=r.source,
            org=r.org,
            approved_by=r.decided_by or "",
            decided=as_utc(r.decided or r.proposed),
        )
        for r in rows
    ]


def mark_applied(source: Session | Database, ids: Iterable[int], model_version: str) -> int:
    """Record ``model_version`` as the first to serve these corrections (those already marked
    keep their first version); the number of corrections marked."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return 0
    if isinstance(source, Database):
        with source.session() as session:
            return mark_applied(session, wanted, model_version)
    done = source.execute(
        update(ParkCorrection)
        .where(ParkCorrection.id.in_(wanted), ParkCorrection.applied_in.is_(None))
        .values(applied_in=model_version)
        .execution_options(synchronize_session=False)
    )
    source.commit()
    return int(getattr(done, "rowcount", 0) or 0)
