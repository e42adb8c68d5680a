"""The EvaporateJS signer: authenticate the upload, check the request against it, sign.

Per part, signing costs no database round trip: the immutable facts of an upload (key, size,
bound UploadId) are cached per process, and its mutable state (pending, creator's write access)
is re-read after a few seconds. The re-read happens in the background shortly before an entry
expires, once per upload however many requests arrive (an upload under load never waits for the
database), and a missing entry is loaded once for all the requests that want it at that moment. A replica that has not yet seen a cancel or completion made on
another replica can at worst sign a part for an upload S3 has already closed, which S3 refuses
(NoSuchUpload); nothing is written that way.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omicsdm import metrics
from omicsdm.auth.secrets import UploadTokens
from omicsdm.db.models import UploadState
from omicsdm.errors import Forbidden, outage_of, unavailable
from omicsdm.repository import audit, uploads
from omicsdm.services.upload_rules import part_count
from omicsdm.settings import Settings
from omicsdm.signing import policy, sigv4
from omicsdm.storage import Storage, StorageError

log = logging.getLogger("omicsdm.signer")
STATE_TTL_SECONDS = 5.0
REFRESH_AHEAD_SECONDS = 1.0  # an entry in use is re-read this long before it expires
BIND_RETRY_SECONDS = 0.5
ANONYMOUS_AUDITS_PER_SECOND = 5.0


class RateLimit:
    """A token bucket (per process): `take()` is true at most `per_second` times a second on average."""

    def __init__(self, per_second: float, burst: float | None = None) -> None:
        self._rate, self._capacity = per_second, burst or per_second
        self._tokens, self._at = self._capacity, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass(frozen=True, slots=True)
class CachedUpload:
    grant: policy.UploadGrant
    state: UploadState
    expires_at: datetime
    creator_may_write: bool
    loaded_at: float


Loader = Callable[[uuid.UUID], Awaitable[CachedUpload | None]]


class SignerCache:
    """Process-local; safe with several replicas (see the module docstring).

    An entry is served for at most `ttl` seconds after it was read. `get_or_load` re-reads it in the
    background during its last `refresh_ahead` seconds and loads a missing one once for every caller
    waiting on it (no burst of identical queries every `ttl` seconds under load, which stalled the
    signer's tail latency on a pool of five connections).
    """

    def __init__(
        self, ttl: float = STATE_TTL_SECONDS, max_entries: int = 50_000, refresh_ahead: float = REFRESH_AHEAD_SECONDS
    ) -> None:
        self._ttl, self._max = ttl, max_entries
        self._refresh_at = max(0.0, ttl - refresh_ahead)
        self._entries: dict[uuid.UUID, CachedUpload] = {}
        self._loading: dict[uuid.UUID, asyncio.Task[CachedUpload | None]] = {}

    def get(self, upload_id: uuid.UUID) -> CachedUpload | None:
        entry = self._entries.get(upload_id)
        if entry is None or time.monotonic() - entry.loaded_at > self._ttl:
            return None
        return entry

    async def get_or_load(self, upload_id: uuid.UUID, load: Loader) -> CachedUpload | None:
        entry = self._entries.get(upload_id)
        if entry is not None:
            age = time.monotonic() - entry.loaded_at
            if age <= self._ttl:
                if age > self._refresh_at and upload_id not in self._loading:
                    self._start(upload_id, load).add_done_callback(_log_failed_refresh)
                return entry
        task = self._loading.get(upload_id) or self._start(upload_id, load)
        # shield: one caller going away (client disconnect) must not cancel the others' load
        return await asyncio.shield(task)

    def _start(self, upload_id: uuid.UUID, load: Loader) -> asyncio.Task[CachedUpload | None]:
        async def run() -> CachedUpload | None:
            try:
                entry = await load(upload_id)
                if self._loading.get(upload_id) is task:  # not invalidated meanwhile
                    if entry is None:
                        self._entries.pop(upload_id, None)
                    else:
                        self.put(upload_id, entry)
                return entry
            finally:
                if self._loading.get(upload_id) is task:
                    del self._loading[upload_id]

        task = asyncio.get_running_loop().create_task(run())
        task.add_done_callback(_retrieve)  # waiters that gave up must not leave "exception never retrieved"
        self._loading[upload_id] = task
        return task

    def put(self, upload_id: uuid.UUID, entry: CachedUpload) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[upload_id] = entry

    def invalidate(self, upload_id: uuid.UUID) -> None:
        """The upload changed here (completed, cancelled, bound): forget it and any read in flight."""
        self._entries.pop(upload_id, None)
        self._loading.pop(upload_id, None)


def _retrieve(task: asyncio.Task[CachedUpload | None]) -> None:
    if not task.cancelled():
        task.exception()


def _log_failed_refresh(task: asyncio.Task[CachedUpload | None]) -> None:
    """A background re-read that failed (database down) leaves the entry to expire; the next load says why."""
    if not task.cancelled() and task.exception() is not None:
        log.info("signer state refresh failed: %s", task.exception())


@dataclass(frozen=True, slots=True)
class SignRequest:
    upload_token: str
    to_sign: str
    datetime: str
    canonical_request: str


class Signer:
    def __init__(
        self,
        settings: Settings,
        tokens: UploadTokens,
        storage: Storage,
        sessionmaker: async_sessionmaker[AsyncSession],
        cache: SignerCache,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._storage = storage
        self._sessionmaker = sessionmaker
        self.cache = cache
        self._secret = settings.s3.secret_access_key.get_secret_value()
        self._anonymous_audits = RateLimit(per_second=ANONYMOUS_AUDITS_PER_SECOND)

    async def sign(self, request: SignRequest) -> str:
        upload_id = self._tokens.verify(request.upload_token)
        if upload_id is None:
            await self._refuse(None, "upload token is invalid or expired", request)
        entry = await self.cache.get_or_load(upload_id, self._load)
        if entry is None:
            await self._refuse(upload_id, "unknown upload", request)
        if entry.state is not UploadState.PENDING:
            await self._refuse(upload_id, f"upload is {entry.state.value}", request)
        if entry.expires_at <= datetime.now(UTC):
            await self._refuse(upload_id, "upload has expired", request)
        if not entry.creator_may_write:
            await self._refuse(upload_id, "the uploader may no longer write to this dataset", request)
        try:
            checked = policy.check(
                entry.grant, request.to_sign, request.datetime, request.canonical_request, datetime.now(UTC)
            )
        except policy.SigningRefused as exc:
            await self._refuse(upload_id, exc.reason, request, exc.code)
        if checked.s3_upload_id is not None and entry.grant.s3_upload_id is None:
            await self._bind(entry, checked.s3_upload_id, request)
        metrics.SIGNATURES_ISSUED.inc()
        return sigv4.signature(self._secret, request.datetime[:8], entry.grant.region, request.to_sign)

    async def _load(self, upload_id: uuid.UUID) -> CachedUpload | None:
        async with self._sessionmaker() as session:
            row = await uploads.for_signing(session, upload_id, self._settings.auth.admin_group)
        if row is None:
            return None
        upload = row.upload
        entry = CachedUpload(
            grant=policy.UploadGrant(
                upload_id=upload.id,
                bucket=self._settings.s3.bucket,
                object_key=upload.object_key,
                host=self._settings.s3.browser_host,
                region=self._settings.s3.region,
                content_type=upload.content_type,
                part_count=part_count(upload.size, upload.part_size),
                s3_upload_id=upload.s3_upload_id,
            ),
            state=upload.state,
            expires_at=upload.expires_at,
            creator_may_write=row.creator_may_write,
            loaded_at=time.monotonic(),
        )
        return entry

    async def _bind(self, entry: CachedUpload, s3_upload_id: str, request: SignRequest) -> None:
        """First sight of an UploadId: it must be a multipart upload S3 holds on this very key."""
        grant = entry.grant
        try:
            known = await self._storage.is_multipart_upload_of(grant.object_key, s3_upload_id)
            if not known:  # a just-initiated upload may take a moment to show on a busy server
                await asyncio.sleep(BIND_RETRY_SECONDS)
                known = await self._storage.is_multipart_upload_of(grant.object_key, s3_upload_id)
        except StorageError as exc:
            log.warning("cannot verify uploadId with S3: %s", exc)
            raise unavailable("storage") from exc
        if not known:
            await self._refuse(grant.upload_id, "uploadId is not a multipart upload of this upload's key", request)
        async with self._sessionmaker() as session, session.begin():
            bound = await uploads.bind_s3_upload_id(session, grant.upload_id, s3_upload_id)
        if bound != s3_upload_id:
            self.cache.invalidate(grant.upload_id)
            await self._refuse(grant.upload_id, "uploadId belongs to another upload", request, policy.OTHER_UPLOAD_ID)
        self.cache.put(grant.upload_id, replace(entry, grant=replace(grant, s3_upload_id=s3_upload_id)))

    async def _refuse(
        self, upload_id: uuid.UUID | None, reason: str, request: SignRequest, code: str = "signing-refused"
    ) -> NoReturn:
        first_line = request.canonical_request.split("\n", 2)[:2]
        log.warning("signing refused for upload %s: %s (%s)", upload_id, reason, " ".join(first_line)[:300])
        metrics.signature_refused(code)
        refused = Forbidden(f"signing refused: {reason}", code=code)
        if upload_id is None and not self._anonymous_audits.take():
            # The signer needs no login, so forged tokens must not become unbounded database writes.
            raise refused
        try:
            async with self._sessionmaker() as session, session.begin():
                await audit.record(
                    session,
                    action="upload.sign_refused",
                    actor_id=None,
                    actor_name="signer",
                    target_type="upload",
                    target_id=upload_id,
                    detail={"reason": reason, "request": " ".join(first_line)[:500]},
                )
        except Exception as exc:
            if outage_of(exc) != "database":
                raise
            # A refusal stays a refusal while the database is down; only its audit record is lost.
            log.warning("signing refusal for upload %s not audited: the database is unavailable", upload_id)
        raise refused
