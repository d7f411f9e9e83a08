"""POST /v1/recommendations and /v1/recommendations/batch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api import audit, service
from api.audit import AuditDep
from api.batchwork import BatchWorkDep
from api.deps import AnyKey, ConfigDep, InferenceDep, ModelDep
from api.errors import ERROR_RESPONSES
from api.models import BatchRequest, BatchResponse, ErrorResponse
from features.schemas import FirmProfile, RecommendationResult

router = APIRouter(prefix="/v1", tags=["recommendations"], responses=ERROR_RESPONSES)

Top = Annotated[int, Query(ge=1, le=50, description="how many parks to return")]
ExplainExcluded = Annotated[
    bool, Query(description="also list the parks removed by hard constraints, and why")
]


@router.post(
    "/recommendations", response_model=RecommendationResult, summary="Rank receiving parks for one firm"
)
async def recommend(
    firm: FirmProfile,
    model: ModelDep,
    inference: InferenceDep,
    log: AuditDep,
    who: AnyKey,
    top: Top = 10,
    explain_excluded: ExplainExcluded = False,
) -> Any:
    result = await inference.run(service.recommend_one, model.matcher, firm, top, explain_excluded)
    response = service.validated_json(RecommendationResult, result)
    log.recommendation(who, firm, result)
    return response


@router.post(
    "/recommendations/batch",
    response_model=BatchResponse,
    summary="Rank parks for many firms; bad firms are reported, not fatal",
    responses={503: {"model": ErrorResponse, "description": "too many batch calls at once; retry later"}},
)
async def recommend_batch(
    body: BatchRequest,
    model: ModelDep,
    config: ConfigDep,
    batches: BatchWorkDep,
    log: AuditDep,
    who: AnyKey,
    top: Top = 10,
    explain_excluded: ExplainExcluded = False,
) -> Any:
    service.check_batch_size(len(body.firms), config.max_batch)
    data, served = await batches.run_model(
        model, audit.recommend_batch_served, body.firms, top, explain_excluded, log.enabled
    )
    log.batch(who, model.matcher.model_version, served)
    return Response(data, media_type="application/json")
