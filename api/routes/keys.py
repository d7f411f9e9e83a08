"""POST/GET /v1/admin/keys and DELETE /v1/admin/keys/{key_id}: an admin manages its organisation's keys.

Keys of other organisations are managed with ``parkmatch keys`` on the server, so one tenant's
admin can never mint a key that reads another tenant's feedback.  A revocation is a database
write and every worker authenticates each request against the database, so it holds on every
worker from the next request on.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from api.db import Database
from api.deps import Admin, DbDep
from api.errors import ERROR_RESPONSES
from api.models import ErrorResponse, KeyCreate, KeyCreated, KeyInfo, KeyList

router = APIRouter(prefix="/v1/admin/keys", tags=["admin"], responses=ERROR_RESPONSES)


@router.post(
    "", response_model=KeyCreated, status_code=201, summary="Create a key in the caller's organisation"
)
async def create_key(body: KeyCreate, db: DbDep, who: Admin) -> Any:
    row, key = await run_in_threadpool(db.create_key, who.org, body.role, body.label)
    return {**KeyInfo.model_validate(row).model_dump(), "key": key}


@router.get("", response_model=KeyList, summary="The caller's organisation's keys")
async def list_keys(db: DbDep, who: Admin) -> Any:
    rows = await run_in_threadpool(db.list_keys)
    return {"items": [r for r in rows if r.org == who.org]}


@router.delete(
    "/{key_id}",
    response_model=KeyInfo,
    responses={404: {"model": ErrorResponse}},
    summary="Revoke a key; refused by every worker from the next request",
)
async def revoke_key(key_id: str, db: DbDep, who: Admin) -> Any:
    return await run_in_threadpool(_revoke_own, db, key_id, who.org)


def _revoke_own(db: Database, key_id: str, org: str) -> Any:
    row = db.get_key(key_id)
    if row is None or row.org != org:
        raise HTTPException(
            404, detail={"code": "not_found", "message": f"no key with id {key_id!r}", "field": "key_id"}
        )
    return db.revoke_key(key_id)
