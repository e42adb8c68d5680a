"""Users, groups, memberships and API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.db.models import ApiToken, Group, Membership, User


async def ensure_groups(session: AsyncSession, names: Iterable[str]) -> dict[str, int]:
    """Group ids by name, creating the missing groups."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    await session.execute(
        insert(Group).values([{"name": n} for n in wanted]).on_conflict_do_nothing(index_elements=["name"])
    )
    rows = await session.execute(select(Group.name, Group.id).where(Group.name.in_(wanted)))
    return {name: gid for name, gid in rows.all()}


async def group_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(select(Group.id, Group.name).where(Group.id.in_(wanted)))
    return {gid: name for gid, name in rows.all()}


async def upsert_user(session: AsyncSession, subject: str, username: str, email: str | None) -> uuid.UUID:
    stmt = (
        insert(User)
        .values(subject=subject, username=username, email=email)
        .on_conflict_do_update(
            index_elements=["subject"],
            set_={"username": username, "email": email, "last_seen_at": func.now()},
        )
        .returning(User.id)
    )
    return (await session.execute(stmt)).scalar_one()


@dataclass(frozen=True, slots=True)
class KnownUser:
    id: uuid.UUID
    username: str
    email: str | None
    last_seen_at: datetime
    groups: dict[str, int]


async def user_by_subject(session: AsyncSession, subject: str) -> KnownUser | None:
    """The user and their groups in one round trip."""
    stmt = (
        select(User.id, User.username, User.email, User.last_seen_at, Group.name, Group.id)
        .outerjoin(Membership, Membership.user_id == User.id)
        .outerjoin(Group, Group.id == Membership.group_id)
        .where(User.subject == subject)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    first = rows[0]
    groups = {row[4]: row[5] for row in rows if row[4] is not None}
    return KnownUser(first[0], first[1], first[2], first[3], groups)


async def get(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def membership_names(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(Group.name, Group.id)
        .join(Membership, Membership.group_id == Group.id)
        .where(Membership.user_id == user_id)
    )
    return {name: gid for name, gid in rows.all()}


async def replace_memberships(session: AsyncSession, user_id: uuid.UUID, group_ids_: Iterable[int]) -> None:
    ids = sorted(set(group_ids_))
    await session.execute(
        delete(Membership).where(Membership.user_id == user_id, Membership.group_id.not_in(ids or [-1]))
    )
    if ids:
        await session.execute(
            insert(Membership).values([{"user_id": user_id, "group_id": g} for g in ids]).on_conflict_do_nothing()
        )


async def add_api_token(
    session: AsyncSession, user_id: uuid.UUID, name: str, token_hash: str, prefix: str, expires_at: datetime | None
) -> ApiToken:
    token = ApiToken(user_id=user_id, name=name, token_hash=token_hash, prefix=prefix, expires_at=expires_at)
    session.add(token)
    await session.flush()
    await session.refresh(token)
    return token


async def find_api_token(session: AsyncSession, token_hash: str) -> tuple[ApiToken, User] | None:
    row = (
        await session.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def touch_api_token(session: AsyncSession, token_id: uuid.UUID) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=datetime.now(UTC)))


async def list_api_tokens(session: AsyncSession, user_id: uuid.UUID) -> list[ApiToken]:
    rows = await session.execute(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc())
    )
    return list(rows.scalars())


async def revoke_api_token(session: AsyncSession, user_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(ApiToken.id)
    )
    return result.first() is not None
