"""GET /v1/admin/audit: what was served to the caller's organisation (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api import audit
from api.audit import KINDS, AuditDep, AuditFilter, AuditPage
from api.deps import Admin, DbDep
from api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/admin", tags=["audit"], responses=ERROR_RESPONSES)

Text = Annotated[str | None, Query(min_length=1, max_length=200)]
Time = Annotated[datetime | None, Query(description="ISO 8601; a time without a zone is UTC")]


@router.get(
    "/audit", response_model=AuditPage, summary="The audit log of served results, newest first (admin)"
)
async def list_audit(
    db: DbDep,
    writer: AuditDep,
    who: Admin,
    kind: Annotated[str | None, Query(description=", ".join(KINDS))] = None,
    key_id: Text = None,
    park_id: Text = None,
    firm_ref: Text = None,
    since: Time = None,
    until: Time = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    flt = AuditFilter(kind, key_id, park_id, firm_ref, since, until)
    page = await run_in_threadpool(audit.query, db, who.org, flt, limit, offset)
    return {**page, "writer": writer.status()}
