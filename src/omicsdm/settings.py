"""Configuration: one Settings object read from OMICSDM_* environment variables (nested with `__`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from omicsdm.signing.sigv4 import host_header

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "placeholder", "minioadmin"})


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class DatabaseSettings(BaseModel):
    url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/omicsdm",
        description="SQLAlchemy async URL of the PostgreSQL database (driver postgresql+asyncpg).",
    )
    pool_size: int = Field(10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _asyncpg_only(cls, value: str) -> str:
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("database URL must start with postgresql+asyncpg://")
        return value


class S3Settings(BaseModel):
    endpoint_url: str = Field("http://127.0.0.1:8333", description="S3 endpoint the service talks to.")
    public_url: str | None = Field(
        None,
        description="S3 endpoint as browsers reach it (defaults to endpoint_url); the signer accepts only this host.",
    )
    region: str = "us-east-1"
    bucket: str = "omicsdm"
    access_key_id: str = "omicsdm"
    secret_access_key: SecretStr = SecretStr("changeme")
    download_url_expiry_seconds: int = Field(900, ge=1, le=604_800)
    configure_bucket: bool = Field(
        True, description="On start-up, create the bucket and set versioning, CORS and the no-delete policy."
    )

    @field_validator("endpoint_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("must be an http(s) URL with a host and no path, e.g. http://127.0.0.1:9000")
        return value.rstrip("/")

    @property
    def browser_url(self) -> str:
        return self.public_url or self.endpoint_url

    @property
    def browser_host(self) -> str:
        """host[:port] exactly as a browser sends it in the Host header (default ports dropped)."""
        return host_header(self.browser_url)


class AuthSettings(BaseModel):
    oidc_issuer: str | None = Field(None, description="Issuer (iss) of accepted OIDC access tokens.")
    oidc_audience: str | None = Field(
        None, description="Audience (aud) accepted tokens must carry; required outside dev mode."
    )
    oidc_allowed_clients: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Client ids (azp) whose access tokens are accepted, e.g. omicsdm,omicsdm-cli; empty = any.",
    )
    oidc_jwks_url: str | None = Field(None, description="JWKS URL; defaults to <issuer>/protocol/openid-connect/certs.")
    oidc_client_id: str = Field("omicsdm", description="Public client id the web frontend uses for login.")
    groups_claim: str = Field("groups", description="Claim holding the user's groups (Keycloak: groups).")
    admin_group: str = "admin"
    jwks_cache_seconds: int = Field(600, ge=1)
    upload_token_seconds: int = Field(7 * 24 * 3600, ge=60, description="Lifetime of an upload's signing token.")
    api_token_groups_max_age_hours: int = Field(
        30 * 24,
        ge=1,
        description=(
            "API tokens act with the groups mirrored at the user's last interactive login; older mirrors are "
            "refused until the user logs in again (web page or a JWT call)."
        ),
    )
    device_token_days: int = Field(
        90,
        ge=0,
        le=3650,
        description="Lifetime (and longest allowed) of API tokens issued by `omicsdm login`, days; 0 = never expire.",
    )
    device_code_seconds: int = Field(
        600, ge=60, le=3600, description="How long an `omicsdm login` code waits for approval on the web page."
    )
    device_poll_seconds: int = Field(
        5, ge=1, le=60, description="Seconds `omicsdm login` must wait between polls (faster ones get slow_down)."
    )

    @field_validator("oidc_allowed_clients", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @property
    def jwks_url(self) -> str | None:
        if self.oidc_jwks_url:
            return self.oidc_jwks_url
        if self.oidc_issuer:
            return self.oidc_issuer.rstrip("/") + "/protocol/openid-connect/certs"
        return None


class DrsSettings(BaseModel):
    spec_version: Literal["1.5.0", "1.2.0"] = Field(
        "1.5.0", description="GA4GH DRS version to answer with: 1.5.0, or exactly the 1.2.0 shapes for older clients."
    )
    max_bulk_request_length: int = Field(
        1000,
        ge=1,
        le=10_000,
        description="Most object (or object/access) ids one bulk DRS request may name (413 above).",
    )
    organization_name: str = Field("omicsdm", description="Organization named in the DRS service-info.")
    organization_url: str | None = Field(None, description="Its web site in the service-info (default: public_url).")


class MetricsSettings(BaseModel):
    enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    token: SecretStr | None = Field(
        None, description="When set, /metrics answers only requests with Authorization: Bearer <token>."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMICSDM_", env_nested_delimiter="__", extra="ignore")

    dev_mode: bool = Field(False, description="Enables the password-less dev login. Never in production.")
    secret_key: SecretStr = Field(
        SecretStr("changeme"), description="Server secret for upload tokens and dev logins; 32+ random bytes."
    )
    database: DatabaseSettings = DatabaseSettings()
    s3: S3Settings = S3Settings()
    auth: AuthSettings = AuthSettings()
    drs: DrsSettings = DrsSettings()
    metrics: MetricsSettings = MetricsSettings()
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or as one JSON object per line (for log shippers)."
    )
    allowed_extensions: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allowed file name endings, e.g. fastq.gz,bam,vcf.gz; empty = any."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed to call the API and the bucket from a browser."
    )
    public_url: str = Field("http://127.0.0.1:8000", description="URL users reach the service at.")
    frontend_dist: Path | None = Field(None, description="Built web frontend to serve at / (default: frontend/dist).")
    max_file_size: int = Field(
        5 * 1024**4,
        ge=1,
        le=10_000 * 5 * 1024**3,
        description="Largest file accepted, bytes (S3: 10,000 parts of 5 GiB).",
    )
    upload_session_max_age_hours: int = Field(7 * 24, ge=1, description="Janitor expires older upload sessions.")

    @field_validator("allowed_extensions", "cors_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_extensions")
    @classmethod
    def _normalise_extensions(cls, value: list[str]) -> list[str]:
        return [ext.lower().lstrip(".") for ext in value]

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.dev_mode:
            return self
        for name, secret in (
            ("OMICSDM_SECRET_KEY", self.secret_key),
            ("OMICSDM_S3__SECRET_ACCESS_KEY", self.s3.secret_access_key),
        ):
            if secret.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"{name} is a placeholder; set a real secret (or OMICSDM_DEV_MODE=true for development)"
                )
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("OMICSDM_SECRET_KEY must be at least 32 characters outside dev mode")
        if not self.auth.oidc_issuer:
            raise ValueError("OMICSDM_AUTH__OIDC_ISSUER is required outside dev mode")
        if not self.auth.oidc_audience:
            # Without an audience any token of the realm (issued to any client) would be accepted.
            raise ValueError("OMICSDM_AUTH__OIDC_AUDIENCE is required outside dev mode")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
