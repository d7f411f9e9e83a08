"""POST/GET /v1/feedback: what happened after a recommendation, per organisation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api import service
from api.deps import AnyKey, ModelDep, Officer, SessionDep
from api.errors import ERROR_RESPONSES
from api.models import FeedbackIn, FeedbackList, FeedbackOut

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], responses=ERROR_RESPONSES)


@router.post("", response_model=FeedbackOut, status_code=201, summary="Record an outcome (officer or admin)")
def add_feedback(body: FeedbackIn, model: ModelDep, session: SessionDep, who: Officer) -> Any:
    if body.park_id not in model.park_ids:
        raise HTTPException(
            422,
            detail={
                "code": "unknown_park",
                "message": f"no park with id {body.park_id!r}",
                "field": "park_id",
            },
        )
    return service.add_feedback(session, who, body)


@router.get("", response_model=FeedbackList, summary="Feedback recorded by the caller's organisation")
def list_feedback(
    session: SessionDep,
    who: AnyKey,
    park_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Any:
    return service.list_feedback(session, who, park_id, limit, offset)
