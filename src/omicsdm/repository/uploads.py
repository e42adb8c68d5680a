"""Upload sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.db.models import Dataset, Group, Membership, UploadSession, UploadState


@dataclass(frozen=True, slots=True)
class SigningRow:
    upload: UploadSession
    creator_may_write: bool


async def add(session: AsyncSession, upload: UploadSession) -> UploadSession:
    session.add(upload)
    await session.flush()
    return upload


async def get(session: AsyncSession, upload_id: uuid.UUID, *, for_update: bool = False) -> UploadSession | None:
    stmt = select(UploadSession).where(UploadSession.id == upload_id)
    if for_update:  # re-read under the lock: the row may have changed since this session last loaded it
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def of_user(
    session: AsyncSession, user_id: uuid.UUID, state: UploadState | None, limit: int
) -> list[UploadSession]:
    stmt = select(UploadSession).where(UploadSession.created_by == user_id)
    if state is not None:
        stmt = stmt.where(UploadSession.state == state)
    stmt = stmt.order_by(UploadSession.created_at.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def pending_match(
    session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID, name: str, size: int
) -> UploadSession | None:
    """The caller's unfinished upload of the same file, so a reload or a rerun resumes it."""
    stmt = (
        select(UploadSession)
        .where(
            UploadSession.created_by == user_id,
            UploadSession.dataset_id == dataset_id,
            UploadSession.name == name,
            UploadSession.size == size,
            UploadSession.state == UploadState.PENDING,
            UploadSession.expires_at > datetime.now(UTC),
        )
        .order_by(UploadSession.created_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def for_signing(session: AsyncSession, upload_id: uuid.UUID, admin_group: str) -> SigningRow | None:
    """The upload with whether its creator may still write its dataset, in one round trip."""
    member_of_owner = exists().where(
        Membership.user_id == UploadSession.created_by, Membership.group_id == Dataset.owner_group_id
    )
    admin = exists().where(
        and_(Membership.user_id == UploadSession.created_by, Membership.group_id == Group.id, Group.name == admin_group)
    )
    stmt = (
        select(UploadSession, or_(member_of_owner, admin))
        .join(Dataset, Dataset.id == UploadSession.dataset_id)
        .where(UploadSession.id == upload_id)
    )
    row = (await session.execute(stmt)).first()
    return SigningRow(row[0], bool(row[1])) if row else None


async def bind_s3_upload_id(session: AsyncSession, upload_id: uuid.UUID, s3_upload_id: str) -> str | None:
    """Bind on first sight; the id bound afterwards (ours or an earlier one) is returned."""
    result = await session.execute(
        update(UploadSession)
        .where(UploadSession.id == upload_id, UploadSession.s3_upload_id.is_(None))
        .values(s3_upload_id=s3_upload_id)
        .returning(UploadSession.s3_upload_id)
    )
    bound = result.scalar_one_or_none()
    if bound is not None:
        return bound
    current = await session.execute(select(UploadSession.s3_upload_id).where(UploadSession.id == upload_id))
    return current.scalar_one_or_none()


async def finish(session: AsyncSession, upload: UploadSession, state: UploadState) -> None:
    upload.state = state
    upload.finished_at = datetime.now(UTC)
    await session.flush()


async def stale_pending(session: AsyncSession, older_than: datetime, limit: int = 500) -> list[UploadSession]:
    """Locked with SKIP LOCKED, so janitors on several machines never take the same upload."""
    stmt = (
        select(UploadSession)
        .where(
            UploadSession.state == UploadState.PENDING,
            or_(UploadSession.created_at < older_than, UploadSession.expires_at < datetime.now(UTC)),
        )
        .order_by(UploadSession.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def keys_in_use(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these object keys belong to pending uploads."""
    if not keys:
        return set()
    stmt = select(UploadSession.object_key).where(
        UploadSession.object_key.in_(keys), UploadSession.state == UploadState.PENDING
    )
    return set((await session.execute(stmt)).scalars())
