"""Multipart uploads straight to S3, each request signed by the service: parallel, streamed from disk,
resumable, checked.

Per file: POST /api/uploads -> Initiate -> parts in parallel, each with its Content-MD5, while the
SHA-256 of the whole file is computed from the same buffers in file order -> Complete in S3 -> POST
/api/uploads/{id}/complete with the part MD5s (the service checks the multipart ETag against them) and
the SHA-256. The file is hashed before the upload only when a version of the same name and size
exists, since then an unchanged file need not be sent at all. A rerun after an interruption finds the
pending upload (the service answers `resumed`), lists the parts S3 already holds, checks each against
the local bytes and sends only the missing ones. A rerun after success skips files whose latest
version already has the same size and SHA-256.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omicsdm.client.api import ApiClient, FileQuery
from omicsdm.client.concurrency import run_all
from omicsdm.client.errors import ApiError, ClientError, ExitCode, IntegrityError
from omicsdm.client.hashing import InOrderSha256
from omicsdm.client.local import (
    READ_BLOCK,
    BufferPool,
    Source,
    guess_content_type,
    md5_of_range,
    read_part_md5,
    sha256_file,
)
from omicsdm.client.models import FileRow, Upload, Version
from omicsdm.client.progress import NullProgress, Progress, ProgressTask
from omicsdm.client.s3 import SignedS3
from omicsdm.client.state import UploadState, UploadStateStore
from omicsdm.client.transport import Transport, make_transport

# Errors after which the other files would fail the same way.
FATAL_CODES = frozenset({ExitCode.AUTH, ExitCode.UNAVAILABLE})
INTEGRITY_CODES = frozenset({"checksum-mismatch", "size-mismatch", "metadata-mismatch"})


@dataclass(slots=True)
class UploadResult:
    source: Source
    status: str = "pending"  # uploaded | unchanged | failed
    version: Version | None = None
    upload_id: uuid.UUID | None = None
    resumed: bool = False
    parts_total: int = 0
    parts_sent: int = 0
    parts_reused: int = 0
    error: ClientError | None = None

    @property
    def size(self) -> int:
        return self.version.size if self.version else 0


@dataclass(slots=True)
class _Job:
    """One file's upload in progress."""

    source: Source
    size: int
    upload: Upload
    s3: SignedS3
    s3_upload_id: str
    fd: int
    mtime_ns: int  # when the upload began; a change since then means the SHA-256 may not be its own
    sha256: InOrderSha256 | None  # running while the parts go; None when the SHA-256 was computed before
    md5s: dict[int, str] = field(default_factory=dict)


class _Turns:
    """Lets part numbers through in their listed order. No deadlock with `Uploader._ready`: numbers are
    taken in order and queue for it in order, so the next number of some file always holds a permit."""

    def __init__(self, numbers: Sequence[int]) -> None:
        self.order = {number: i for i, number in enumerate(numbers)}
        self.up = 0
        self.changed = asyncio.Condition()

    async def wait(self, number: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.up == self.order[number])

    async def next(self) -> None:
        async with self.changed:
            self.up += 1
            self.changed.notify_all()


class _Restart(Exception):
    """The pending upload cannot be continued from here: cancel it and start afresh."""


