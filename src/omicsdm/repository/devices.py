"""SQL of device authorizations (`omicsdm login` waiting for approval on the web page)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.db.models import DeviceAuthorization


async def add(session: AsyncSession, row: DeviceAuthorization) -> DeviceAuthorization:
    session.add(row)
    await session.flush()
    return row


async def by_device_code(session: AsyncSession, device_code_hash: str) -> DeviceAuthorization | None:
    """Locked for this transaction: concurrent polls of one code are answered one after the other."""
    query = select(DeviceAuthorization).where(DeviceAuthorization.device_code_hash == device_code_hash)
    return (await session.execute(query.with_for_update())).scalar_one_or_none()


async def by_user_code(session: AsyncSession, user_code_hash: str) -> DeviceAuthorization | None:
    query = select(DeviceAuthorization).where(DeviceAuthorization.user_code_hash == user_code_hash)
    return (await session.execute(query.with_for_update())).scalar_one_or_none()


async def delete_expired(session: AsyncSession, before: datetime) -> None:
    """Forget authorizations that expired before `before` (their codes can no longer be used)."""
    await session.execute(delete(DeviceAuthorization).where(DeviceAuthorization.expires_at < before))


async def count_since(session: AsyncSession, client_ip: str | None, since: datetime) -> int:
    """Authorizations requested from this address since `since`."""
    query = select(func.count()).where(
        DeviceAuthorization.client_ip.is_not_distinct_from(client_ip), DeviceAuthorization.created_at >= since
    )
    return int((await session.execute(query)).scalar_one())
