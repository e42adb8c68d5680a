"""The catalogue's side of reconciliation, streamed in the bucket's key order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.db.models import FileVersion, UploadSession, UploadState


@dataclass(frozen=True, slots=True)
class KeyedVersion:
    id: uuid.UUID
    object_key: str
    size: int
    etag: str


async def versions_by_key(session: AsyncSession, batch: int = 2_000) -> AsyncIterator[KeyedVersion]:
    """Every version, ordered by object key in byte order (as S3 lists keys), with a server-side cursor."""
    stmt = (
        select(FileVersion.id, FileVersion.object_key, FileVersion.size, FileVersion.etag)
        .order_by(FileVersion.object_key.collate("C"))
        .execution_options(yield_per=batch)
    )
    result = await session.stream(stmt)
    async for row in result:
        yield KeyedVersion(*row)


async def uploads_by_key(session: AsyncSession, keys: list[str]) -> dict[str, UploadSession]:
    rows = await session.execute(select(UploadSession).where(UploadSession.object_key.in_(keys)))
    return {u.object_key: u for u in rows.scalars()}


async def stuck_uploads(session: AsyncSession, created_before: datetime, now: datetime) -> list[UploadSession]:
    stmt = (
        select(UploadSession)
        .where(
            UploadSession.state == UploadState.PENDING,
            or_(UploadSession.created_at < created_before, UploadSession.expires_at < now),
        )
        .order_by(UploadSession.created_at)
        .limit(10_000)
    )
    return list((await session.execute(stmt)).scalars())
