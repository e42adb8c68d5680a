"""Who am I, dev login, and personal API tokens."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from omicsdm.deps import CurrentUser, Session, State
from omicsdm.schemas.auth import (
    AccessToken,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    AuthConfig,
    DevLogin,
    Me,
)
from omicsdm.schemas.common import Problem
from omicsdm.services import tokens

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.get("/config", operation_id="getAuthConfig", summary="How to log in")
async def auth_config(state: State) -> AuthConfig:
    """Login settings for frontends and the CLI (no secrets)."""
    auth = state.settings.auth
    return AuthConfig(
        dev_mode=state.settings.dev_mode, oidc_issuer=auth.oidc_issuer, oidc_client_id=auth.oidc_client_id
    )


@router.post(
    "/dev-login",
    operation_id="devLogin",
    summary="Log in without an identity provider (dev mode only)",
    responses={401: {"model": Problem, "description": "Dev mode is off"}},
)
async def dev_login(state: State, body: DevLogin) -> AccessToken:
    """Issues a short-lived access token for any user name and groups. Refused unless dev mode is on."""
    lifetime = 8 * 3600
    token = state.verifier.issue_dev_token(body.username, body.groups, lifetime)
    return AccessToken(access_token=token, expires_in=lifetime)


@router.get("/me", operation_id="getMe", summary="The caller")
async def me(user: CurrentUser) -> Me:
    """The authenticated user and their groups."""
    return Me(id=user.user_id, username=user.username, groups=sorted(user.groups), is_admin=user.is_admin, via=user.via)


@router.get("/tokens", operation_id="listApiTokens", summary="My API tokens")
async def list_tokens(session: Session, user: CurrentUser) -> list[ApiTokenOut]:
    """The caller's personal API tokens (secrets are never shown again)."""
    return await tokens.list_tokens(session, user)


@router.post(
    "/tokens",
    operation_id="createApiToken",
    summary="Create an API token",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}},
)
async def create_token(session: Session, user: CurrentUser, body: ApiTokenCreate) -> ApiTokenCreated:
    """A new personal API token for scripts; the secret is in this answer only."""
    return await tokens.create_token(session, user, body)


@router.delete(
    "/tokens/{token_id}",
    operation_id="revokeApiToken",
    summary="Revoke an API token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
)
async def revoke_token(session: Session, user: CurrentUser, token_id: uuid.UUID) -> None:
    """Revokes one of the caller's tokens at once."""
    await tokens.revoke_token(session, user, token_id)
