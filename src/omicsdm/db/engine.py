"""Engine and session factory, created in the app lifespan (never at import time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_

from omicsdm.settings import DatabaseSettings

CONNECT_TIMEOUT_SECONDS = 5.0


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    engine = create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        # Fail fast when PostgreSQL is unreachable: a request answers 503 within seconds instead of
        # waiting for asyncpg's 60 s connect timeout or a 30 s queue for a pooled connection.
        pool_timeout=CONNECT_TIMEOUT_SECONDS * 2,
        connect_args={"server_settings": {"application_name": "omicsdm"}, "timeout": CONNECT_TIMEOUT_SECONDS},
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping)
    return engine


def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Checks a pooled connection as it is handed out, so one that a database restart cut is replaced
    (the pool reconnects and retries on DisconnectionError) instead of failing the request.

    SQLAlchemy's `pool_pre_ping` does the same with three round trips for asyncpg (BEGIN, ";",
    ROLLBACK, kept for pgbouncer's transaction mode); this is one simple query: two round trips fewer on
    every request.
    """
    try:
        await_(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as exc:
        raise DisconnectionError(f"pooled connection is gone: {exc!r}") from exc


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
