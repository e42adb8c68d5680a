"""Turns a bearer credential into a Principal, keeping users, groups and memberships in step with the IdP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.jwt import Identity, TokenVerifier
from omicsdm.auth.principal import Principal
from omicsdm.auth.secrets import hash_api_token, is_api_token
from omicsdm.db.models import User
from omicsdm.errors import NotAuthenticated
from omicsdm.repository import users
from omicsdm.settings import AuthSettings


async def resolve(session: AsyncSession, verifier: TokenVerifier, credential: str, auth: AuthSettings) -> Principal:
    if is_api_token(credential):
        return await _from_api_token(session, credential, auth.admin_group, auth.api_token_groups_max_age_hours)
    cached = verifier.principals.get(credential)
    if cached is not None:
        return cached
    identity = await verifier.verify(credential)
    principal, in_step = await _sync(session, identity, auth.admin_group)
    if in_step:
        verifier.principals.put(credential, principal, identity.expires_at)
    return principal


LAST_SEEN_RESOLUTION = timedelta(minutes=5)


async def sync_identity(session: AsyncSession, identity: Identity, admin_group: str) -> Principal:
    """The IdP is the source of truth for groups; the tables mirror the last token seen (API tokens use them).

    The common case (nothing changed, seen recently) is one read and no write, so reads stay reads.
    """
    return (await _sync(session, identity, admin_group))[0]


async def _sync(session: AsyncSession, identity: Identity, admin_group: str) -> tuple[Principal, bool]:
    """The principal, and whether the tables were already in step (nothing written)."""
    known = await users.user_by_subject(session, identity.subject)
    if (
        known is not None
        and (known.username, known.email) == (identity.username, identity.email)
        and set(known.groups) == identity.groups
        and known.last_seen_at > datetime.now(UTC) - LAST_SEEN_RESOLUTION
    ):
        user_id, current, in_step = known.id, known.groups, True
    else:
        in_step = False
        user_id = await users.upsert_user(session, identity.subject, identity.username, identity.email)
        current = await users.membership_names(session, user_id)
        if set(current) != identity.groups:
            current = await users.ensure_groups(session, identity.groups)
            await users.replace_memberships(session, user_id, current.values())
    principal = Principal(
        user_id=user_id,
        subject=identity.subject,
        username=identity.username,
        group_ids=frozenset(current.values()),
        groups=frozenset(current),
        is_admin=admin_group in current,
        via=identity.via,
    )
    return principal, in_step


async def _from_api_token(session: AsyncSession, secret: str, admin_group: str, groups_max_age_hours: int) -> Principal:
    found = await users.find_api_token(session, hash_api_token(secret))
    if found is None:
        raise NotAuthenticated("unknown API token")
    token, user = found
    if token.revoked_at is not None:
        raise NotAuthenticated("API token revoked")
    if token.expires_at is not None and token.expires_at <= datetime.now(UTC):
        raise NotAuthenticated("API token expired")
    if user.last_seen_at < datetime.now(UTC) - timedelta(hours=groups_max_age_hours):
        # The groups mirror is only refreshed by an interactive login; a removed member must not keep access.
        raise NotAuthenticated(
            f"your groups were last confirmed by a login more than {groups_max_age_hours} h ago; "
            "log in to the web page (or the CLI) once, then the API token works again",
            code="groups-stale",
        )
    await users.touch_api_token(session, token.id)
    return await _mirrored(session, user, admin_group, via="api-token")


async def principal_for_user(session: AsyncSession, user_id: uuid.UUID, admin_group: str, via: str) -> Principal | None:
    """The user with the groups mirrored at their last login (for credentials issued earlier, e.g. links)."""
    user = await users.get(session, user_id)
    return None if user is None else await _mirrored(session, user, admin_group, via=via)


async def _mirrored(session: AsyncSession, user: User, admin_group: str, *, via: str) -> Principal:
    groups = await users.membership_names(session, user.id)
    return Principal(
        user_id=user.id,
        subject=user.subject,
        username=user.username,
        group_ids=frozenset(groups.values()),
        groups=frozenset(groups),
        is_admin=admin_group in groups,
        via=via,
    )
