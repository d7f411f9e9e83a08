"""GET /v1/feedback/conversion: how far the organisation's firms got with each park.

Officers record every step of a firm–park pair as feedback (shortlisted, visited, signed or
landed, rejected).  The funnel counts each firm once per park at the furthest stage it reached,
so recording 已考察 after 已列入候选 moves the firm down the funnel instead of counting it twice;
the rejection reasons say why pairs ended, which is what a park needs to hear back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.db import Feedback, Principal
from api.deps import AnyKey, SessionDep
from api.errors import ERROR_RESPONSES
from features import schemas as S

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], responses=ERROR_RESPONSES)

# The stage an outcome stands for is its training grade (shortlisted 1, visited 2, signed or
# landed 3); a firm's stage at a park is the highest it reached.
STAGE = S.OUTCOME_GRADE
REASONS = S.REJECT_REASONS


class FunnelRow(BaseModel):
    shortlisted: int = Field(description="firms that reached at least 已列入候选")
    visited: int = Field(description="firms that reached at least 已考察")
    signed: int = Field(description="firms that signed or landed")
    rejected: int = Field(description="firms with a 已放弃 record")
    visit_rate: float | None = Field(description="visited / shortlisted; null when none were shortlisted")
    sign_rate: float | None = Field(description="signed / visited; null when none visited")


class ParkFunnel(FunnelRow):
    park_id: str


class ReasonCount(BaseModel):
    category: Literal["land", "price", "distance", "talent", "policy", "other", "unspecified"] = Field(
        description="unspecified: rejections recorded before a reason was asked for"
    )
    count: int


class Conversion(BaseModel):
    since: datetime | None
    parks: list[ParkFunnel] = Field(description="sorted by signed, then visited, then shortlisted")
    overall: FunnelRow = Field(description="the parks' rows added up: firm–park pairs, not firms")
    reasons: list[ReasonCount] = Field(description="rejections by reason, every category listed")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _row(shortlisted: int, visited: int, signed: int, rejected: int) -> dict[str, Any]:
    return {
        "shortlisted": shortlisted,
        "visited": visited,
        "signed": signed,
        "rejected": rejected,
        "visit_rate": _rate(visited, shortlisted),
        "sign_rate": _rate(signed, visited),
    }


def _as_utc(since: datetime | None) -> datetime | None:
    """Stored times are UTC; a time before year 1 in UTC means "from the start"."""
    if since is None:
        return None
    try:
        return (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return None


def conversion(session: Session, who: Principal, since: datetime | None = None) -> dict[str, Any]:
    """The funnel of ``who``'s organisation, in two grouped queries.

    A firm is its profile's hash when the officer recorded the profile, else its own id, else its
    name (each prefixed, so a name never collides with an id).  Grouping happens over a subquery's
    columns rather than the expressions themselves, which PostgreSQL would not match up once
    their literals are bound as separate parameters.
    """
    where = [Feedback.org == who.org]
    start = _as_utc(since)
    if start is not None:
        where.append(Feedback.created >= start)
    firm = sa.case(
        (Feedback.profile_hash.is_not(None), sa.literal("h:") + Feedback.profile_hash),
        (Feedback.firm_id.is_not(None), sa.literal("i:") + Feedback.firm_id),
        else_=sa.literal("n:") + Feedback.firm_name,
    )
    stage = sa.case(
        *((Feedback.outcome == outcome, level) for outcome, level in STAGE.items() if level), else_=0
    )
    records = (
        sa.select(
            Feedback.park_id.label("park_id"),
            firm.label("firm"),
            stage.label("stage"),
            sa.case((Feedback.outcome == "rejected", 1), else_=0).label("rejected"),
        )
        .where(*where)
        .subquery()
    )
    pairs = (
        sa.select(
            records.c.park_id,
            sa.func.max(records.c.stage).label("furthest"),
            sa.func.max(records.c.rejected).label("rejected"),
        )
        .group_by(records.c.park_id, records.c.firm)
        .subquery()
    )

    def reached(level: int) -> Any:
        return sa.func.sum(sa.case((pairs.c.furthest >= level, 1), else_=0))

    per_park = sa.select(
        pairs.c.park_id, reached(1), reached(2), reached(3), sa.func.sum(pairs.c.rejected)
    ).group_by(pairs.c.park_id)
    parks = [
        {"park_id": park_id, **_row(*(int(n or 0) for n in counts))}
        for park_id, *counts in session.execute(per_park)
    ]
    parks.sort(key=lambda p: (-p["signed"], -p["visited"], -p["shortlisted"], p["park_id"]))
    totals = [sum(p[k] for p in parks) for k in ("shortlisted", "visited", "signed", "rejected")]

    by_reason = dict(
        session.execute(
            sa.select(Feedback.reason_category, sa.func.count())
            .where(*where, Feedback.outcome == "rejected")
            .group_by(Feedback.reason_category)
        ).all()
    )
    reasons = [{"category": c, "count": int(by_reason.get(c, 0))} for c in REASONS]
    unspecified = sum(int(n) for c, n in by_reason.items() if c not in REASONS)
    if unspecified:
        reasons.append({"category": "unspecified", "count": unspecified})
    return {"since": start, "parks": parks, "overall": _row(*totals), "reasons": reasons}


@router.get(
    "/conversion",
    response_model=Conversion,
    summary="Conversion by park: shortlisted → visited → signed, and why pairs were rejected",
)
def feedback_conversion(
    session: SessionDep,
    who: AnyKey,
    since: Annotated[
        datetime | None, Query(description="only feedback recorded at or after this time")
    ] = None,
) -> Any:
    return conversion(session, who, since)
