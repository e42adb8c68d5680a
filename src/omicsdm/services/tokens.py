"""Personal API tokens: random, stored hashed, shown once, revocable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.auth.secrets import new_api_token
from omicsdm.db.models import ApiToken
from omicsdm.errors import Forbidden, NotFound
from omicsdm.repository import audit, users
from omicsdm.schemas.auth import ApiTokenCreate, ApiTokenCreated, ApiTokenOut


def _out(token: ApiToken) -> ApiTokenOut:
    return ApiTokenOut.model_validate(token, from_attributes=True)


async def create_token(session: AsyncSession, principal: Principal, data: ApiTokenCreate) -> ApiTokenCreated:
    if principal.via == "api-token":
        raise Forbidden("an API token cannot mint further tokens; log in interactively")
    secret, digest, prefix = new_api_token()
    expires = datetime.now(UTC) + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    token = await users.add_api_token(session, principal.user_id, data.name, digest, prefix, expires)
    await audit.record_by(
        session,
        principal,
        action="api_token.created",
        target_type="api_token",
        target_id=token.id,
        detail={"name": data.name},
    )
    return ApiTokenCreated(**_out(token).model_dump(), token=secret)


async def list_tokens(session: AsyncSession, principal: Principal) -> list[ApiTokenOut]:
    return [_out(t) for t in await users.list_api_tokens(session, principal.user_id)]


async def revoke_token(session: AsyncSession, principal: Principal, token_id: uuid.UUID) -> None:
    if not await users.revoke_api_token(session, principal.user_id, token_id):
        raise NotFound("token not found or already revoked")
    await audit.record_by(
        session,
        principal,
        action="api_token.revoked",
        target_type="api_token",
        target_id=token_id,
    )
