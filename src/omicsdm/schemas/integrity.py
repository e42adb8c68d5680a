"""Integrity operations: fixity queue and summary, reconciliation reports."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class VerifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"dataset_id": "0b9f6c1e-6a43-4d39-9d0e-2f4d1c9b7a10"}]}
    )
    file_id: uuid.UUID | None = Field(None, description="Queue every version of this file")
    dataset_id: uuid.UUID | None = Field(
        None, description="Queue every version of every file in this dataset (neither: the whole store)"
    )


class VerifyQueued(BaseModel):
    queued: int = Field(description="Versions queued; `omicsdm verify` workers check them first")


class FixitySummary(BaseModel):
    unchecked: int
    verified: int
    recorded: int
    corrupt: int
    queued: int


class Finding(BaseModel):
    kind: str = Field(
        description="missing-object, size-drift, etag-drift, untracked-object, stale-multipart, stuck-upload"
    )
    object_key: str | None = None
    version_id: uuid.UUID | None = None
    upload_id: uuid.UUID | None = None
    detail: str


class ReconcileReport(BaseModel):
    started_at: datetime
    versions_seen: int
    objects_seen: int
    findings: list[Finding]
    counts: dict[str, int]
