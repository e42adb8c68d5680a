"""Engine and session factory, created in the app lifespan (never at import time)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from omicsdm.settings import DatabaseSettings

CONNECT_TIMEOUT_SECONDS = 5.0


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    return create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
        # Fail fast when PostgreSQL is unreachable: a request answers 503 within seconds instead of
        # waiting for asyncpg's 60 s connect timeout or a 30 s queue for a pooled connection.
        pool_timeout=CONNECT_TIMEOUT_SECONDS * 2,
        connect_args={"server_settings": {"application_name": "omicsdm"}, "timeout": CONNECT_TIMEOUT_SECONDS},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
