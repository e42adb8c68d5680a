"""Files, versions, the overview page, downloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omicsdm.db.models import ChecksumState, Fixity
from omicsdm.schemas.common import PATTERN_MESSAGES, Flag, VersionNumber, text

ANNOTATION_KEY = r"^[A-Za-z0-9_.:-]+$"
ANNOTATION_FILTER = r"^[A-Za-z0-9_.:-]{1,64}=[^\x00]*$"  # key=value, as the overview's annotation filter
PATTERN_MESSAGES[ANNOTATION_FILTER] = (
    "must look like key=value (key: letters, digits, '_', '.', ':', '-'; no NUL (U+0000) characters)"
)
PATTERN_MESSAGES[ANNOTATION_KEY] = "annotation keys are letters, digits, '_', '.', ':', '-'"
AnnotationKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ANNOTATION_KEY)]
AnnotationValue = Annotated[str, text(1024)]


class Visibility(enum.StrEnum):
    PRIVATE = "private"  # the owner group only
    SHARED = "shared"  # shared with further groups
    PUBLIC = "public"


class VersionOut(BaseModel):
    id: uuid.UUID
    file_id: uuid.UUID
    dataset_id: uuid.UUID
    name: str
    version: int
    size: int
    etag: str
    sha256: str | None
    content_type: str
    checksum_state: ChecksumState = Field(description="What completion checked: part MD5s (verified) or size only")
    fixity: Fixity = Field(description="What the last re-read of the stored bytes found (omicsdm verify)")
    fixity_checked_at: datetime | None
    integrity: str = Field(description="The two above in words, e.g. 'SHA-256 verified 2 days ago'")
    submitted_by: str | None
    submitted_at: datetime
    restored: bool = Field(False, description="This upload brought a deleted file back")
    drs_id: str = Field(description="The version's GA4GH DRS object id (GET /ga4gh/drs/v1/objects/{drs_id})")
    drs_uri: str | None = Field(None, description="The version's DRS URI, drs://<host>/<drs_id>")


class FileOut(BaseModel):
    """One row of the overview: a file with its latest version."""

    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    dataset_id: uuid.UUID
    dataset_code: str
    name: str
    version: int
    version_id: uuid.UUID
    size: int
    content_type: str
    sha256: str | None
    etag: str
    checksum_state: ChecksumState
    fixity: Fixity
    fixity_checked_at: datetime | None
    integrity: str
    submitted_by: str | None
    submitted_at: datetime
    comment: str
    annotations: dict[str, str]
    visibility: Visibility
    deleted_at: datetime | None = None
    deleted_by: str | None = None


class FilePermissions(BaseModel):
    manage: bool
    download: bool


class FileDetail(FileOut):
    versions: list[VersionOut]
    permissions: FilePermissions


class FilePage(BaseModel):
    items: list[FileOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    total: int | None = Field(
        description="Matching files in all pages (on the first page, or with include_total); counting stops at "
        "10,000: see total_capped"
    )
    total_capped: bool = Field(
        False, description="True when more than `total` (10,000) files match: the count stopped there"
    )


class FileUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"comment": "re-run with new adapters", "annotations": {"assay": "RNA-seq"}}]},
    )
    comment: Annotated[str, text(10_000)] | None = None
    annotations: dict[AnnotationKey, AnnotationValue] | None = Field(
        None,
        max_length=100,
        json_schema_extra={"propertyNames": {"minLength": 1, "maxLength": 64, "pattern": ANNOTATION_KEY}},
    )


class Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_id: uuid.UUID
    version: VersionNumber | None = Field(None, description="A specific version; the latest when omitted")


class DownloadRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"file_id": "3f0c6a7e-1d2b-4c3d-8e9f-0a1b2c3d4e5f"},
                        {"file_id": "9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "version": 2},
                    ]
                }
            ]
        },
    )
    items: list[Selection] = Field(min_length=1, max_length=1000)
    allow_corrupt: Flag = Field(
        False, description="Admins only: hand out URLs for versions the fixity check found corrupt (to inspect them)"
    )


class DownloadLink(BaseModel):
    file_id: uuid.UUID
    version_id: uuid.UUID
    version: int
    name: str
    size: int
    sha256: str | None
    etag: str
    fixity: Fixity
    integrity: str
    url: str = Field(
        description="Presigned S3 URL, valid until expires_at even if the file is marked deleted meanwhile"
    )
    link: str = Field(
        description="The service's link: checks the file on every use (deleted: refused) and redirects to S3; "
        "for pages, manifests and sharing with yourself"
    )
    expires_at: datetime
    drs_uri: str = Field(description="The version's GA4GH DRS URI, drs://<host>/<version id>")


class DownloadLinks(BaseModel):
    items: list[DownloadLink]
    expires_in: int


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    detail: dict[str, object]
