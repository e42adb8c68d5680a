"""What the client reads from the API. Unknown fields are ignored, so a newer service does not break it.

Each model names the schema of the committed openapi.json it reads (`spec`); tests/test_client_package.py
checks every field against that schema, so the client and the spec cannot drift apart."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")
    spec: ClassVar[str]  # the schema in openapi.json's components this model reads


class Me(Model):
    spec = "Me"

    id: uuid.UUID
    username: str
    groups: list[str]
    is_admin: bool


class ApiTokenCreated(Model):
    spec = "ApiTokenCreated"

    id: uuid.UUID
    name: str
    token: str
    expires_at: datetime | None


class Project(Model):
    spec = "ProjectOut"

    id: uuid.UUID
    code: str
    name: str
    description: str = ""
    owner_groups: list[str] = Field(default_factory=list)
    created_at: datetime


class DatasetPermissions(Model):
    spec = "DatasetPermissions"

    upload: bool
    manage: bool
    download: bool


class Dataset(Model):
    spec = "DatasetOut"

    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    code: str
    name: str
    description: str = ""
    owner_group: str
    shared_with: list[str] = Field(default_factory=list)
    public: bool
    created_at: datetime
    permissions: DatasetPermissions | None = None


class Upload(Model):
    """The service's multipart set-up of one upload (UploadOut)."""

    spec = "UploadOut"
    id: uuid.UUID
    dataset_id: uuid.UUID
    name: str
    size: int
    part_size: int
    content_type: str
    sha256: str | None
    state: str
    object_key: str
    bucket: str
    s3_url: str
    region: str
    access_key_id: str
    signer_url: str
    sign_params: dict[str, str]
    sign_headers: dict[str, str] = {}
    stored: bool = False  # complete in S3 but not recorded: complete it, do not upload again
    resumed: bool = False
    # Not (yet) sent by every service version; when present a resume needs no local state.
    s3_upload_id: str | None = None

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))


class Version(Model):
    spec = "VersionOut"

    id: uuid.UUID
    file_id: uuid.UUID
    dataset_id: uuid.UUID
    name: str
    version: int
    size: int
    etag: str
    sha256: str | None
    content_type: str = "application/octet-stream"
    checksum_state: str
    fixity: str = "unchecked"
    integrity: str = ""  # the service's words, e.g. "SHA-256 verified 2 days ago"
    submitted_by: str | None
    submitted_at: datetime
    restored: bool = False
    drs_uri: str | None = None  # GA4GH DRS URI of this version (servers before DRS: None)


class FileRow(Model):
    """A file with its latest version (one row of the overview)."""

    spec = "FileOut"
    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    dataset_id: uuid.UUID
    dataset_code: str
    name: str
    version: int
    version_id: uuid.UUID
    size: int
    content_type: str = "application/octet-stream"
    sha256: str | None
    etag: str
    checksum_state: str
    submitted_by: str | None
    submitted_at: datetime
    comment: str = ""
    annotations: dict[str, str] = Field(default_factory=dict)
    visibility: str = ""
    deleted_at: datetime | None = None
    deleted_by: str | None = None


class FileDetail(FileRow):
    spec = "FileDetail"

    versions: list[Version]


class FilePage(Model):
    spec = "FilePage"

    items: list[FileRow]
    next_cursor: str | None = None
    total: int | None = None
    total_capped: bool = False  # the service stops counting at `total`: there are more


class DownloadLink(Model):
    spec = "DownloadLink"

    file_id: uuid.UUID
    version: int
    name: str
    size: int
    sha256: str | None
    etag: str = ""
    url: str
    expires_at: datetime


class DownloadLinks(Model):
    spec = "DownloadLinks"

    items: list[DownloadLink]


class ApiToken(Model):
    """One of the caller's personal API tokens (never its secret)."""

    spec = "ApiTokenOut"

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class DeviceAuthorization(Model):
    """`omicsdm login`'s code pair (RFC 8628 section 3.2)."""

    spec = "DeviceAuthorization"

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceToken(Model):
    """The API token a login approved on the web page receives."""

    spec = "DeviceToken"

    access_token: str
    token_id: uuid.UUID
    name: str
    expires_at: datetime | None
    username: str
