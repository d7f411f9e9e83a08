"""GET/POST /v1/briefs/firm and /v1/briefs/parks/{park_id}: one-page Chinese briefs as PDF."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Json

from api import audit, service
from api.audit import AuditDep, AuditLog
from api.db import Principal
from api.deps import AnyKey, Inference, InferenceDep, ModelDep, ModelState
from api.errors import ERROR_RESPONSES
from api.models import ErrorResponse, ParkBriefRequest
from features.schemas import FirmProfile

router = APIRouter(prefix="/v1/briefs", tags=["briefs"], responses=ERROR_RESPONSES)

PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "the brief, one A4 page"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**PDF, 404: {"model": ErrorResponse}}
FirmQuery = Annotated[Json[FirmProfile], Query(description="the firm as FirmProfile JSON")]


def _pdf(data: bytes, name: str) -> Response:
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


@router.get(
    "/firm", response_class=Response, responses=PDF, summary="Firm brief (firm as a JSON query value)"
)
async def firm_brief_get(
    firm: FirmQuery, model: ModelDep, inference: InferenceDep, log: AuditDep, who: AnyKey
) -> Response:
    return await _firm_pdf(firm, model, inference, log, who)


@router.post("/firm", response_class=Response, responses=PDF, summary="Firm brief (firm in the body)")
async def firm_brief_post(
    firm: FirmProfile, model: ModelDep, inference: InferenceDep, log: AuditDep, who: AnyKey
) -> Response:
    return await _firm_pdf(firm, model, inference, log, who)


async def _firm_pdf(
    firm: FirmProfile, model: ModelState, inference: Inference, log: AuditLog, who: Principal
) -> Response:
    data, top = await inference.run(audit.firm_brief_served, model.matcher, firm)
    log.brief(who, firm, model.matcher.model_version, top)
    return _pdf(data, "firm-brief.pdf")


@router.get("/parks/{park_id}", response_class=Response, responses=NOT_FOUND, summary="Park brief")
async def park_brief_get(park_id: str, model: ModelDep, inference: InferenceDep, _who: AnyKey) -> Response:
    data = await inference.run(service.park_brief_bytes, model.matcher, park_id, [], [])
    return _pdf(data, "park-brief.pdf")


@router.post(
    "/parks/{park_id}",
    response_class=Response,
    responses=NOT_FOUND,
    summary="Park brief with leads and what-if",
)
async def park_brief_post(
    park_id: str, body: ParkBriefRequest, model: ModelDep, inference: InferenceDep, _who: AnyKey
) -> Response:
    data = await inference.run(service.park_brief_bytes, model.matcher, park_id, body.leads, body.what_if)
    return _pdf(data, "park-brief.pdf")
