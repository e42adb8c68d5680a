"""The audit trail: append-only."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import ARRAY, and_, bindparam, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.db.models import AuditEvent
from omicsdm.repository import compiled


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


_MANY_COLUMNS = ("action", "actor_id", "actor_name", "target_type", "target_id", "detail")


def _insert_many() -> Insert:
    """One statement whatever the number of rows: each column is one array parameter, unnest() makes rows."""
    table = AuditEvent.__table__
    arrays = [bindparam(name, type_=ARRAY(table.c[name].type)) for name in _MANY_COLUMNS]
    return insert(AuditEvent).from_select(_MANY_COLUMNS, select(literal_column("*")).select_from(func.unnest(*arrays)))


async def record_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Rows of `record`'s fields. 1,000 download links record 1,000 events: as an ORM bulk insert that
    was 65 ms (27 ms of CPU) of a 300 ms request; as arrays it is one short statement."""
    if not rows:
        return
    values: dict[str, list[Any]] = {name: [] for name in _MANY_COLUMNS}
    for row in rows:
        for name in _MANY_COLUMNS:
            value = row.get(name)
            if name == "detail":
                value = json.dumps(value or {})  # the connection's jsonb codec takes text
            elif name == "target_id" and value is not None:
                value = str(value)
            values[name].append(value)
    await compiled.execute(session, compiled.compiled("audit.record_many", _insert_many), values)


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
