"""Files and their versions: version numbering, single loads, soft deletion (the listing is in overview.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.db.models import File, FileVersion


async def claim_next_version(
    session: AsyncSession, dataset_id: uuid.UUID, name: str, user_id: uuid.UUID
) -> tuple[File, int, bool]:
    """Lock the file row (creating it if new), hand out its next version number.

    The row lock serialises concurrent completions of one name, so each gets its own number; the
    unique (file_id, version) constraint is the second net. Returns (file, version, was_deleted).
    """
    await session.execute(
        insert(File)
        .values(dataset_id=dataset_id, name=name, created_by=user_id)
        .on_conflict_do_nothing(index_elements=["dataset_id", "name"])
    )
    locked = await session.execute(
        select(File)
        .where(File.dataset_id == dataset_id, File.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    file = locked.scalar_one()
    was_deleted = file.deleted_at is not None
    file.version_count += 1
    if was_deleted:
        file.deleted_at = None
        file.deleted_by = None
    await session.flush()
    return file, file.version_count, was_deleted


async def add_version(session: AsyncSession, file: File, version: FileVersion) -> FileVersion:
    session.add(version)
    await session.flush()
    await session.execute(
        update(File)
        .where(File.id == file.id)
        .values(
            latest_version_id=version.id,
            size=version.size,
            submitted_at=version.submitted_at,
            submitted_by=version.submitted_by,
        )
    )
    return version


async def version_for_upload(session: AsyncSession, upload_id: uuid.UUID) -> tuple[FileVersion, File] | None:
    row = (
        await session.execute(
            select(FileVersion, File)
            .join(File, File.id == FileVersion.file_id)
            .where(FileVersion.upload_id == upload_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def lock(session: AsyncSession, file_id: uuid.UUID) -> File:
    """The file row, locked until the transaction ends (for edits, deletion and restore)."""
    stmt = select(File).where(File.id == file_id).with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one()
