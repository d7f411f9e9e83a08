"""The park's side: leads for a park, why a park is not first, parks side by side.

Registered before ``/v1/parks/{park_id}`` so that ``/v1/parks/compare`` is not read as a park id.
Why and compare take the firm in the body; they answer GET (as the HTTP contract is written)
and POST (browsers cannot send a body with GET) with the same handler.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api import audit, service
from api.audit import AuditDep
from api.batchwork import BatchWorkDep
from api.deps import AnyKey, ConfigDep, InferenceDep, ModelDep
from api.errors import ERROR_RESPONSES
from api.models import CompareResponse, ErrorResponse, LeadsRequest, LeadsResponse, WhyResponse
from features.schemas import FirmProfile

router = APIRouter(prefix="/v1", tags=["park side"], responses=ERROR_RESPONSES)

ParkId = Annotated[str, Query(min_length=1, max_length=100, description="the park asked about")]
Ids = Annotated[str, Query(min_length=1, max_length=1000, description="park ids, comma-separated")]


@router.post(
    "/parks/{park_id}/leads",
    response_model=LeadsResponse,
    summary="Which firms this park should approach",
    responses={503: {"model": ErrorResponse, "description": "too many batch calls at once; retry later"}},
)
async def leads(
    park_id: str,
    body: LeadsRequest,
    model: ModelDep,
    config: ConfigDep,
    batches: BatchWorkDep,
    log: AuditDep,
    who: AnyKey,
) -> Any:
    service.check_batch_size(len(body.firms), config.max_batch)
    # a firm list is batch work: it runs on the batch pool, so single recommendations keep their latency
    data, found, counts = await batches.run_model(
        model, audit.park_leads_served, park_id, body.firms, body.top, log.enabled
    )
    log.leads(who, park_id, model.matcher.model_version, found, counts)
    return Response(data, media_type="application/json")


@router.get(
    "/recommendations/why", response_model=WhyResponse, summary="Why not this park", operation_id="why_get"
)
@router.post(
    "/recommendations/why", response_model=WhyResponse, summary="Why not this park", operation_id="why_post"
)
async def why(
    firm: FirmProfile, park_id: ParkId, model: ModelDep, inference: InferenceDep, log: AuditDep, who: AnyKey
) -> Any:
    answer = await inference.run(service.why_park, model.matcher, firm, park_id)
    log.why(who, firm, park_id, model.matcher.model_version, answer)
    return answer


@router.get(
    "/parks/compare",
    response_model=CompareResponse,
    summary="Parks side by side for a firm",
    operation_id="compare_get",
)
@router.post(
    "/parks/compare",
    response_model=CompareResponse,
    summary="Parks side by side for a firm",
    operation_id="compare_post",
)
async def compare(
    firm: FirmProfile, ids: Ids, model: ModelDep, inference: InferenceDep, log: AuditDep, who: AnyKey
) -> Any:
    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    answer = await inference.run(service.compare_parks, model.matcher, firm, wanted)
    log.compare(who, firm, model.matcher.model_version, answer)
    return answer
