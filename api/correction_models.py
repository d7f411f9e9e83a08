"""Request and response bodies of the park-correction routes (:mod:`api.routes.corrections`).

The proposal's ``field``, ``value`` and ``source`` are loosely typed on purpose: they are checked
by :func:`features.corrections.validate_value` and :mod:`api.corrections`, which answer an
officer in Chinese naming the field, rather than with a generic schema message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CorrectionStatus = Literal["pending", "approved", "rejected"]
Decision = Literal["approve", "reject"]


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns stored times without their zone; every stored time is UTC."""
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        max_length=64,
        description=(
            "land_price_cny_per_mu, available_land_mu, subsidy_<tax|land|rent|talent|equipment|rnd>, "
            "restricted_industries or designated_functions"
        ),
    )
    value: Any = Field(
        default=None,
        description=(
            "yuan per mu (> 0); mu (>= 0); a subsidy level 0-3; a list of GB/T 4754-2017 codes; "
            "a list of functions"
        ),
    )
    source: str | None = Field(
        default=None, max_length=2000, description="the URL or the document's name the value rests on"
    )
    note: str | None = Field(default=None, max_length=2000)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    note: str | None = Field(default=None, max_length=2000)


class CorrectionOut(BaseModel):
    id: int
    org: str
    park_id: str
    field: str
    field_zh: str
    value: Any
    source: str
    note: str | None
    status: CorrectionStatus
    proposed_by: str = Field(description="id of the API key that proposed it")
    proposed: datetime
    decided_by: str | None = Field(description="id of the admin key that approved or rejected it")
    decided: datetime | None
    decision_note: str | None
    applied_in: str | None = Field(description="the model version that first served the approved value")

    @field_validator("proposed", "decided")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)


class CorrectionList(BaseModel):
    items: list[CorrectionOut]
    total: int
    limit: int
    offset: int


class HistoryOut(BaseModel):
    id: int
    park_id: str
    field: str
    field_zh: str
    old_value: Any = Field(description="the value served when the correction was approved (null: unknown)")
    new_value: Any
    old_provenance: str | None
    new_provenance: str
    correction_id: int
    source: str
    org: str
    approved_by: str
    changed: datetime
    applied_in: str | None = Field(description="the model version that first served the new value")

    @field_validator("changed")
    @classmethod
    def _utc(cls, value: datetime) -> datetime | None:
        return _as_utc(value)


class HistoryList(BaseModel):
    items: list[HistoryOut]
    total: int
    limit: int
    offset: int
