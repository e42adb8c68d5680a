"""Start, complete and cancel multipart uploads; completion is checked against S3, never trusted."""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm import metrics
from omicsdm.auth.principal import Principal
from omicsdm.auth.secrets import UploadTokens
from omicsdm.db.models import ChecksumState, File, FileVersion, UploadSession, UploadState
from omicsdm.errors import Conflict, Forbidden, NotFound
from omicsdm.repository import audit, catalog, files, uploads
from omicsdm.schemas.files import VersionOut
from omicsdm.schemas.uploads import UploadComplete, UploadCreate, UploadLimits, UploadOut
from omicsdm.services.access import can_manage_dataset
from omicsdm.services.files import version_out
from omicsdm.services.signer import SignerCache
from omicsdm.services.upload_rules import (
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    choose_part_size,
    normalise_name,
)
from omicsdm.settings import Settings
from omicsdm.storage import ObjectInfo, Storage, StorageError

log = logging.getLogger("omicsdm.uploads")
SIGNER_PATH = "/api/uploads/sign"
UPLOAD_TOKEN_HEADER = "X-Upload-Token"
# An expired upload whose file is complete in S3 (the tab closed after S3's Complete and the janitor
# expired the session) can still be recorded: "adopted" after the same checks as any completion.
RECORDABLE = (UploadState.PENDING, UploadState.EXPIRED)
KEY_PREFIX = "datasets/"


def limits(settings: Settings) -> UploadLimits:
    """The rules `start` applies (normalise_name, choose_part_size), as figures a client can show up front."""
    return UploadLimits(
        allowed_extensions=settings.allowed_extensions,
        max_file_size=settings.max_file_size,
        max_parts=MAX_PARTS,
        min_part_size=MIN_PART_SIZE,
        max_part_size=MAX_PART_SIZE,
        default_part_size=DEFAULT_PART_SIZE,
    )


def object_key(dataset_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    """Never derived from a name or a version: a fresh UUID per upload, so no upload can land on another's key."""
    return f"{KEY_PREFIX}{dataset_id}/{upload_id}"


def upload_out(
    upload: UploadSession, settings: Settings, tokens: UploadTokens, *, resumed: bool = False, stored: bool = False
) -> UploadOut:
    lifetime = max(60, int((upload.expires_at - datetime.now(UTC)).total_seconds()))
    token = tokens.issue(upload.id, lifetime)
    return UploadOut(
        id=upload.id,
        dataset_id=upload.dataset_id,
        name=upload.name,
        size=upload.size,
        part_size=upload.part_size,
        content_type=upload.content_type,
        sha256=upload.sha256,
        state=upload.state,
        created_at=upload.created_at,
        expires_at=upload.expires_at,
        object_key=upload.object_key,
        bucket=settings.s3.bucket,
        s3_url=settings.s3.browser_url,
        region=settings.s3.region,
        access_key_id=settings.s3.access_key_id,
        signer_url=SIGNER_PATH,
        sign_params={"upload_token": token},
        sign_headers={UPLOAD_TOKEN_HEADER: token},
        s3_upload_id=upload.s3_upload_id,
        resumed=resumed,
        stored=stored,
    )


async def start(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    tokens: UploadTokens,
    storage: Storage,
    data: UploadCreate,
) -> UploadOut:
    found = await catalog.readable_dataset(session, principal, data.dataset_id)
    if found is None:
        raise NotFound("dataset not found")
    dataset, _ = found
    if not can_manage_dataset(principal, dataset):
        raise Forbidden("you may not upload to this dataset: only its owner group can")
    name = normalise_name(data.name, settings.allowed_extensions)
    part_size = choose_part_size(data.size, data.part_size, settings.max_file_size)
    existing = await uploads.pending_match(session, principal.user_id, dataset.id, name, data.size)
    if existing is not None and (data.sha256 is None or existing.sha256 in (None, data.sha256)):
        where = await _where_in_s3(storage, existing)
        if where != "gone":
            return upload_out(existing, settings, tokens, resumed=True, stored=where == "stored")
        # S3 no longer has its multipart upload (aborted, or expired there): resuming would dead-end in
        # "already initiated", so close it and start afresh on a new key.
        await uploads.finish(session, existing, UploadState.CANCELLED)
        metrics.UPLOAD_CANCELLED.inc()
        await audit.record_by(
            session,
            principal,
            action="upload.abandoned",
            target_type="upload",
            target_id=existing.id,
            detail={"why": "its S3 multipart upload no longer exists"},
        )
    upload_id = uuid.uuid4()
    upload = await uploads.add(
        session,
        UploadSession(
            id=upload_id,
            dataset_id=dataset.id,
            name=name,
            object_key=object_key(dataset.id, upload_id),
            size=data.size,
            part_size=part_size,
            content_type=data.content_type,
            sha256=data.sha256,
            comment=data.comment,
            state=UploadState.PENDING,
            created_by=principal.user_id,
            created_at=datetime.now(UTC),
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.auth.upload_token_seconds),
        ),
    )
    await audit.record_by(
        session,
        principal,
        action="upload.started",
        target_type="upload",
        target_id=upload.id,
        detail={"dataset_id": str(dataset.id), "name": name, "size": data.size, "part_size": part_size},
    )
    metrics.UPLOAD_STARTED.inc()
    return upload_out(upload, settings, tokens)


