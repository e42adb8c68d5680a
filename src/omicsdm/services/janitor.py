"""Expire stale upload sessions and abort their multipart uploads (and orphaned ones) in S3.

Safe on several machines at once: each session is claimed with FOR UPDATE SKIP LOCKED, and aborting
an already-aborted multipart upload is a no-op. Each session is handled in its own transaction, so
one that cannot be handled (S3 refuses its abort, say) is logged, counted and left for the next run
while the others are expired; an outage of S3 or PostgreSQL stops the run instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as S3ClientError
from sqlalchemy import exc as sa_exc
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from omicsdm.db.engine import make_engine, make_sessionmaker
from omicsdm.db.models import UploadSession, UploadState
from omicsdm.repository import audit, uploads
from omicsdm.services.uploads import KEY_PREFIX, abort_in_s3
from omicsdm.settings import Settings
from omicsdm.storage import PendingUpload, Storage, StorageError, open_storage

log = logging.getLogger("omicsdm.janitor")

# S3 answers meaning these credentials may do nothing here: no record could succeed, so stop.
_S3_REFUSALS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed"})


@dataclass
class JanitorReport:
    expired_sessions: int = 0
    aborted_orphans: int = 0
    failed: int = 0


async def expire_stale(
    sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, max_age: timedelta
) -> JanitorReport:
    report = JanitorReport()
    cutoff = datetime.now(UTC) - max_age
    failed: set[uuid.UUID] = set()  # never retried in this run, or the loop would take them again and again
    while True:
        upload_id: uuid.UUID | None = None
        try:
            async with sessionmaker() as session, session.begin():
                upload = await _claim_one(session, cutoff, failed)
                if upload is None:
                    break
                upload_id = upload.id
                await _expire(session, storage, upload)
        except Exception as exc:
            if upload_id is None or _stops_the_run(exc):
                raise
            failed.add(upload_id)
            report.failed += 1
            log.warning("could not expire upload %s (left pending for the next run): %s", upload_id, _summary(exc))
            continue
        report.expired_sessions += 1
    # Multipart uploads on our keys that no pending session owns (e.g. a session expired while S3 was down).
    async with aclosing(_listing(storage)) as pending_uploads:
        async for pending in pending_uploads:
            if pending.initiated >= cutoff:
                continue
            async with sessionmaker() as session:
                if await uploads.keys_in_use(session, [pending.key]):
                    continue
            try:
                await storage.abort_multipart_upload(pending.key, pending.upload_id)
            except StorageError as exc:
                if _stops_the_run(exc):
                    raise
                report.failed += 1
                log.warning("could not abort orphaned multipart upload on %s: %s", pending.key, _summary(exc))
                continue
            report.aborted_orphans += 1
    return report


async def _claim_one(session: AsyncSession, cutoff: datetime, skip: set[uuid.UUID]) -> UploadSession | None:
    """The oldest stale pending upload nobody else holds (uploads.stale_pending, one row, minus `skip`)."""
    stmt = (
        select(UploadSession)
        .where(
            UploadSession.state == UploadState.PENDING,
            or_(UploadSession.created_at < cutoff, UploadSession.expires_at < datetime.now(UTC)),
        )
        .order_by(UploadSession.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if skip:
        stmt = stmt.where(UploadSession.id.not_in(skip))
    return (await session.execute(stmt)).scalar_one_or_none()


async def _expire(session: AsyncSession, storage: Storage, upload: UploadSession) -> None:
    await abort_in_s3(storage, upload)
    await uploads.finish(session, upload, UploadState.EXPIRED)
    await audit.record(
        session,
        action="upload.expired",
        actor_id=None,
        actor_name="janitor",
        target_type="upload",
        target_id=upload.id,
        detail={"created_at": upload.created_at.isoformat()},
    )


def _stops_the_run(exc: BaseException) -> bool:
    """An outage or refused credentials, not a problem of one record: every further record would fail too."""
    current: BaseException | None = exc
    for _ in range(20):
        if current is None:
            return False
        if isinstance(current, BotoCoreError | OSError | TimeoutError):
            return True
        if isinstance(current, S3ClientError) and current.response.get("Error", {}).get("Code") in _S3_REFUSALS:
            return True
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def _listing(storage: Storage) -> AsyncGenerator[PendingUpload, None]:
    """Our multipart uploads in S3; an async generator, closed early through aclosing()."""
    return cast("AsyncGenerator[PendingUpload, None]", storage.pending_uploads(KEY_PREFIX))


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


async def check_reachable(engine: AsyncEngine, storage: Storage) -> None:
    """Fail before touching any record when PostgreSQL or S3 cannot be used (down, or credentials refused)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    async with aclosing(_listing(storage)) as pending_uploads:
        async for _ in pending_uploads:
            break


async def run_janitor(settings: Settings, max_age_hours: float) -> JanitorReport:
    engine = make_engine(settings.database)
    try:
        async with open_storage(settings.s3) as storage:
            await check_reachable(engine, storage)
            return await expire_stale(make_sessionmaker(engine), storage, timedelta(hours=max_age_hours))
    finally:
        await engine.dispose()
