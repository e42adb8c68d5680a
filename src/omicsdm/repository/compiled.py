"""Hot-path statements: built with SQLAlchemy once per shape, run as plain SQL on the session's asyncpg connection.

An overview page used to build its statement anew on every request, let SQLAlchemy look up its
compiled form and wrap every row in a result object: about half of the CPU a page cost, against
the same SQL run by asyncpg alone (benchmarks/overview_pages.py). Here a statement is built with
named `bindparam`s, compiled once per *shape* (which filters are present, the sort, ...) into the
text asyncpg prepares and caches, and each request passes only the values. The statements are
still written with the ORM's tables and columns, so a renamed column breaks them at compile time.

Statements run either on a connection of their own engine (`reading`: autocommit reads) or inside
the session's transaction (`execute` starts it through SQLAlchemy, then `driver`); either way the
connection, its pool check-out and its ping stay SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import ClauseElement

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Compiled:
    """The SQL text with $1..$n and the parameter name for each position."""

    sql: str
    names: tuple[str, ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        missing = [name for name in self.names if name not in values]
        if missing:  # a statement with a literal of its own would need its value here: build with bindparams
            raise KeyError(f"no value for parameter(s) {missing} of {self.sql[:80]!r}")
        return [values[name] for name in self.names]


_CACHE: dict[Hashable, Compiled] = {}
_CACHE_MAX = 512  # shapes are few (filters x sorts); the bound keeps a bug from growing it without end


def compiled(key: Hashable, build: Callable[[], ClauseElement]) -> Compiled:
    """The statement `build()` makes for this shape `key`, compiled for asyncpg (once per process)."""
    found = _CACHE.get(key)
    if found is None:
        statement = build().compile(dialect=_DIALECT)
        positions: list[str] | None = getattr(statement, "positiontup", None)  # SQLCompiler's, for $n styles
        found = Compiled(statement.string, tuple(positions or ()))
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = found
    return found


async def execute(session: AsyncSession, statement: Compiled, values: Mapping[str, Any]) -> None:
    """Runs a statement in the session's transaction (through SQLAlchemy, which begins it if need be)."""
    conn = await session.connection()
    await conn.exec_driver_sql(statement.sql, tuple(statement.args(values)))


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session's (already begun) transaction."""
    conn: AsyncConnection = await session.connection()
    raw = await conn.get_raw_connection()
    driver_connection: asyncpg.Connection = raw.driver_connection
    return driver_connection


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection of `engine` as asyncpg's, for autocommit reads (checked out, pinged, returned)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver_connection: asyncpg.Connection = raw.driver_connection
        yield driver_connection


async def fetchrow(pg: asyncpg.Connection, statement: Compiled, values: Mapping[str, Any]) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await pg.fetchrow(statement.sql, *statement.args(values))
    return record


async def fetch(pg: asyncpg.Connection, statement: Compiled, values: Mapping[str, Any]) -> Sequence[asyncpg.Record]:
    records: Sequence[asyncpg.Record] = await pg.fetch(statement.sql, *statement.args(values))
    return records


async def fetchval(pg: asyncpg.Connection, statement: Compiled, values: Mapping[str, Any]) -> Any:
    return await pg.fetchval(statement.sql, *statement.args(values))
