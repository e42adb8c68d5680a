"""Parallel, resumable, verified downloads from the service's presigned URLs.

Each file is fetched in chunks by ranged GETs (at most `parallel` in flight over all files) into
`<name>.part`; `<name>.part.json` records the chunks written, so a rerun fetches only the rest. The
SHA-256 is computed while the download runs, over the prefix of chunks already written, and compared
with the version's recorded one (when it has one) before `<name>.part` becomes `<name>`. A mismatch
fails loudly and keeps nothing that looks finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from omicsdm.client.api import ApiClient
from omicsdm.client.concurrency import run_all
from omicsdm.client.errors import ClientError, ExitCode, IntegrityError, TransferError
from omicsdm.client.hashing import InOrderSha256
from omicsdm.client.local import MIB, BufferPool, hash_range_into
from omicsdm.client.models import DownloadLink
from omicsdm.client.progress import NullProgress, Progress, ProgressTask
from omicsdm.client.state import DownloadState
from omicsdm.client.transport import Transport, TransportError, make_transport

DEFAULT_CHUNK = 16 * MIB
WRITE_BATCH = 4 * MIB
WRITE_SLICE = 256 * 1024
DIRECT_ALIGN = 4096  # covers 512-byte and 4 KiB logical blocks
DIRECT_MIN_SIZE = 64 * MIB  # smaller files go through the page cache, where a following read finds them
SAVE_EVERY_SECONDS = 1.0
URL_MARGIN = timedelta(seconds=30)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(slots=True)
class DownloadResult:
    link: DownloadLink
    path: Path
    status: str = "pending"  # downloaded | present | failed
    fetched: int = 0  # bytes fetched by this run
    reused: int = 0  # bytes kept from an interrupted run
    verified: str = ""  # sha256 | size
    direct_bytes: int = 0  # bytes written with direct I/O, bypassing the page cache
    error: ClientError | None = None


@dataclass(slots=True)
class _Job:
    link: DownloadLink
    target: Path
    part: Path
    sidecar: Path
    fd: int
    chunk_size: int
    state: DownloadState
    done: set[int]
    task: ProgressTask
    result: DownloadResult
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # One write at a time per file: concurrent pwrites spin on the inode lock in the kernel (measured: a
    # tenth of the download's CPU in rwsem_spin_on_owner), while a single writer keeps up with the network.
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    saved_at: float = 0.0
    direct_fd: int | None = None  # see _open_direct

    def drop_direct(self) -> None:
        if self.direct_fd is not None:
            fd, self.direct_fd = self.direct_fd, None
            os.close(fd)

    @property
    def chunks(self) -> int:
        return -(-self.link.size // self.chunk_size)

    def span(self, index: int) -> tuple[int, int]:
        start = index * self.chunk_size
        return start, min(self.link.size, start + self.chunk_size)


def target_path(out_dir: Path, name: str) -> Path:
    """`name` below `out_dir`; names that could leave it are refused (the service never makes them)."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in parts):
        raise ClientError(f"refusing to save a file under the unsafe name {name!r}", ExitCode.REJECTED)
    return out_dir.joinpath(*parts)


