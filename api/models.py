"""Request and response bodies of the HTTP API that are not already in :mod:`features.schemas`.

Every request model forbids unknown fields, like :class:`features.schemas.FirmProfile`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.schemas import FirmProfile, LeadRow, ParkProfile, RecommendationResult

Outcome = Literal["shortlisted", "visited", "signed", "landed", "rejected"]
RejectReason = Literal["land", "price", "distance", "talent", "policy", "other"]
IndustryLevel = Literal["门类", "大类", "中类", "小类"]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable error code, e.g. validation_error, unauthorized")
    message: str
    field: str | None = Field(
        default=None, description="dotted location of the offending input, when there is one"
    )


class ErrorResponse(BaseModel):
    """The one error shape of the API."""

    error: ErrorDetail


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    firms: list[dict[str, Any]] = Field(
        description=(
            "FirmProfile objects; each one is validated on its own so one bad firm never fails the call"
        )
    )


class BatchRecommendation(RecommendationResult):
    index: int = Field(description="position of the firm in the request's `firms` list")


class BatchError(BaseModel):
    index: int = Field(description="position of the firm in the request's `firms` list")
    field: str
    message: str


class BatchResponse(BaseModel):
    results: list[BatchRecommendation]
    errors: list[BatchError]


class ParkList(BaseModel):
    items: list[ParkProfile]
    total: int
    limit: int
    offset: int


class Industry(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None = None


class IndustryList(BaseModel):
    items: list[Industry]
    total: int


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    firm_id: str | None = Field(default=None, max_length=100)
    firm_name: str = Field(min_length=1, max_length=200)
    park_id: str = Field(min_length=1, max_length=100, description="a park of the served catalogue")
    outcome: Outcome
    note: str | None = Field(default=None, max_length=2000)
    reason_category: RejectReason | None = Field(
        default=None, description="why the pair was rejected; required with outcome 'rejected'"
    )
    firm: FirmProfile | None = Field(
        default=None,
        description="the firm as it was matched (the body sent to /v1/recommendations); an outcome "
        "with a profile becomes a training label at the next `parkmatch retrain`",
    )

    @model_validator(mode="after")
    def _rejection_has_a_reason(self) -> FeedbackIn:
        if self.outcome == "rejected" and self.reason_category is None:
            raise ValueError("放弃须注明原因 reason_category（land/price/distance/talent/policy/other）")
        if self.outcome != "rejected" and self.reason_category is not None:
            raise ValueError("只有放弃（rejected）才填写 reason_category")
        return self


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    org: str
    firm_id: str | None
    firm_name: str
    park_id: str
    outcome: Outcome
    note: str | None
    reason_category: RejectReason | None = None
    has_profile: bool = Field(description="the firm's profile was recorded, so retraining can learn from it")
    created_by: str = Field(description="id of the API key that recorded it")
    created: datetime

    @field_validator("created")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class FeedbackList(BaseModel):
    items: list[FeedbackOut]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: Literal["ok"]
    model_loaded: bool
    model_version: str
    catalogue_size: int
    pid: int = Field(description="the worker process that answered; each worker reports its own model")
    last_reload_error: str | None = Field(
        default=None, description="why the last refused reload on this worker was refused"
    )
    requests_served: int = Field(default=0, description="HTTP requests this worker has answered")


class Ready(BaseModel):
    ready: bool
    model_version: str
    pid: int


class VersionInfo(BaseModel):
    parkmatch: str
    model_version: str
    model_created: str | None = None
    libraries: dict[str, str] = Field(
        description="library versions the model was built with (from its manifest)"
    )


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        max_length=4096,
        description="bundle directory; the configured model directory if omitted",
    )


class ReloadResponse(BaseModel):
    model_version: str
    previous_version: str
    path: str
    catalogue_size: int


KeyRole = Literal["viewer", "officer", "admin"]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: KeyRole
    label: str = Field(default="", max_length=200)


class KeyInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org: str
    role: str
    label: str
    created: datetime
    revoked: datetime | None = None

    @field_validator("created", "revoked")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """SQLite returns naive times; every stored time is UTC."""
        return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


class KeyCreated(KeyInfo):
    key: str = Field(description="the key itself; shown in this response only, never stored in clear")


class KeyList(BaseModel):
    items: list[KeyInfo]


class ParkBriefRequest(BaseModel):
    """The leads a park brief lists and the what-if lines it closes with."""

    model_config = ConfigDict(extra="forbid")

    leads: list[LeadRow] = Field(default_factory=list, max_length=500)
    what_if: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=50)


# --- the park's side (see matcher.leads, matcher.whynot) --------------------------------------


class LeadsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    firms: list[dict[str, Any]] = Field(
        description="FirmProfile objects; each is validated on its own, a bad one is reported in `errors`"
    )
    top: int = Field(default=50, ge=1, le=1000, description="how many leads to return")


class PressurePart(BaseModel):
    value: float | None = Field(description="0-1; null when unknown (not counted in the pressure)")
    text: str = Field(description="where the value comes from, in Chinese")


class Lead(BaseModel):
    row: int = Field(
        description="1-based position of the firm in the request's `firms` (or the file's data row)"
    )
    firm_id: str | None
    firm_name: str
    lead_score: float = Field(
        description="pressure weight × odds of this park against the firm's first choice"
    )
    park_score: float = Field(description="the ranker's score of this park for the firm")
    park_rank: int | None = Field(description="this park's rank among the firm's own options")
    n_options: int = Field(description="parks that pass the firm's hard rules")
    pressure: float = Field(description="relocation pressure (容不下), 0-1")
    pressure_parts: dict[str, PressurePart]
    first_choice_park_id: str | None
    first_choice_park_name: str | None
    reasons: list[str] = Field(description="fit, competition and pressure, in Chinese")


class RowErrorOut(BaseModel):
    row: int
    field: str
    message: str


class LeadsResponse(BaseModel):
    park_id: str
    park_name: str
    model_version: str
    leads: list[Lead]
    errors: list[RowErrorOut]


class ParkBrief(BaseModel):
    park_id: str
    park_name: str
    score: float


class WhatIf(BaseModel):
    field: str = Field(description="the catalogue field changed (several joined by + when combined)")
    from_: float | None = Field(alias="from", description="the park's current value; null if unknown")
    to: float | None
    new_rank: int = Field(description="the rank after re-scoring a copy of the catalogue with the change")
    text: str
    changes: dict[str, float] = Field(description="every catalogue value the change sets, by field")

    model_config = ConfigDict(populate_by_name=True)


class WhyResponse(BaseModel):
    park_id: str
    park_name: str
    rank: int | None = Field(description="null when a hard rule removes the park")
    n_candidates: int
    score: float | None
    excluded_by: list[str]
    top1: ParkBrief | None
    gap_to_top1: dict[str, float | None] = Field(description="per criterion: #1's score minus this park's")
    gap_to_top3: dict[str, float | None] = Field(description="per criterion: #3's score minus this park's")
    gap_reasons: dict[str, float] = Field(
        default_factory=dict, description="per reason group: #1's contribution minus this park's"
    )
    reasons: list[str]
    needs_to_change: list[str] = Field(description="what about the firm would have to differ")
    what_if: list[WhatIf] = Field(description="the smallest changes of the park's offer that reach the top 3")
    summary: str


class ComparedPark(BaseModel):
    park_id: str
    park_name: str
    rank: int | None
    score: float | None
    criteria: dict[str, float | None]
    reasons: list[str]
    excluded_by: list[str]
    provenance: dict[str, str] = Field(description="official / sourced / estimated / unknown per field")


class CompareResponse(BaseModel):
    parks: list[ComparedPark]
    criteria_zh: dict[str, str]
