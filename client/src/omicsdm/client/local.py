"""Local files: what to upload under which name, reading parts, hashing, sizes."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import mmap
import os
import stat as stat_
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from omicsdm.client.errors import ClientError, ExitCode

MIB = 1024 * 1024
READ_BLOCK = 8 * MIB


@dataclass(frozen=True, slots=True)
class Source:
    """A local file and the name it gets in the dataset."""

    path: Path
    name: str


def collect_sources(paths: Iterable[Path], prefix: str = "") -> list[Source]:
    """Files as given keep their base name; folders are walked and keep their relative paths under the
    folder's own name (`run1/` gives `run1/a.fastq.gz`). Sorted by name; duplicate names refused."""
    prefix = prefix.strip("/")
    found: dict[str, Path] = {}

    def add(path: Path, name: str) -> None:
        full = f"{prefix}/{name}" if prefix else name
        if full in found and found[full] != path:
            raise ClientError(f"two files would get the name {full!r}: {found[full]} and {path}", ExitCode.USAGE)
        found[full] = path

    for given in paths:
        path = Path(given)
        try:
            info = path.stat()
        except OSError as exc:
            raise ClientError(f"cannot read {given}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc
        if stat_.S_ISDIR(info.st_mode):
            base = path.resolve().name
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for file_name in sorted(files):
                    file_path = Path(root) / file_name
                    if not file_path.is_file():  # sockets, fifos, dangling links
                        continue
                    relative = file_path.relative_to(path).as_posix()
                    add(file_path, f"{base}/{relative}" if base else relative)
        elif stat_.S_ISREG(info.st_mode):
            add(path, path.name)
        else:
            raise ClientError(f"{given} is neither a file nor a folder", ExitCode.USAGE)
    return [Source(path, name) for name, path in sorted(found.items())]


def guess_content_type(name: str) -> str:
    kind, encoding = mimetypes.guess_type(name, strict=False)
    compressed = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}
    if encoding in compressed:
        return compressed[encoding]
    return kind or "application/octet-stream"


class BufferPool:
    """Reused buffers: a fresh large allocation costs a page fault per 4 KiB each time (measured: about
    a second of kernel time per GiB transferred before the transfers reused their buffers). Large ones
    are anonymous mmaps, so they are page-aligned, as direct I/O needs."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self.free: dict[int, list[memoryview]] = {}

    def get(self, size: int) -> memoryview:
        free = self.free.get(size)
        if free:
            return free.pop()
        return memoryview(mmap.mmap(-1, size)) if size >= mmap.PAGESIZE else memoryview(bytearray(size))

    def put(self, buffer: memoryview) -> None:
        free = self.free.setdefault(len(buffer), [])
        if len(free) < self.keep:
            free.append(buffer)


def read_into(fd: int, offset: int, view: memoryview) -> None:
    """Fill `view` with the bytes at `offset` (blocking; run it in a thread)."""
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if n == 0:
            raise ClientError("the file became shorter while it was read; was it modified?", ExitCode.INTEGRITY)
        got += n


def read_part_md5(fd: int, offset: int, view: memoryview) -> str:
    """Read a part into `view` and return its hex MD5."""
    read_into(fd, offset, view)
    return hashlib.md5(view, usedforsecurity=False).hexdigest()


def hash_range_into(digest: hashlib._Hash, fd: int, offset: int, end: int, scratch: memoryview | None = None) -> None:
    """Feed the bytes [offset, end) of the file to `digest`, a block at a time through `scratch`."""
    scratch = scratch if scratch is not None else memoryview(bytearray(min(READ_BLOCK, max(1, end - offset))))
    while offset < end:
        view = scratch[: min(len(scratch), end - offset)]
        read_into(fd, offset, view)
        digest.update(view)
        offset += len(view)


def md5_of_range(fd: int, offset: int, length: int, scratch: memoryview | None = None) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    hash_range_into(digest, fd, offset, offset + length, scratch)
    return digest.hexdigest()


async def sha256_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    """Streamed SHA-256 of a whole file, 32 MiB per thread hop (the event loop stays free)."""
    fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
    try:
        size = (await asyncio.to_thread(os.fstat, fd)).st_size
        digest = hashlib.sha256()
        scratch = memoryview(bytearray(min(READ_BLOCK, max(1, size))))
        offset = 0
        while offset < size:
            length = min(4 * READ_BLOCK, size - offset)
            await asyncio.to_thread(hash_range_into, digest, fd, offset, offset + length, scratch)
            offset += length
            if on_bytes:
                on_bytes(length)
        return digest.hexdigest()
    finally:
        os.close(fd)


def parse_size(text: str) -> int:
    """'16777216', '16M', '16MiB', '1G' -> bytes (binary units)."""
    units = {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB, "T": 1024**4}
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in units else (raw, "")
    try:
        value = float(number)
    except ValueError as exc:
        raise ClientError(f"not a size: {text!r} (examples: 16M, 64MiB, 1G)", ExitCode.USAGE) from exc
    if value <= 0:
        raise ClientError(f"size must be positive: {text!r}", ExitCode.USAGE)
    return int(value * units[unit])
