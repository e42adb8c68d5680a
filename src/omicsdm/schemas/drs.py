"""GA4GH Data Repository Service (DRS) 1.5 shapes; in 1.2.0 mode the 1.3+ properties stay unset.

Responses are sent without unset (None) properties: DRS declares none of its properties nullable.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, StringConstraints

DRS_PREFIX = "/ga4gh/drs/v1"
ObjectId = Annotated[str, StringConstraints(max_length=1024)]
AuthorizationType = Literal["None", "BasicAuth", "BearerAuth", "PassportAuth"]


def drs_uri(public_url: str, object_id: uuid.UUID | str) -> str:
    """The hostname-based DRS URI of an object: `drs://<host[:port] of the service's public URL>/<id>`."""
    return f"drs://{urlsplit(public_url).netloc}/{object_id}"


class DrsError(BaseModel):
    msg: str = Field(description="What went wrong")
    status_code: int = Field(description="The HTTP status code")


class DrsChecksum(BaseModel):
    checksum: str = Field(description="Hex digest (for `etag`: the S3 ETag, which may end in -N)")
    type: str = Field(description="sha-256, md5 (whole-file MD5s only) or etag")


class DrsAccessURL(BaseModel):
    url: str = Field(description="A presigned S3 URL, valid for a short while")
    headers: list[str] | None = Field(None, description='Headers to send with the request, as "Name: value"')


class DrsAuthorizations(BaseModel):
    drs_object_id: str | None = None
    supported_types: list[AuthorizationType] | None = None
    passport_auth_issuers: list[str] | None = None
    bearer_auth_issuers: list[str] | None = None


class DrsAccessMethod(BaseModel):
    type: Literal["s3", "gs", "ftp", "gsiftp", "globus", "htsget", "https", "file"]
    access_url: DrsAccessURL | None = None
    access_id: str | None = Field(None, description="Pass to /objects/{object_id}/access/{access_id}")
    cloud: str | None = None  # 1.3+
    region: str | None = None
    available: bool | None = None  # 1.3+
    authorizations: DrsAuthorizations | None = None  # 1.3+


class DrsObject(BaseModel):
    id: str = Field(description="The file version's id: the same id always names the same bytes")
    name: str | None = Field(None, description="The file's name (its last path segment)")
    self_uri: str = Field(description="drs://<host>/<id>")
    size: int
    created_time: datetime
    updated_time: datetime | None = None
    version: str | None = Field(None, description="The version number within the file")
    mime_type: str | None = None
    checksums: list[DrsChecksum] = Field(min_length=1)
    access_methods: list[DrsAccessMethod] | None = None
    description: str | None = Field(None, description="The file's comment")
    aliases: list[str] | None = Field(None, description="<project>/<dataset>/<name> and <name>@<version>")


class DrsServiceType(BaseModel):
    group: str
    artifact: str
    version: str


class DrsOrganization(BaseModel):
    name: str
    url: str


class DrsServiceStats(BaseModel):
    maxBulkRequestLength: int  # noqa: N815 (the spec's name)
    objectCount: int | None = None  # noqa: N815
    totalObjectSize: int | None = None  # noqa: N815


class DrsServiceInfo(BaseModel):
    id: str
    name: str
    type: DrsServiceType
    description: str | None = None
    organization: DrsOrganization
    documentationUrl: str | None = None  # noqa: N815
    version: str
    maxBulkRequestLength: int | None = Field(None, description="1.5: deprecated copy of drs.maxBulkRequestLength")  # noqa: N815
    drs: DrsServiceStats | None = None


class DrsBulkObjectIds(BaseModel):
    bulk_object_ids: list[ObjectId] = Field(description="DRS object ids", max_length=100_000)


class DrsBulkObjectRequest(DrsBulkObjectIds):
    passports: list[Annotated[str, StringConstraints(max_length=65_536)]] | None = Field(
        None, description="Not used: this service takes bearer tokens (Authorization header)", max_length=100
    )


class DrsBulkAccessItem(BaseModel):
    bulk_object_id: ObjectId
    bulk_access_ids: list[Annotated[str, StringConstraints(max_length=256)]] = Field(max_length=100)


class DrsBulkAccessRequest(BaseModel):
    passports: list[Annotated[str, StringConstraints(max_length=65_536)]] | None = Field(
        None, description="Not used: this service takes bearer tokens (Authorization header)", max_length=100
    )
    bulk_object_access_ids: list[DrsBulkAccessItem] = Field(max_length=100_000)


class DrsSummary(BaseModel):
    requested: int
    resolved: int
    unresolved: int


class DrsUnresolved(BaseModel):
    error_code: int
    object_ids: list[str]


class DrsBulkObjects(BaseModel):
    summary: DrsSummary
    unresolved_drs_objects: list[DrsUnresolved]
    resolved_drs_object: list[DrsObject]


class DrsBulkAccessURL(BaseModel):
    drs_object_id: str
    drs_access_id: str
    url: str
    headers: list[str] | None = None


class DrsBulkAccessURLs(BaseModel):
    summary: DrsSummary
    unresolved_drs_objects: list[DrsUnresolved]
    resolved_drs_object_access_urls: list[DrsBulkAccessURL]


class DrsBulkAuthorizations(BaseModel):
    summary: DrsSummary
    unresolved_drs_objects: list[DrsUnresolved]
    resolved_drs_object: list[DrsAuthorizations]
