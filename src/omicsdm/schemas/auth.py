"""Logins and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from omicsdm.schemas.common import GroupName, text


class DevLogin(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"username": "alice", "groups": ["lab-a"]}]}
    )
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    groups: list[GroupName] = Field(default_factory=list, max_length=50)


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    id: uuid.UUID
    username: str
    groups: list[str]
    is_admin: bool
    via: str


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "hpc-cluster", "expires_in_days": 90}]}
    )
    name: Annotated[str, text(255, min_length=1)]
    expires_in_days: int | None = Field(90, ge=1, le=3650, description="null = never expires")


class ApiTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="The secret. Shown once; store it now.")


class AuthConfig(BaseModel):
    """What a frontend or CLI needs to log in."""

    dev_mode: bool
    oidc_issuer: str | None
    oidc_client_id: str
