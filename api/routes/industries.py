"""GET /v1/industries: GB/T 4754-2017 lookup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import service
from api.deps import AnyKey
from api.errors import ERROR_RESPONSES
from api.models import IndustryLevel, IndustryList

router = APIRouter(prefix="/v1", tags=["reference"], responses=ERROR_RESPONSES)


@router.get(
    "/industries",
    response_model=IndustryList,
    summary="Search GB/T 4754-2017 industries by name or code prefix",
)
async def industries(
    _who: AnyKey,
    q: Annotated[
        str | None, Query(max_length=100, description="substring of the name, or a code prefix")
    ] = None,
    level: Annotated[IndustryLevel | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 50,
) -> Any:
    return service.search_industries(q, level, limit)
