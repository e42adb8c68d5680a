"""The schema comes from the migrations alone, up from empty and back."""

from __future__ import annotations

import secrets

import asyncpg
from sqlalchemy.engine import make_url

from omicsdm.db.migrate import alembic_config, upgrade
from tests.conftest import _dsn

EXPECTED = {
    "alembic_version",
    "api_tokens",
    "audit_events",
    "dataset_shares",
    "datasets",
    "device_authorizations",
    "file_versions",
    "files",
    "groups",
    "memberships",
    "project_owners",
    "projects",
    "upload_sessions",
    "users",
}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_upgrade_from_empty_and_downgrade(server_url: str) -> None:
    import asyncio

    from alembic import command

    name = f"omicsdm_mig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_dsn(server_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        assert await _tables(url) == set()
        await asyncio.to_thread(upgrade, url)
        assert await _tables(url) == EXPECTED
        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
        assert await _tables(url) == {"alembic_version"}
        await asyncio.to_thread(upgrade, url)
        assert await _tables(url) == EXPECTED
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_versions_and_files_cannot_be_deleted_or_rewritten(database_url: str) -> None:
    import pytest

    conn = await asyncpg.connect(_dsn(database_url))
    try:
        async with conn.transaction():
            gid = await conn.fetchval("INSERT INTO groups (name) VALUES ('g-mig') RETURNING id")
            pid = await conn.fetchval("INSERT INTO projects (code, name) VALUES ('p-mig', 'p') RETURNING id")
            did = await conn.fetchval(
                "INSERT INTO datasets (project_id, code, name, owner_group_id) VALUES ($1, 'd', 'd', $2) RETURNING id",
                pid,
                gid,
            )
            fid = await conn.fetchval(
                "INSERT INTO files (dataset_id, name, version_count) VALUES ($1, 'a.txt', 1) RETURNING id", did
            )
            await conn.execute(
                "INSERT INTO file_versions (file_id, version, object_key, size, etag, content_type, checksum_state)"
                " VALUES ($1, 1, 'k-mig', 3, 'e', 'text/plain', 'size_only')",
                fid,
            )
            with pytest.raises(asyncpg.RaiseError, match="never deleted"):
                async with conn.transaction():
                    await conn.execute("DELETE FROM file_versions")
            with pytest.raises(asyncpg.RaiseError, match="cannot change"):
                async with conn.transaction():
                    await conn.execute("UPDATE file_versions SET object_key = 'other'")
            with pytest.raises(asyncpg.RaiseError, match="never deleted"):
                async with conn.transaction():
                    await conn.execute("DELETE FROM files")
            with pytest.raises(asyncpg.UniqueViolationError):
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO file_versions (file_id, version, object_key, size, etag, content_type,"
                        " checksum_state) VALUES ($1, 1, 'k-mig-2', 3, 'e', 'text/plain', 'size_only')",
                        fid,
                    )
            with pytest.raises(asyncpg.UniqueViolationError):
                async with conn.transaction():
                    await conn.execute("INSERT INTO files (dataset_id, name) VALUES ($1, 'a.txt')", did)
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    pass


async def test_models_and_migrations_agree(database_url: str) -> None:
    """`alembic check`: the ORM models describe exactly the schema the migrations build."""
    import asyncio

    from alembic import command

    await asyncio.to_thread(command.check, alembic_config(database_url))
