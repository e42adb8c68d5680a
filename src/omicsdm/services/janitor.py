"""Expire stale upload sessions and abort their multipart uploads (and orphaned ones) in S3.

Safe on several machines at once: sessions are claimed with FOR UPDATE SKIP LOCKED, and aborting
an already-aborted multipart upload is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omicsdm.db.engine import make_engine, make_sessionmaker
from omicsdm.db.models import UploadState
from omicsdm.repository import audit, uploads
from omicsdm.services.uploads import KEY_PREFIX, abort_in_s3
from omicsdm.settings import Settings
from omicsdm.storage import Storage, open_storage

BATCH = 200


@dataclass
class JanitorReport:
    expired_sessions: int = 0
    aborted_orphans: int = 0


async def expire_stale(
    sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, max_age: timedelta
) -> JanitorReport:
    report = JanitorReport()
    cutoff = datetime.now(UTC) - max_age
    while True:
        async with sessionmaker() as session, session.begin():
            stale = await uploads.stale_pending(session, cutoff, BATCH)
            for upload in stale:
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
            report.expired_sessions += len(stale)
        if len(stale) < BATCH:
            break
    # Multipart uploads on our keys that no pending session owns (e.g. a session expired while S3 was down).
    async for pending in storage.pending_uploads(KEY_PREFIX):
        if pending.initiated >= cutoff:
            continue
        async with sessionmaker() as session:
            if await uploads.keys_in_use(session, [pending.key]):
                continue
        await storage.abort_multipart_upload(pending.key, pending.upload_id)
        report.aborted_orphans += 1
    return report


async def run_janitor(settings: Settings, max_age_hours: int) -> JanitorReport:
    engine = make_engine(settings.database)
    try:
        async with open_storage(settings.s3) as storage:
            return await expire_stale(make_sessionmaker(engine), storage, timedelta(hours=max_age_hours))
    finally:
        await engine.dispose()