async def _where_in_s3(storage: Storage, upload: UploadSession) -> str:
    """'open' (parts may be added), 'stored' (complete in S3, not yet recorded) or 'gone'.

    An upload that was never initiated is 'open'. When S3 cannot be asked, 'open' (the caller
    resumes as before; at worst the signer refuses a second initiate).
    """
    if upload.s3_upload_id is None:
        return "open"
    try:
        if await storage.list_parts(upload.object_key, upload.s3_upload_id) is not None:
            return "open"
        return "stored" if await storage.head(upload.object_key) is not None else "gone"
    except StorageError as exc:
        log.warning("cannot ask S3 about upload %s: %s", upload.id, exc)
        return "open"


async def _own_upload(
    session: AsyncSession, principal: Principal, upload_id: uuid.UUID, *, for_update: bool = False
) -> UploadSession:
    upload = await uploads.get(session, upload_id, for_update=for_update)
    if upload is None or (upload.created_by != principal.user_id and not principal.is_admin):
        raise NotFound("upload not found")
    return upload


async def get(
    session: AsyncSession, principal: Principal, settings: Settings, tokens: UploadTokens, upload_id: uuid.UUID
) -> UploadOut:
    return upload_out(await _own_upload(session, principal, upload_id), settings, tokens)


async def list_mine(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    tokens: UploadTokens,
    state: UploadState | None,
    limit: int,
) -> list[UploadOut]:
    """The caller's uploads, newest first (e.g. the unfinished ones, to resume or cancel)."""
    return [upload_out(u, settings, tokens) for u in await uploads.of_user(session, principal.user_id, state, limit)]


def multipart_etag(part_md5s: list[str]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(m) for m in part_md5s), usedforsecurity=False).hexdigest()
    return f"{digest}-{len(part_md5s)}"


async def complete(
    session: AsyncSession,
    principal: Principal,
    storage: Storage,
    cache: SignerCache,
    upload_id: uuid.UUID,
    data: UploadComplete,
    public_url: str,
) -> VersionOut:
    """Ask S3 first, then lock the upload, re-check its state and record: no row lock (and no pooled
    connection) is held while S3 answers, and a completion racing another records one version."""
    upload = await _own_upload(session, principal, upload_id)
    if upload.state in RECORDABLE:
        _check_declared_sha256(upload, data)
        await end_read_transaction(session)
        info = await _stored_object(storage, upload, data)
        upload = await _own_upload(session, principal, upload_id, for_update=True)
    if upload.state is UploadState.COMPLETED:
        recorded = await files.version_for_upload(session, upload.id)
        if recorded is None:  # pragma: no cover - the constraint pair makes this unreachable
            raise Conflict("upload completed but its version is missing")
        return _version_out(*recorded, submitter=principal.username, public_url=public_url)
    if upload.state not in RECORDABLE:
        raise Conflict(f"upload is {upload.state.value}; start a new one", code="upload-not-pending")
    found = await catalog.readable_dataset(session, principal, upload.dataset_id)
    if found is None or not can_manage_dataset(principal, found[0]):
        raise Forbidden("you may no longer upload to this dataset")
    state = ChecksumState.VERIFIED if data.part_md5s else ChecksumState.SIZE_ONLY

    file, number, was_deleted = await files.claim_next_version(
        session, upload.dataset_id, upload.name, upload.created_by
    )
    if upload.comment and not file.comment:
        file.comment = upload.comment
    version = await files.add_version(
        session,
        file,
        FileVersion(
            file_id=file.id,
            version=number,
            object_key=upload.object_key,
            s3_version_id=info.version_id,
            size=info.size,
            etag=info.etag,
            sha256=upload.sha256 or data.sha256,
            content_type=upload.content_type,
            checksum_state=state,
            submitted_by=upload.created_by,
            submitted_at=datetime.now(UTC),
            upload_id=upload.id,
        ),
    )
    await uploads.finish(session, upload, UploadState.COMPLETED)
    cache.invalidate(upload.id)
    metrics.upload_completed(version.size)
    await audit.record_by(
        session,
        principal,
        action="upload.completed",
        target_type="file",
        target_id=file.id,
        detail={"upload_id": str(upload.id), "version": number, "size": info.size, "checksum": state.value},
    )
    if was_deleted:
        await audit.record_by(
            session,
            principal,
            action="file.restored",
            target_type="file",
            target_id=file.id,
            detail={"by_upload": str(upload.id)},
        )
    return _version_out(version, file, submitter=principal.username, public_url=public_url, restored=was_deleted)


