"""Alembic environment (async). The URL comes from the caller's config or from OMICSDM_DATABASE__URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from omicsdm.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from omicsdm.settings import DatabaseSettings, Settings

    try:
        return Settings().database.url
    except Exception:  # settings may refuse placeholders outside dev mode; the URL is all we need here
        return DatabaseSettings().url


# Made by a migration only where the server has pg_trgm; not part of the ORM metadata.
CONDITIONAL_INDEXES = frozenset({"ix_files_name_trgm"})


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in CONDITIONAL_INDEXES)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, include_object=_include
    )
    with context.begin_transaction():
        # One migrator at a time, even with several replicas starting together.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7263541)")
        context.run_migrations()


async def _online() -> None:
    engine = create_async_engine(_url(), connect_args={"timeout": 10})  # fail fast when unreachable
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
