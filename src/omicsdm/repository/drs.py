"""DRS objects: file versions with what their DRS view needs, under the API's read rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.db.models import ChecksumState, Dataset, File, FileVersion, Fixity, Project
from omicsdm.repository.visibility import dataset_readable


@dataclass(frozen=True, slots=True)
class ObjectRow:
    version_id: uuid.UUID
    version: int
    object_key: str
    s3_version_id: str | None
    size: int
    sha256: str | None
    etag: str
    content_type: str
    checksum_state: ChecksumState
    fixity: Fixity
    fixity_checked_at: datetime | None
    fixity_note: str | None
    submitted_at: datetime
    file_id: uuid.UUID
    name: str
    comment: str
    dataset_code: str
    owner_group_id: int
    public: bool
    project_code: str
    download_allowed: bool


_OBJECT_COLUMNS = (
    FileVersion.id, FileVersion.version, FileVersion.object_key, FileVersion.s3_version_id, FileVersion.size,
    FileVersion.sha256, FileVersion.etag, FileVersion.content_type, FileVersion.checksum_state, FileVersion.fixity,
    FileVersion.fixity_checked_at, FileVersion.fixity_note, FileVersion.submitted_at, File.id, File.name,
    File.comment, Dataset.code, Dataset.owner_group_id, Dataset.public, Project.code, Project.file_download_allowed,
)  # fmt: skip


async def objects(session: AsyncSession, principal: Principal, ids: list[uuid.UUID]) -> dict[uuid.UUID, ObjectRow]:
    """The versions among `ids` the caller reads, of files not marked deleted (the API's read rule)."""
    if not ids:
        return {}
    stmt = (
        select(*_OBJECT_COLUMNS)
        .join(File, File.id == FileVersion.file_id)
        .join(Dataset, Dataset.id == File.dataset_id)
        .join(Project, Project.id == Dataset.project_id)
        .where(FileVersion.id.in_(ids), File.deleted_at.is_(None), dataset_readable(principal))
    )
    return {row[0]: ObjectRow(*tuple(row)) for row in (await session.execute(stmt)).all()}


async def totals(session: AsyncSession) -> tuple[int, int]:
    """Objects (versions of files not marked deleted) and their bytes, over the whole service."""
    stmt = (
        select(func.count(), func.coalesce(func.sum(FileVersion.size), 0))
        .select_from(FileVersion)
        .join(File, File.id == FileVersion.file_id)
        .where(File.deleted_at.is_(None))
    )
    count, total = (await session.execute(stmt)).one()
    return int(count), int(total)
