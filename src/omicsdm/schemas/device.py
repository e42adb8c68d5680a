"""`omicsdm login` from a command line, approved on the web page (RFC 8628 device authorization grant)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from omicsdm.schemas.common import text

DeviceGrant = Literal["urn:ietf:params:oauth:grant-type:device_code"]


class DeviceAuthorizeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"client_name": "omicsdm-cli 0.1.0", "hostname": "login01.hpc.example.org"}]},
    )
    client_name: Annotated[str, text(100, min_length=1)] = Field("omicsdm-cli", description="The program asking")
    hostname: Annotated[str, text(255, min_length=1)] = Field(description="The machine asking, shown to the user")
    token_name: Annotated[str, text(255, min_length=1)] | None = Field(
        None, description="Name of the API token to issue (default: the host name and the program)"
    )
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Lifetime of the token; at most, and by default, the service's setting"
    )


class DeviceAuthorization(BaseModel):
    """RFC 8628 section 3.2: what the command shows and how it polls."""

    device_code: str = Field(description="The command's secret for polling POST /api/device/token")
    user_code: str = Field(description="Short code the user compares on the web page, e.g. BDWP-HQRT")
    verification_uri: str
    verification_uri_complete: str = Field(description="The web page with the code filled in")
    expires_in: int = Field(description="Seconds both codes stay valid")
    interval: int = Field(description="Seconds to wait between polls")


class DeviceTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_code: Annotated[str, text(128, min_length=1)]
    grant_type: DeviceGrant = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceToken(BaseModel):
    """The personal API token issued to the machine (RFC 6749 token response, plus what to show)."""

    access_token: str = Field(description="The secret (odm_…). Shown once; store it now.")
    token_type: Literal["bearer"] = "bearer"
    token_id: uuid.UUID
    name: str = Field(description="The token's name in the web page's token list")
    expires_at: datetime | None
    expires_in: int | None = Field(description="Seconds until it expires; null = never")
    username: str


class DeviceRequestOut(BaseModel):
    """What the approval page shows about the machine asking."""

    user_code: str
    client_name: str
    hostname: str
    client_ip: str | None
    requested_at: datetime
    expires_at: datetime
    state: Literal["pending", "approved", "denied", "issued"]
    token_name: str = Field(description="The name the API token will have")
    token_expires_in_days: int | None = Field(description="Lifetime of the token; null = never expires")
