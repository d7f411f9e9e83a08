"""Park corrections: officers propose values with their source, admins of the same organisation
decide, and each park's field history; see :mod:`api.corrections`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api import corrections
from api.correction_models import (
    CorrectionIn,
    CorrectionList,
    CorrectionOut,
    CorrectionStatus,
    DecisionIn,
    HistoryList,
)
from api.deps import Admin, AnyKey, ModelDep, Officer, SessionDep
from api.errors import ERROR_RESPONSES
from api.models import ErrorResponse

router = APIRouter(tags=["corrections"], responses=ERROR_RESPONSES)

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "no such park"}}
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
CorrectionId = Annotated[int, Path(ge=1, le=2_147_483_647, description="the correction's id")]
ParkId = Annotated[str, Path(max_length=100)]


@router.post(
    "/v1/parks/{park_id}/corrections",
    response_model=CorrectionOut,
    status_code=201,
    responses=NOT_FOUND,
    summary="Propose a value for one of a park's fields, with its source (officer or admin)",
)
def propose(park_id: ParkId, body: CorrectionIn, model: ModelDep, session: SessionDep, who: Officer) -> Any:
    return corrections.propose(session, who, model.park_ids, park_id, body)


@router.get(
    "/v1/parks/{park_id}/corrections",
    response_model=CorrectionList,
    responses=NOT_FOUND,
    summary="The caller's organisation's corrections of a park",
)
def park_corrections(
    park_id: ParkId, model: ModelDep, session: SessionDep, who: AnyKey, limit: Limit = 100, offset: Offset = 0
) -> Any:
    corrections.check_park(park_id, model.park_ids)
    return corrections.list_corrections(session, who, None, park_id, limit, offset)


@router.get(
    "/v1/parks/{park_id}/history",
    response_model=HistoryList,
    responses=NOT_FOUND,
    summary="The caller's organisation's approved changes to a park's fields",
)
def park_history(
    park_id: ParkId, model: ModelDep, session: SessionDep, who: AnyKey, limit: Limit = 100, offset: Offset = 0
) -> Any:
    corrections.check_park(park_id, model.park_ids)
    return corrections.park_history(session, who, park_id, limit, offset)


@router.get(
    "/v1/admin/corrections",
    response_model=CorrectionList,
    summary="The organisation's corrections, by status and park (admin)",
)
def admin_corrections(
    session: SessionDep,
    who: Admin,
    status: CorrectionStatus | None = None,
    park_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    return corrections.list_corrections(session, who, status, park_id, limit, offset)


@router.post(
    "/v1/admin/corrections/{correction_id}",
    response_model=CorrectionOut,
    responses={
        404: {"model": ErrorResponse, "description": "no such correction in the caller's organisation"},
        409: {"model": ErrorResponse, "description": "the correction was already approved or rejected"},
    },
    summary="Approve or reject a pending correction (admin of the same organisation)",
)
def decide(
    correction_id: CorrectionId, body: DecisionIn, model: ModelDep, session: SessionDep, who: Admin
) -> Any:
    return corrections.decide(session, who, model.matcher.parks, correction_id, body)