class Downloader:
    def __init__(
        self,
        api: ApiClient,
        *,
        parallel: int = 4,
        chunk_size: int = DEFAULT_CHUNK,
        overwrite: bool = False,
        progress: Progress | None = None,
        transport: Transport | None = None,
        retries: int = 6,
        on_chunk: Callable[[DownloadLink, int], None] | None = None,
        direct_io: bool = True,
        direct_io_min_size: int = DIRECT_MIN_SIZE,
    ) -> None:
        self.api = api
        self.parallel = max(1, parallel)
        self.chunk_size = max(MIB, chunk_size)
        self.overwrite = overwrite
        self.retries = retries
        self.progress: Progress = progress or NullProgress()
        self._own_transport = transport is None
        self.transport = transport or make_transport()  # $OMICSDM_TRANSPORT, else the default
        self.on_chunk = on_chunk
        self.direct_io = direct_io
        self.direct_io_min_size = direct_io_min_size
        self._slots = asyncio.Semaphore(self.parallel)
        self._buffers = BufferPool()
        self._total: ProgressTask | None = None

    async def aclose(self) -> None:
        if self._own_transport:
            await self.transport.aclose()

    async def download(self, links: Sequence[DownloadLink], out_dir: Path) -> list[DownloadResult]:
        targets: dict[Path, DownloadLink] = {}
        results = []
        for link in links:
            path = target_path(out_dir, link.name)
            if path in targets:
                raise ClientError(
                    f"two selected files would both be saved as {path} (versions {targets[path].version} and "
                    f"{link.version} of {link.name}); download them into different folders",
                    ExitCode.USAGE,
                )
            targets[path] = link
            results.append(DownloadResult(link, path))
        if len(links) > 1:
            self._total = self.progress.task(f"{len(links)} files", sum(link.size for link in links))
        files = asyncio.Semaphore(self.parallel)

        async def one(result: DownloadResult) -> None:
            async with files:
                try:
                    await self._download_file(result)
                except ClientError as exc:
                    result.status, result.error = "failed", exc

        try:
            await run_all(one(result) for result in results)
        finally:
            if self._total:
                self._total.close()
        return results

    def _advance(self, task: ProgressTask, amount: int) -> None:
        task.advance(amount)
        if self._total:
            self._total.advance(amount)

    async def _download_file(self, result: DownloadResult) -> None:
        link, target = result.link, result.path
        if target.is_dir():
            raise ClientError(f"{target} is a folder; cannot save {link.name} there", ExitCode.LOCAL_IO)
        if target.exists() and await self._already_present(result):
            return
        part = target.with_name(target.name + ".part")
        sidecar = target.with_name(target.name + ".part.json")
        wanted = DownloadState(str(link.file_id), link.version, link.size, link.sha256, link.etag, self.chunk_size)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, done = await asyncio.to_thread(_open_part, part, sidecar, wanted)
        except OSError as exc:
            raise ClientError(f"cannot write {part}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc
        reused = sum(min(link.size, (i + 1) * self.chunk_size) - i * self.chunk_size for i in done)
        result.reused = reused
        task = self.progress.task(link.name, link.size, reused)
        if self._total:
            self._total.advance(reused)
        wanted.set_done(done)
        job = _Job(link, target, part, sidecar, fd, self.chunk_size, wanted, done, task, result)
        if self.direct_io and link.size >= self.direct_io_min_size:
            job.direct_fd = await asyncio.to_thread(_open_direct, part)
        outcome = "interrupted"
        try:
            digest = await self._fetch_all(job)
            self._check(job, digest)
            os.replace(part, target)
            outcome = "done"
        except IntegrityError:
            outcome = "bad"  # forget the chunks: a rerun fetches everything again
            raise
        finally:
            job.drop_direct()
            os.close(fd)
            task.close()
            if outcome == "interrupted":
                with contextlib.suppress(OSError):
                    job.state.set_done(job.done)
                    job.state.save(sidecar)
            else:
                sidecar.unlink(missing_ok=True)
        result.status = "downloaded"

    async def _already_present(self, result: DownloadResult) -> bool:
        """An existing file is kept when it is the very version (same size, and same SHA-256 if recorded)."""
        link, target = result.link, result.path
        size = target.stat().st_size
        if size == link.size and not self.overwrite:
            if link.sha256 is None:
                result.status, result.verified = "present", "size"
                self.progress.note(f"present: {link.name} (same size; the version has no SHA-256 to compare)")
                return True
            task = self.progress.task(f"checking {link.name}", size)
            try:
                fd = os.open(target, os.O_RDONLY)
                try:
                    digest = hashlib.sha256()
                    await asyncio.to_thread(hash_range_into, digest, fd, 0, size)
                finally:
                    os.close(fd)
            finally:
                task.close()
            if digest.hexdigest() == link.sha256:
                result.status, result.verified = "present", "sha256"
                if self._total:
                    self._total.advance(size)
                return True
        if not self.overwrite:
            raise ClientError(
                f"{target} exists and is not version {link.version} of {link.name}; move it away or pass --overwrite",
                ExitCode.REJECTED,
            )
        return False

    async def _fetch_all(self, job: _Job) -> str | None:
        pending = [i for i in range(job.chunks) if i not in job.done]
        queue = iter(pending)
        hasher = None
        if job.link.sha256:
            # Hashed from the received buffers in file order (never read back, which cost the kernel more
            # than the hash); chunks kept from an interrupted run are read from disk.
            hasher = InOrderSha256(job.fd, job.link.size, self._buffers)
            for index in job.done:
                hasher.on_disk(*job.span(index))
        window = self.parallel * job.chunk_size  # how far a worker may run ahead of the hash

        async def worker() -> None:
            for index in queue:
                if hasher:
                    await hasher.admit(job.span(index)[0], window)
                async with self._slots:
                    await self._fetch_chunk(job, index, hasher)
                job.done.add(index)
                self._save_now_and_then(job)
                if self.on_chunk:
                    self.on_chunk(job.link, index)

        async def workers() -> None:
            try:
                await run_all(worker() for _ in range(min(self.parallel, len(pending))))
            finally:
                if hasher:
                    hasher.close()

        digest: list[str] = []

        async def hashing() -> None:
            if hasher:
                digest.append(await hasher.run())

        await run_all([workers(), hashing()])
        return digest[0] if digest else None

    def _save_now_and_then(self, job: _Job) -> None:
        now = time.monotonic()
        if now - job.saved_at >= SAVE_EVERY_SECONDS:
            job.saved_at = now
            job.state.set_done(job.done)
            with contextlib.suppress(OSError):
                job.state.save(job.sidecar)

    async def _url(self, job: _Job, stale: str | None = None) -> str:
        """The link's URL, refreshed from the service when it expires soon (or S3 refused `stale`)."""
        async with job.refresh_lock:
            expiring = job.link.expires_at - URL_MARGIN <= datetime.now(UTC)
            if expiring or (stale is not None and stale == job.link.url):
                fresh = await self.api.download_links([(job.link.file_id, job.link.version)])
                job.link = fresh.items[0]
            return job.link.url

    async def _fetch_chunk(self, job: _Job, index: int, hasher: InOrderSha256 | None) -> None:
        start, end = job.span(index)
        stale: str | None = None
        attempt = 0
        while True:
            attempt += 1
            url = await self._url(job, stale)
            try:
                await self._get_range(job, url, start, end, hasher)
                return
            except _Expired as exc:
                if attempt > 3:
                    raise TransferError(f"S3 refused the download URL of {job.link.name}: {exc}") from exc
                stale = url
            except (TransportError, _Retry) as exc:
                if attempt > self.retries:
                    code = ExitCode.UNAVAILABLE if isinstance(exc, TransportError) else ExitCode.TRANSFER
                    raise TransferError(f"downloading {job.link.name} failed: {exc}", code) from exc
            await asyncio.sleep(min(0.5 * 2**attempt, 30.0) * (0.5 + random.random()))  # noqa: S311

    async def _get_range(self, job: _Job, url: str, start: int, end: int, hasher: InOrderSha256 | None) -> None:
        """One ranged GET, written at its offset as it arrives (4 MiB pooled buffers, each then hashed)."""
        position = start
        try:
            async with self.transport.stream("GET", url, {"Range": f"bytes={start}-{end - 1}"}) as response:
                _check_response(response.status, response.headers, start, end, job.link.size)
                async for buffer, length in response.chunks(self._piece_buffer):
                    try:
                        if position + length > end:
                            raise _Retry("S3 sent more bytes than asked for")
                        await self._write(job, buffer[:length], position)
                    except BaseException:
                        self._buffers.put(buffer)
                        raise
                    if hasher:
                        hasher.give(position, buffer, length)
                    else:
                        self._buffers.put(buffer)
                    position += length
                    self._advance(job.task, length)
        except BaseException:
            self._advance(job.task, start - position)  # this chunk starts over
            raise
        if position != end:
            self._advance(job.task, start - position)
            raise _Retry(f"got {position - start} of {end - start} bytes")
        job.result.fetched += end - start

    def _piece_buffer(self) -> memoryview:
        return self._buffers.get(WRITE_BATCH)

    async def _write(self, job: _Job, piece: memoryview, position: int) -> None:
        try:
            async with job.write_lock:
                if job.direct_fd is not None and _direct_ok(piece, position):
                    try:
                        await asyncio.to_thread(_pwrite_all, job.direct_fd, piece, position, len(piece))
                        job.result.direct_bytes += len(piece)
                        return
                    except OSError as exc:
                        if exc.errno != errno.EINVAL:
                            raise
                        job.drop_direct()  # this file system refuses it after all: the page cache it is
                await asyncio.to_thread(_pwrite_all, job.fd, piece, position, WRITE_SLICE)
        except OSError as exc:
            raise ClientError(f"cannot write {job.part}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc

    def _check(self, job: _Job, digest: str | None) -> None:
        link, result = job.link, job.result
        on_disk = os.fstat(job.fd).st_size
        if on_disk != link.size:
            raise IntegrityError(f"{link.name}: {on_disk} bytes on disk, but version {link.version} has {link.size}")
        if link.sha256 is None:
            result.verified = "size"
            self.progress.note(f"{link.name}: version {link.version} has no SHA-256; only its size was checked")
            return
        if digest != link.sha256:
            raise IntegrityError(
                f"{link.name}: SHA-256 mismatch: downloaded {digest}, version {link.version} records {link.sha256}; "
                f"the bytes were left in {job.part}"
            )
        result.verified = "sha256"


class _Retry(Exception):
    pass


class _Expired(Exception):
    pass


def _check_response(status: int, headers: Mapping[str, str], start: int, end: int, size: int) -> None:
    if status == 206:
        match = _CONTENT_RANGE.match(headers.get("content-range", ""))
        if not match or int(match.group(1)) != start or int(match.group(2)) != end - 1:
            raise _Retry(f"S3 answered range {headers.get('content-range')!r} to bytes={start}-{end - 1}")
        if match.group(3) != "*" and int(match.group(3)) != size:
            raise IntegrityError(f"S3 holds {match.group(3)} bytes but the version has {size}")
        return
    if status == 200 and start == 0 and end == size:
        return
    if status in (401, 403):
        raise _Expired(f"HTTP {status}")
    if status in (408, 429, 500, 502, 503, 504) or status == 200:
        raise _Retry(f"HTTP {status}")
    raise TransferError(f"S3 answered HTTP {status} to a download")


def _open_part(part: Path, sidecar: Path, wanted: DownloadState) -> tuple[int, set[int]]:
    """Open `<name>.part`; keep its chunks when the sidecar says they are of this very version."""
    previous = DownloadState.load(sidecar)
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if previous is not None and previous.matches(wanted):
            on_disk = os.fstat(fd).st_size
            done = previous.done_chunks()
            if on_disk <= wanted.size and all(min(wanted.size, (i + 1) * wanted.chunk_size) <= on_disk for i in done):
                return fd, done
        sidecar.unlink(missing_ok=True)
        # Not extended to its full size up front: writing into the holes of a file truncated to its
        # size cost ext4 four times the kernel time of writes that extend it.
        os.ftruncate(fd, 0)
        return fd, set()
    except BaseException:
        os.close(fd)
        raise


def _pwrite_all(fd: int, data: memoryview, position: int, per_call: int) -> None:
    # Through the page cache, 256 KiB per call: a 4 MiB write makes the kernel (6.x, ext4) allocate large
    # page-cache folios, which cost up to ten times the kernel time of the same bytes in 256 KiB pieces
    # (measured). Direct I/O writes the whole piece at once.
    while data:
        written = os.pwrite(fd, data[:per_call], position)
        data, position = data[written:], position + written


def _direct_ok(piece: memoryview, position: int) -> bool:
    """O_DIRECT wants the offset, length and memory aligned; pool buffers are page-aligned (mmap)."""
    return position % DIRECT_ALIGN == 0 and len(piece) % DIRECT_ALIGN == 0


def _open_direct(part: Path) -> int | None:
    """A second descriptor of `<name>.part` that bypasses the page cache where the file system supports
    it (Linux O_DIRECT); None means: write through the page cache."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(part, os.O_WRONLY | flag)
    except OSError:
        return None
