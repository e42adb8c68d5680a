"""The audit trail: append-only."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.db.models import AuditEvent


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor_id: uuid.UUID | None,
    actor_name: str,
    target_type: str,
    target_id: str | uuid.UUID | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(AuditEvent).values(
            action=action,
            actor_id=actor_id,
            actor_name=actor_name,
            target_type=target_type,
            target_id=str(target_id) if target_id is not None else None,
            detail=detail or {},
        )
    )


async def record_by(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    target_type: str,
    target_id: str | uuid.UUID | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An action of an authenticated caller."""
    await record(
        session,
        action=action,
        actor_id=principal.user_id,
        actor_name=principal.username,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )


async def record_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        # executemany: one prepared statement, rows streamed (a multi-VALUES literal compiles slowly)
        await session.execute(insert(AuditEvent), rows)


async def events_for(
    session: AsyncSession, target_type: str, target_id: str, *, also_uploads: list[str] | None = None, limit: int = 1000
) -> list[AuditEvent]:
    condition = and_(AuditEvent.target_type == target_type, AuditEvent.target_id == target_id)
    if also_uploads:
        condition = or_(condition, and_(AuditEvent.target_type == "upload", AuditEvent.target_id.in_(also_uploads)))
    rows = await session.execute(
        select(AuditEvent).where(condition).order_by(AuditEvent.at, AuditEvent.id).limit(limit)
    )
    return list(rows.scalars())
