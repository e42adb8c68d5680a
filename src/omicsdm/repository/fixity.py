"""Fixity bookkeeping: which version to re-read next, and what the re-read found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.db.models import File, FileVersion, Fixity


async def claim_next(session: AsyncSession, checked_before: datetime) -> FileVersion | None:
    """The next version to check, locked (SKIP LOCKED) until the transaction ends.

    Versions an admin queued come first, oldest request first; then the one checked longest ago
    (never-checked first) among those last checked before `checked_before` (at the latest, when this
    run started: so several workers together check each version once per run).
    """
    requested = (
        select(FileVersion)
        .where(FileVersion.fixity_requested_at.is_not(None))
        .order_by(FileVersion.fixity_requested_at, FileVersion.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    found = (await session.execute(requested)).scalar_one_or_none()
    if found is not None:
        return found
    due = (
        select(FileVersion)
        .where((FileVersion.fixity_checked_at.is_(None)) | (FileVersion.fixity_checked_at < checked_before))
        .order_by(FileVersion.fixity_checked_at.asc().nulls_first(), FileVersion.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(due)).scalar_one_or_none()


async def record(
    session: AsyncSession, version: FileVersion, state: Fixity, note: str | None, computed_sha256: str | None
) -> None:
    version.fixity = state
    version.fixity_checked_at = datetime.now(UTC)
    version.fixity_note = note
    version.fixity_requested_at = None
    if state is Fixity.RECORDED and version.sha256 is None:
        version.sha256 = computed_sha256
    await session.flush()


async def queue(session: AsyncSession, *, file_id: uuid.UUID | None, dataset_id: uuid.UUID | None) -> int:
    """Ask the workers to check these versions next; returns how many were queued."""
    stmt = update(FileVersion).values(fixity_requested_at=func.now())
    if file_id is not None:
        stmt = stmt.where(FileVersion.file_id == file_id)
    if dataset_id is not None:
        stmt = stmt.where(FileVersion.file_id.in_(select(File.id).where(File.dataset_id == dataset_id)))
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def summary(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(FileVersion.fixity, func.count()).group_by(FileVersion.fixity))
    counts = {state.value: 0 for state in Fixity}
    counts.update({state.value: int(n) for state, n in rows.all()})
    counts["queued"] = int(
        (await session.execute(select(func.count()).where(FileVersion.fixity_requested_at.is_not(None)))).scalar_one()
    )
    return counts
