"""Request and response bodies of the HTTP API that are not already in :mod:`features.schemas`.

Every request model forbids unknown fields, like :class:`features.schemas.FirmProfile`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.schemas import ParkProfile, RecommendationResult

Outcome = Literal["shortlisted", "visited", "signed", "landed", "rejected"]
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


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    org: str
    firm_id: str | None
    firm_name: str
    park_id: str
    outcome: Outcome
    note: str | None
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
