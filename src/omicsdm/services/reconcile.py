"""Reconciliation: compare the catalogue with the bucket, both streamed in key order; report, never delete.

Findings: versions whose object is missing or differs in size or ETag, objects no version points to
(with the upload they came from, when known: such an upload can be adopted by completing it),
multipart uploads older than the janitor's age, and upload sessions stuck pending past their time.
Objects younger than the grace window are left out: uploads running right now are not drift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm import metrics
from omicsdm.auth.principal import Principal
from omicsdm.db.engine import make_engine, make_sessionmaker
from omicsdm.errors import Forbidden
from omicsdm.repository import reconcile as repo
from omicsdm.schemas.integrity import Finding, ReconcileReport
from omicsdm.services.uploads import KEY_PREFIX
from omicsdm.settings import Settings
from omicsdm.storage import Storage, StoredObject, open_storage

GRACE = timedelta(minutes=10)
MAX_FINDINGS = 10_000  # the report stays bounded; counts keep counting


async def run_for(session: AsyncSession, principal: Principal, storage: Storage, settings: Settings) -> ReconcileReport:
    if not principal.is_admin:
        raise Forbidden("administrators only")
    return await reconcile(session, storage, settings)


async def reconcile(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    *,
    grace: timedelta = GRACE,
    stale_after: timedelta | None = None,
) -> ReconcileReport:
    """`stale_after`: age of a multipart upload or pending session worth reporting (default: the janitor's)."""
    started = datetime.now(UTC)
    young = started - grace
    findings: list[Finding] = []
    counts: Counter[str] = Counter()
    seen = Counter[str]()

    def report(finding: Finding) -> None:
        counts[finding.kind] += 1
        if len(findings) < MAX_FINDINGS:
            findings.append(finding)

    untracked: list[StoredObject] = []
    versions = repo.versions_by_key(session)
    objects = storage.list_objects(KEY_PREFIX)
    version = await _next(versions)
    stored = await _next(objects)
    while version is not None or stored is not None:
        if stored is None or (version is not None and version.object_key < stored.key):
            assert version is not None
            seen["versions"] += 1
            report(Finding(kind="missing-object", object_key=version.object_key, version_id=version.id,
                           detail="a recorded version whose object is not in the bucket"))  # fmt: skip
            version = await _next(versions)
        elif version is None or stored.key < version.object_key:
            seen["objects"] += 1
            if stored.last_modified < young:
                untracked.append(stored)
            stored = await _next(objects)
        else:
            seen["versions"] += 1
            seen["objects"] += 1
            if stored.size != version.size:
                report(Finding(kind="size-drift", object_key=stored.key, version_id=version.id,
                               detail=f"the bucket holds {stored.size} bytes, {version.size} were recorded"))  # fmt: skip
            elif stored.etag != version.etag:
                report(Finding(kind="etag-drift", object_key=stored.key, version_id=version.id,
                               detail=f"the bucket's ETag is {stored.etag}, {version.etag} was recorded"))  # fmt: skip
            version = await _next(versions)
            stored = await _next(objects)
        if len(untracked) >= 500:
            await _explain_untracked(session, untracked, report)
    await _explain_untracked(session, untracked, report)

    max_age = stale_after if stale_after is not None else timedelta(hours=settings.upload_session_max_age_hours)
    async for pending in storage.pending_uploads(KEY_PREFIX):
        if pending.initiated < started - max_age:
            report(Finding(kind="stale-multipart", object_key=pending.key,
                           detail=f"unfinished multipart upload {pending.upload_id} from {pending.initiated:%Y-%m-%d %H:%M}; "
                           "omicsdm janitor aborts it"))  # fmt: skip
    for upload in await repo.stuck_uploads(session, started - max_age, started):
        report(Finding(kind="stuck-upload", upload_id=upload.id, object_key=upload.object_key,
                       detail=f"pending since {upload.created_at:%Y-%m-%d %H:%M} (expires {upload.expires_at:%Y-%m-%d}); "
                       "omicsdm janitor expires it"))  # fmt: skip
    metrics.reconciled(dict(counts))
    return ReconcileReport(
        started_at=started,
        versions_seen=seen["versions"],
        objects_seen=seen["objects"],
        findings=findings,
        counts=dict(counts),
    )


async def _explain_untracked(
    session: AsyncSession, objects: list[StoredObject], report: Callable[[Finding], None]
) -> None:
    if not objects:
        return
    sources = await repo.uploads_by_key(session, [o.key for o in objects])
    for stored in objects:
        upload = sources.get(stored.key)
        if upload is None:
            detail = "no version and no upload of this service points to it"
        else:
            detail = (
                f"uploaded by upload {upload.id} ({upload.state.value}) but never recorded; "
                "complete that upload to record it as the next version"
            )
        report(Finding(kind="untracked-object", object_key=stored.key, upload_id=upload.id if upload else None,
                       detail=detail))  # fmt: skip
    objects.clear()


T = TypeVar("T")


async def _next(items: AsyncIterator[T]) -> T | None:
    return await anext(items, None)


async def run_reconcile(settings: Settings, grace_minutes: int) -> ReconcileReport:
    """One `omicsdm reconcile` run with its own engine and S3 client (read-only)."""
    engine = make_engine(settings.database)
    try:
        async with open_storage(settings.s3) as storage, make_sessionmaker(engine)() as session:
            return await reconcile(session, storage, settings, grace=timedelta(minutes=grace_minutes))
    finally:
        await engine.dispose()
