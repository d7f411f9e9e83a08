"""GET /v1/parks and /v1/parks/{park_id}: the served catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api import service
from api.deps import AnyKey, ModelDep
from api.errors import ERROR_RESPONSES
from api.models import ErrorResponse, ParkList
from features.schemas import ParkProfile

router = APIRouter(prefix="/v1/parks", tags=["parks"], responses=ERROR_RESPONSES)


@router.get("", response_model=ParkList, summary="List and filter receiving parks")
async def list_parks(
    model: ModelDep,
    _who: AnyKey,
    province: Annotated[str | None, Query(max_length=20, description="北京市, 天津市 or 河北省")] = None,
    city: Annotated[str | None, Query(max_length=50)] = None,
    industry_code: Annotated[
        str | None, Query(pattern=r"^\d{1,4}$", description="prefix of a GB/T 4754 code the park hosts")
    ] = None,
    platform_type: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    return service.filter_parks(model.parks, province, city, industry_code, platform_type, limit, offset)


@router.get(
    "/{park_id}", response_model=ParkProfile, responses={404: {"model": ErrorResponse}}, summary="One park"
)
async def get_park(park_id: str, model: ModelDep, _who: AnyKey) -> Any:
    for park in model.parks:
        if park.park_id == park_id:
            return park
    raise HTTPException(
        404, detail={"code": "not_found", "message": f"no park with id {park_id!r}", "field": "park_id"}
    )
