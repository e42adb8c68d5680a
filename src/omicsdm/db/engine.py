"""Engine and session factory, created in the app lifespan (never at import time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_

from omicsdm.settings import DatabaseSettings

CONNECT_TIMEOUT_SECONDS = 5.0


# Planner settings under which explicit JOINs run in the order written (repository/overview.py says why).
JOIN_ORDER_AS_WRITTEN = {"join_collapse_limit": "1", "from_collapse_limit": "1"}


def make_engine(settings: DatabaseSettings, *, listings: bool = False) -> AsyncEngine:
    """The engine for requests (sessions, one transaction each), or with `listings` the one for the
    overview's pages: autocommit reads on connections that plan joins in the order written."""
    server_settings = {"application_name": "omicsdm"}
    options: dict[str, Any] = {"max_overflow": settings.pool_size}
    if listings:  # pages queue for a connection rather than open more: they are the database's work
        server_settings |= JOIN_ORDER_AS_WRITTEN
        options = {"isolation_level": "AUTOCOMMIT", "max_overflow": 0}
    engine = create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        # Fail fast when PostgreSQL is unreachable: a request answers 503 within seconds instead of
        # waiting for asyncpg's 60 s connect timeout or a 30 s queue for a pooled connection.
        pool_timeout=CONNECT_TIMEOUT_SECONDS * 2,
        connect_args={"server_settings": server_settings, "timeout": CONNECT_TIMEOUT_SECONDS},
        **options,
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