async def end_read_transaction(session: AsyncSession) -> None:
    """Commit what the request did so far (the caller's identity mirror, reads) and give the pooled
    connection back before a slow S3 call; the next statement opens a new transaction."""
    await session.commit()


def _check_declared_sha256(upload: UploadSession, data: UploadComplete) -> None:
    if data.sha256 is not None and upload.sha256 not in (None, data.sha256):
        raise Conflict(
            f"the SHA-256 given at completion ({data.sha256}) differs from the one declared at start "
            f"({upload.sha256}); nothing recorded",
            code="checksum-mismatch",
        )


async def _stored_object(storage: Storage, upload: UploadSession, data: UploadComplete) -> ObjectInfo:
    """What S3 holds for this upload, if it is exactly what was declared; Conflict (nothing recorded) if not."""
    info = await storage.head(upload.object_key)
    if info is None and upload.state is not UploadState.PENDING:
        raise Conflict(
            "the upload expired before its file was complete in S3; start a new one", code="upload-not-pending"
        )
    if info is None:
        ids = [upload.s3_upload_id] if upload.s3_upload_id else await storage.multipart_upload_ids(upload.object_key)
        parts = await storage.list_parts(upload.object_key, ids[0]) if ids else None
        have = f"{len(parts)} part(s) uploaded so far" if parts is not None else "no multipart upload in progress"
        raise Conflict(f"the file is not in S3 yet ({have}); finish the multipart upload first", code="not-in-s3")
    if info.size != upload.size:
        raise Conflict(
            f"S3 holds {info.size} bytes but {upload.size} were declared; nothing recorded", code="size-mismatch"
        )
    if data.part_md5s:
        expected = multipart_etag([m.lower() for m in data.part_md5s])
        if info.etag != expected:
            raise Conflict(
                f"the part checksums do not match what S3 stored (ETag {info.etag}, expected {expected})",
                code="checksum-mismatch",
            )
    for problem in metadata_problems(info, upload.content_type):
        raise Conflict(f"{problem}; nothing recorded", code="metadata-mismatch")
    return info


def metadata_problems(info: ObjectInfo, declared_content_type: str) -> list[str]:
    """Headers S3 stored with the object that differ from what the upload declared.

    A browser applies Content-Encoding and Content-Disposition when it downloads: an unsigned
    `Content-Encoding: gzip` sent at Initiate would make saved bytes differ from the recorded size
    and checksum, so only objects stored exactly as declared are recorded.
    """
    problems = []
    if info.content_type is not None and info.content_type != declared_content_type:
        problems.append(f"S3 stored Content-Type {info.content_type!r}, the upload declared {declared_content_type!r}")
    if info.content_encoding not in (None, "", "identity"):
        problems.append(f"S3 stored Content-Encoding {info.content_encoding!r}; uploads must not set one")
    if info.content_disposition not in (None, ""):
        problems.append("S3 stored a Content-Disposition; uploads must not set one")
    return problems


def _version_out(
    version: FileVersion, file: File, *, submitter: str | None, public_url: str, restored: bool = False
) -> VersionOut:
    return version_out(
        version,
        file_id=file.id,
        dataset_id=file.dataset_id,
        name=file.name,
        submitter=submitter,
        public_url=public_url,
        restored=restored,
    )


async def cancel(
    session: AsyncSession, principal: Principal, storage: Storage, cache: SignerCache, upload_id: uuid.UUID
) -> None:
    """Abort in S3 first (no lock held meanwhile), then lock, re-check and record the cancellation."""
    upload = await _own_upload(session, principal, upload_id)
    if upload.state is UploadState.PENDING:
        await end_read_transaction(session)
        await abort_in_s3(storage, upload)
        upload = await _own_upload(session, principal, upload_id, for_update=True)
    if upload.state is UploadState.CANCELLED:
        return
    if upload.state is not UploadState.PENDING:
        raise Conflict(f"upload is {upload.state.value}; nothing to cancel", code="upload-not-pending")
    await uploads.finish(session, upload, UploadState.CANCELLED)
    cache.invalidate(upload.id)
    metrics.UPLOAD_CANCELLED.inc()
    await audit.record_by(
        session,
        principal,
        action="upload.cancelled",
        target_type="upload",
        target_id=upload.id,
    )


async def abort_in_s3(storage: Storage, upload: UploadSession) -> None:
    """Abort every unfinished multipart upload on this upload's own key (the key is never shared)."""
    ids = set(await storage.multipart_upload_ids(upload.object_key))
    if upload.s3_upload_id:
        ids.add(upload.s3_upload_id)
    for s3_upload_id in sorted(ids):
        await storage.abort_multipart_upload(upload.object_key, s3_upload_id)
