"""What the routes do, kept out of the route functions so each route is a few lines."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import HTTPException, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import Feedback, Principal, utcnow
from api.errors import dotted
from api.models import FeedbackIn
from features import schemas as S
from features.reference import load_industries
from features.registry import search_codes
from features.validation import FirmBatch, columns_from_records
from matcher.brief import park_brief
from matcher.brief_pdf import park_brief_pdf
from matcher.core import Matcher
from matcher.leads import leads_for_batch, leads_result
from matcher.whynot import compare, why


def validated_json(model: type[BaseModel], payload: dict[str, Any]) -> Response:
    """``payload`` checked once against the model the route documents and encoded by pydantic's
    Rust serialiser.  Returned from a route as a ``Response`` it skips FastAPI's own response
    handling, which validates, converts to plain Python with ``jsonable_encoder`` and encodes
    again with ``json``: about a third of a millisecond per recommendation."""
    return Response(model.model_validate(payload).model_dump_json(), media_type="application/json")


def check_batch_size(n: int, max_batch: int) -> None:
    """A list call over ``max_batch`` firms is refused before any firm is scored."""
    if n > max_batch:
        raise HTTPException(
            422,
            detail={
                "code": "validation_error",
                "message": f"at most {max_batch} firms per call",
                "field": "firms",
            },
        )


def recommend_one(matcher: Matcher, firm: S.FirmProfile, top: int, explain_excluded: bool) -> dict[str, Any]:
    """A single recommendation is a batch of one."""
    results, errors = matcher.recommend_records([firm.model_dump()], top, explain_excluded)
    if errors:
        e = errors[0]
        raise HTTPException(422, detail={"code": "validation_error", "message": e.reason, "field": e.field})
    return results[0]


def park_brief_bytes(matcher: Matcher, park_id: str, leads: list[S.LeadRow], what_if: list[str]) -> bytes:
    try:
        brief = park_brief(matcher.parks, park_id, matcher.model_version, leads, what_if)
    except KeyError:
        raise HTTPException(
            404, detail={"code": "not_found", "message": f"no park with id {park_id!r}", "field": "park_id"}
        ) from None
    return park_brief_pdf(brief)


def validate_firms(
    firms: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[int], list[dict[str, Any]]]:
    """Each firm validated on its own: (valid records, their positions, one error per bad firm)."""
    errors: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    positions: list[int] = []
    for i, raw in enumerate(firms):
        try:
            profile = S.FirmProfile.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = dotted(err.get("loc", ())) or "(profile)"
            message = (
                f"unknown field '{field}'" if err.get("type") == "extra_forbidden" else str(err.get("msg"))
            )
            errors.append({"index": i, "field": field, "message": message})
            continue
        records.append(profile.model_dump())
        positions.append(i)
    return records, positions, errors


def _no_park(park_id: str) -> HTTPException:
    return HTTPException(
        404, detail={"code": "not_found", "message": f"no park with id {park_id!r}", "field": "park_id"}
    )


def _one_firm(matcher: Matcher, firm: S.FirmProfile) -> FirmBatch:
    batch, errors = matcher.prepare(columns_from_records([firm.model_dump()]))
    if errors:
        e = errors[0]
        raise HTTPException(422, detail={"code": "validation_error", "message": e.reason, "field": e.field})
    return batch


def park_leads(matcher: Matcher, park_id: str, firms: list[dict[str, Any]], top: int) -> dict[str, Any]:
    """The list path of :mod:`matcher.leads`; ``row`` is the 1-based position in ``firms``."""
    records, positions, bad = validate_firms(firms)
    errors = [{"row": e["index"] + 1, "field": e["field"], "message": e["message"]} for e in bad]
    if park_id not in set(matcher.park_arrays.ids):
        raise _no_park(park_id)
    batch, row_errors = matcher.prepare(columns_from_records(records), [i + 1 for i in positions])
    errors += [{"row": e.row, "field": e.field, "message": e.reason} for e in row_errors]
    found = leads_for_batch(matcher, batch, park_id, top)
    return leads_result(matcher, park_id, found, sorted(errors, key=lambda e: e["row"]))


def why_park(matcher: Matcher, firm: S.FirmProfile, park_id: str) -> dict[str, Any]:
    try:
        return why(matcher, _one_firm(matcher, firm), park_id)
    except KeyError:
        raise _no_park(park_id) from None


def compare_parks(matcher: Matcher, firm: S.FirmProfile, ids: list[str]) -> dict[str, Any]:
    try:
        return compare(matcher, _one_firm(matcher, firm), ids)
    except KeyError as exc:
        raise _no_park(str(exc.args[0])) from None


def recommend_batch(
    matcher: Matcher, firms: list[dict[str, Any]], top: int, explain_excluded: bool
) -> dict[str, Any]:
    """Validate every firm on its own, then match all the valid ones in one call."""
    records, positions, errors = validate_firms(firms)
    results: list[dict[str, Any]] = []
    if records:
        matched, row_errors = matcher.recommend_records(records, top, explain_excluded)
        rejected = {e.row - 1 for e in row_errors}
        for e in row_errors:
            errors.append({"index": positions[e.row - 1], "field": e.field, "message": e.reason})
        kept = [p for j, p in enumerate(positions) if j not in rejected]
        results = [{**r, "index": p} for r, p in zip(matched, kept, strict=True)]
    errors.sort(key=lambda e: e["index"])
    return {"results": results, "errors": errors}


def filter_parks(
    parks: tuple[S.ParkProfile, ...],
    province: str | None,
    city: str | None,
    industry_code: str | None,
    platform_type: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    hits = [
        p
        for p in parks
        if (province is None or p.province == province)
        and (city is None or p.city == city)
        and (platform_type is None or p.platform_type == platform_type)
        and (industry_code is None or any(c.startswith(industry_code) for c in p.industry_codes))
    ]
    return {"items": hits[offset : offset + limit], "total": len(hits), "limit": limit, "offset": offset}


@lru_cache(maxsize=1)
def _industries() -> tuple[dict[str, Any], ...]:
    df = load_industries()
    return tuple(
        {"code": str(r.code), "name": str(r.name), "level": str(r.level), "parent": (str(r.parent) or None)}
        for r in df.itertuples()
    )


def search_industries(q: str | None, level: str | None, limit: int) -> dict[str, Any]:
    """Names, code prefixes and the synonym table (冷链 → 5930), as ``parkmatch industries --search``."""
    q = (q or "").strip()
    via = {code for code, _term in search_codes(q)}
    hits = [
        r
        for r in _industries()
        if (not q or q in r["name"] or r["code"].startswith(q) or r["code"] in via)
        and (level is None or r["level"] == level)
    ]
    return {"items": hits[:limit], "total": len(hits)}


# the canonical profile and its hash, shared with the audit log and retraining
profile_json = S.profile_json
profile_hash = S.profile_hash


def feedback_out(row: Feedback) -> dict[str, Any]:
    return {
        "id": row.id,
        "org": row.org,
        "firm_id": row.firm_id,
        "firm_name": row.firm_name,
        "park_id": row.park_id,
        "outcome": row.outcome,
        "note": row.note,
        "reason_category": row.reason_category,
        "has_profile": row.firm_profile is not None,
        "created_by": row.created_by,
        "created": row.created,
    }


def add_feedback(session: Session, who: Principal, body: FeedbackIn) -> dict[str, Any]:
    """Store one outcome; with the firm's profile it is a training example for ``parkmatch
    retrain`` (the profile's hash groups one firm's outcomes over several parks)."""
    firm = body.firm
    row = Feedback(
        org=who.org,
        firm_id=body.firm_id or (firm.firm_id if firm is not None else None),
        firm_name=body.firm_name,
        park_id=body.park_id,
        outcome=body.outcome,
        note=body.note,
        reason_category=body.reason_category,
        firm_profile=profile_json(firm) if firm is not None else None,
        profile_hash=profile_hash(firm) if firm is not None else None,
        created_by=who.key_id,
        created=utcnow(),
    )
    session.add(row)
    session.commit()
    return feedback_out(row)


def list_feedback(
    session: Session, who: Principal, park_id: str | None, limit: int, offset: int
) -> dict[str, Any]:
    where = [Feedback.org == who.org]
    if park_id is not None:
        where.append(Feedback.park_id == park_id)
    total = int(session.scalar(select(func.count()).select_from(Feedback).where(*where)) or 0)
    rows = session.scalars(
        select(Feedback).where(*where).order_by(Feedback.id.desc()).limit(limit).offset(offset)
    )
    return {"items": [feedback_out(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@lru_cache(maxsize=1)
def parkmatch_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("parkmatch")
    except metadata.PackageNotFoundError:
        return "unknown"