class Uploader:
    def __init__(
        self,
        api: ApiClient,
        *,
        state_dir: Path,
        parallel: int = 4,
        part_size: int | None = None,
        skip_unchanged: bool = True,
        comment: str | None = None,
        progress: Progress | None = None,
        transport: Transport | None = None,
        on_part: Callable[[Source, int], None] | None = None,
        read_ahead: int = 1,
    ) -> None:
        self.api = api
        self.parallel = max(1, parallel)
        self.part_size = part_size
        self.skip_unchanged = skip_unchanged
        self.comment = comment
        self.progress: Progress = progress or NullProgress()
        self.store = UploadStateStore(state_dir)
        self._own_transport = transport is None
        self.transport = transport or make_transport()  # $OMICSDM_TRANSPORT, else the default
        self.on_part = on_part
        self._slots = asyncio.Semaphore(self.parallel)  # parts in flight, over all files
        # Parts read and hashed, over all files: `read_ahead` more than in flight, so the next part's read
        # and MD5 happen while the others are being sent, and a free slot never waits for them.
        self.read_ahead = max(0, read_ahead)
        self._ready = asyncio.Semaphore(self.parallel + self.read_ahead)
        self._hashing = asyncio.Semaphore(2)  # whole-file hashes at once (disks prefer few streams)
        self._buffers = BufferPool(keep=self.parallel * 2 + self.read_ahead)
        self._total: ProgressTask | None = None

    async def aclose(self) -> None:
        if self._own_transport:
            await self.transport.aclose()

    async def upload(self, sources: Sequence[Source], dataset_id: uuid.UUID) -> list[UploadResult]:
        """Upload every source; per-file failures are in the results (a fatal one stops the rest)."""
        results = [UploadResult(source) for source in sources]
        latest = await self._latest_versions(sources, dataset_id) if self.skip_unchanged else {}
        sizes = []
        for source in sources:
            try:
                sizes.append(source.path.stat().st_size)
            except OSError:
                sizes.append(0)
        if len(sources) > 1:
            self._total = self.progress.task(f"{len(sources)} files", sum(sizes))
        files = asyncio.Semaphore(self.parallel)
        fatal: list[ClientError] = []

        async def one(result: UploadResult) -> None:
            async with files:
                if fatal:
                    result.status, result.error = "failed", fatal[0]
                    return
                try:
                    await self._upload_file(result, dataset_id, latest.get(result.source.name))
                except ClientError as exc:
                    result.status, result.error = "failed", exc
                    if exc.code in FATAL_CODES:
                        fatal.append(exc)

        try:
            await run_all(one(result) for result in results)
        finally:
            if self._total:
                self._total.close()
        return results

    async def _latest_versions(self, sources: Sequence[Source], dataset_id: uuid.UUID) -> dict[str, FileRow]:
        wanted = {s.name for s in sources}
        queries = (
            [FileQuery(dataset_id=dataset_id, name=name) for name in wanted]
            if len(wanted) <= 3
            else [FileQuery(dataset_id=dataset_id)]
        )
        found: dict[str, FileRow] = {}
        for query in queries:
            async for row in self.api.iter_files(query):
                if row.name in wanted:
                    found[row.name] = row
        return found

    async def _upload_file(self, result: UploadResult, dataset_id: uuid.UUID, latest: FileRow | None) -> None:
        source = result.source
        try:
            stat = source.path.stat()
            real = source.path.resolve()
        except OSError as exc:
            raise ClientError(f"cannot read {source.path}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc
        key = self.store.key(self.api.server, dataset_id, source.name, real, stat)
        state = self.store.load(key)
        if state is None:
            state = UploadState(
                self.api.server, str(dataset_id), source.name, str(real), stat.st_size, stat.st_mtime_ns,
                stat.st_ino, None,
            )  # fmt: skip
        maybe_unchanged = latest is not None and latest.size == stat.st_size and latest.sha256 is not None
        if state.sha256 is None and maybe_unchanged:
            async with self._hashing:
                task = self.progress.task(f"sha256 {source.name}", stat.st_size)
                try:
                    sha256 = await sha256_file(source.path, task.advance)
                except OSError as exc:
                    raise ClientError(f"cannot read {source.path}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc
                finally:
                    task.close()
            state.sha256 = sha256
        if maybe_unchanged and latest is not None and latest.sha256 == state.sha256:
            result.status, result.version = "unchanged", None
            self.progress.note(f"unchanged: {source.name} (version {latest.version} has the same SHA-256)")
            if self._total:
                self._total.advance(stat.st_size)
            return
        try:
            try:
                await self._run(result, dataset_id, key, state, stat.st_size)
            except _Restart as restart:
                self.progress.note(f"{source.name}: {restart}; starting it again")
                assert result.upload_id is not None
                await self.api.cancel_upload(result.upload_id)
                state.upload_id = state.s3_upload_id = None
                await self._run(result, dataset_id, key, state, stat.st_size, allow_restart=False)
        except IntegrityError:
            self.store.remove(key)  # nothing to resume: this upload cannot be recorded
            raise
        self.store.remove(key)

    async def _run(
        self,
        result: UploadResult,
        dataset_id: uuid.UUID,
        key: str,
        state: UploadState,
        size: int,
        *,
        allow_restart: bool = True,
    ) -> None:
        source = result.source
        upload = await self.api.start_upload(
            dataset_id,
            source.name,
            size,
            sha256=state.sha256,
            part_size=self.part_size,
            content_type=guess_content_type(source.name),
            comment=self.comment,
        )
        result.upload_id, result.resumed, result.parts_total = upload.id, upload.resumed, upload.part_count
        known = None
        if upload.resumed:
            if state.upload_id == str(upload.id) and state.s3_upload_id:
                known = state.s3_upload_id
            elif upload.s3_upload_id:
                known = upload.s3_upload_id
        state.upload_id, state.object_key, state.part_size = str(upload.id), upload.object_key, upload.part_size
        state.s3_upload_id = known
        self.store.save(key, state)
        s3 = SignedS3(self.api, self.transport, upload)

        try:
            fd = os.open(source.path, os.O_RDONLY)
        except OSError as exc:
            raise ClientError(f"cannot read {source.path}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc
        sha256 = InOrderSha256(fd, size, self._buffers) if state.sha256 is None else None
        if sha256:
            sha256.start()
        try:
            if known is None:
                try:
                    known = await s3.initiate()
                except ApiError as exc:
                    # Initiated elsewhere (another machine, or the local state is gone): its UploadId is
                    # not known here and listing multipart uploads is (rightly) not signable.
                    if allow_restart and upload.resumed and exc.problem_code == "upload-already-initiated":
                        raise _Restart("it was started elsewhere") from exc
                    raise
                state.s3_upload_id = known
                self.store.save(key, state)
                job = _Job(source, size, upload, s3, known, fd, state.mtime_ns, sha256)
                have: dict[int, str] = {}
            else:
                job = _Job(source, size, upload, s3, known, fd, state.mtime_ns, sha256)
                try:
                    listed = await s3.list_parts(known)
                except ApiError as exc:
                    if allow_restart and exc.problem_code == "upload-id-mismatch":
                        raise _Restart("its local resume state is stale") from exc
                    raise
                if listed is None:
                    # S3 no longer knows it: completed by a run that died before telling the service, or aborted.
                    await self._finish_without_parts(job, result, allow_restart=allow_restart)
                    return
                have = {n: p.etag for n, p in listed.items() if 1 <= n <= upload.part_count}
            task = self.progress.task(source.name, size)
            try:
                missing = await self._verify_existing(job, have, task)
                result.parts_reused = upload.part_count - len(missing)
                await self._send_parts(job, missing, task, result)
            finally:
                task.close()
            digest = await self._whole_file_sha256(job)
            await self._unchanged_since_hashing(job)
            if not await s3.complete(known, [job.md5s[n] for n in range(1, upload.part_count + 1)]):
                self.progress.note(f"{source.name}: S3 no longer knows the multipart upload; asking the service")
            result.version = await self._complete(job, digest)
            result.status = "uploaded"
        finally:
            if sha256:
                await sha256.stop()
            os.close(fd)

    async def _whole_file_sha256(self, job: _Job) -> str | None:
        """The SHA-256 to declare at completion (None when it was declared at start)."""
        if job.sha256 is None:
            return None
        try:
            return await job.sha256.finish()
        except OSError as exc:
            raise ClientError(f"cannot read {job.source.path}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc

    def _span(self, job: _Job, number: int) -> tuple[int, int]:
        offset = (number - 1) * job.upload.part_size
        return offset, max(0, min(job.upload.part_size, job.size - offset))

    async def _verify_existing(self, job: _Job, have: dict[int, str], task: ProgressTask) -> list[int]:
        """Parts S3 holds whose ETag equals the local part's MD5 are kept; the rest are (re)sent."""
        numbers = sorted(have)

        async def check(number: int) -> None:
            offset, length = self._span(job, number)
            scratch = self._buffers.get(READ_BLOCK)
            try:
                md5 = await asyncio.to_thread(md5_of_range, job.fd, offset, length, scratch)
            finally:
                self._buffers.put(scratch)
            if job.sha256:
                job.sha256.on_disk(offset, offset + length)  # read once now: the hash finds it in the page cache
            if have[number] == md5:
                job.md5s[number] = md5
                task.advance(length)
                if self._total:
                    self._total.advance(length)
            else:
                self.progress.note(f"{job.source.name}: part {number} in S3 differs from the local file; resending")

        await self._run_workers(numbers, check)
        return [n for n in range(1, job.upload.part_count + 1) if n not in job.md5s]

    async def _send_parts(self, job: _Job, numbers: list[int], task: ProgressTask, result: UploadResult) -> None:
        turns = _Turns(numbers)  # parts take a connection in order, however their preparation went

        async def send(number: int) -> None:
            offset, length = self._span(job, number)
            async with self._ready:
                buffer = self._buffers.get(job.upload.part_size)
                try:
                    data = buffer[:length]
                    try:
                        md5 = await asyncio.to_thread(read_part_md5, job.fd, offset, data)
                    except OSError as exc:
                        raise ClientError(f"cannot read {job.source.path}: {exc}", ExitCode.LOCAL_IO) from exc
                    if job.sha256:
                        job.sha256.lend(offset, data)  # hashed from this buffer while the part is sent
                    try:
                        signed = await job.s3.sign_part(job.s3_upload_id, number, md5)
                        await turns.wait(number)
                        async with self._slots:
                            await turns.next()
                            await job.s3.put_part(job.s3_upload_id, number, data, md5, signed)
                    finally:
                        if job.sha256:
                            await job.sha256.reclaim(offset)
                finally:
                    self._buffers.put(buffer)
            job.md5s[number] = md5
            result.parts_sent += 1
            task.advance(length)
            if self._total:
                self._total.advance(length)
            if self.on_part:
                self.on_part(job.source, number)

        await self._run_workers(numbers, send, self.parallel + self.read_ahead)

    async def _run_workers(
        self, numbers: list[int], work: Callable[[int], Awaitable[None]], workers: int | None = None
    ) -> None:
        """Workers (`parallel` unless said) taking part numbers in order (so parts land roughly in order)."""
        queue = iter(numbers)

        async def worker() -> None:
            for number in queue:
                await work(number)

        await run_all(worker() for _ in range(min(workers or self.parallel, len(numbers))))

    async def _finish_without_parts(self, job: _Job, result: UploadResult, *, allow_restart: bool) -> None:
        numbers = list(range(1, job.upload.part_count + 1))

        async def md5(number: int) -> None:
            offset, length = self._span(job, number)
            scratch = self._buffers.get(READ_BLOCK)
            try:
                job.md5s[number] = await asyncio.to_thread(md5_of_range, job.fd, offset, length, scratch)
            finally:
                self._buffers.put(scratch)
            if job.sha256:
                job.sha256.on_disk(offset, offset + length)

        await self._run_workers(numbers, md5)
        digest = await self._whole_file_sha256(job)
        await self._unchanged_since_hashing(job)
        try:
            result.version = await self._complete(job, digest)
        except ApiError as exc:
            if allow_restart and exc.problem_code == "not-in-s3":
                raise _Restart("its multipart upload is gone from S3") from exc
            raise
        result.status, result.parts_reused = "uploaded", job.upload.part_count

    async def _unchanged_since_hashing(self, job: _Job) -> None:
        now = os.fstat(job.fd)
        if (now.st_size, now.st_mtime_ns) != (job.size, job.mtime_ns):
            await self.api.cancel_upload(job.upload.id)
            raise IntegrityError(
                f"{job.source.path} changed while it was being uploaded; nothing was recorded. Upload it again "
                "once it is complete."
            )

    async def _complete(self, job: _Job, sha256: str | None) -> Version:
        md5s = [job.md5s[n] for n in range(1, job.upload.part_count + 1)]
        try:
            return await self.api.complete_upload(job.upload.id, md5s, sha256=sha256)
        except ApiError as exc:
            if exc.problem_code in INTEGRITY_CODES:
                raise IntegrityError(f"{job.source.name}: the service refused the upload: {exc.message}") from exc
            raise
