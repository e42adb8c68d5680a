"""Uploads: start, sign (EvaporateJS), complete, cancel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omicsdm.db.models import UploadState
from omicsdm.schemas.common import ByteCount, text
from omicsdm.services.upload_rules import MAX_NAME_BYTES, MAX_PART_SIZE, MIN_PART_SIZE, NAME_PATTERN

HexMd5 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{32}$")]


class UploadCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset_id": "0b9f6c1e-6a43-4d39-9d0e-2f4d1c9b7a10",
                    "name": "run1/sample_R1.fastq.gz",
                    "size": 1073741824,
                    "content_type": "application/gzip",
                }
            ]
        },
    )
    dataset_id: uuid.UUID
    # Characters here (4 bytes at most each); normalise_name counts the UTF-8 bytes.
    name: Annotated[str, text(4 * MAX_NAME_BYTES, min_length=1)] = Field(
        json_schema_extra={"pattern": NAME_PATTERN},
        description="Relative path kept as the file's name, e.g. run1/a.fastq.gz",
    )
    size: ByteCount = Field(description="Exact size in bytes; checked against S3 at completion")
    content_type: str = Field(
        "application/octet-stream", min_length=1, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+(;[ \w=.+-]*)?$"
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the whole file, if known")
    part_size: int | None = Field(
        None,
        ge=MIN_PART_SIZE,
        le=MAX_PART_SIZE,
        description="Wished part size; the service picks a larger one if needed",
    )
    comment: Annotated[str, text(10_000)] = ""


class UploadOut(BaseModel):
    """Everything EvaporateJS (or the CLI) needs to run the multipart upload."""

    id: uuid.UUID
    dataset_id: uuid.UUID
    name: str
    size: int
    part_size: int
    content_type: str
    sha256: str | None
    state: UploadState
    created_at: datetime
    expires_at: datetime
    object_key: str = Field(description="Server-allocated, never reused; use it as EvaporateJS's name")
    bucket: str
    s3_url: str = Field(description="S3 endpoint as the browser reaches it (EvaporateJS aws_url)")
    region: str
    access_key_id: str
    signer_url: str = Field(description="Relative URL of the signer (EvaporateJS signerUrl)")
    sign_headers: dict[str, str] = Field(
        description="Send as headers to the signer (EvaporateJS signHeaders); authenticates this upload only"
    )
    sign_params: dict[str, str] = Field(
        description="The same token as a query parameter, for clients that cannot send headers (proxies log it)"
    )
    s3_upload_id: str | None = Field(
        None, description="The S3 multipart UploadId once the first part was signed (to resume from anywhere)"
    )
    resumed: bool = Field(False, description="True when an unfinished upload of the same file was found and reused")
    stored: bool = Field(
        False, description="The file is already complete in S3 but not recorded: call complete, do not upload again"
    )


class UploadComplete(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"part_md5s": []}]})
    part_md5s: list[HexMd5] | None = Field(
        None, max_length=10_000, description="Hex MD5 of each part in order; checked against the S3 multipart ETag"
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description=(
            "Hex SHA-256 of the whole file, when it was not declared at start (a client can hash while it "
            "sends); must equal the declared one if both are given"
        ),
    )


class UploadLimits(BaseModel):
    """What an upload must satisfy, known before one is started (the web page shows it next to the picker)."""

    allowed_extensions: list[str] = Field(
        description="Allowed file name endings without the dot, e.g. fastq.gz; empty means any"
    )
    max_file_size: int = Field(description="Largest file accepted, in bytes")
    max_parts: int = Field(description="Most parts of one multipart upload; the service sizes parts to fit")
    min_part_size: int = Field(description="Smallest part size in bytes (S3)")
    max_part_size: int = Field(description="Largest part size in bytes (S3)")
    default_part_size: int = Field(description="Part size used when the file fits in max_parts of it")
