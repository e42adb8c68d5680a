"""Small JSON files that make transfers resumable after Ctrl-C, a network loss or a crash.

Uploads: one file per (server, dataset, name, local file as it is now) under <state dir>/uploads/,
holding the service's upload id, the S3 UploadId (the service does not hand it back on resume) and
the file's SHA-256 (so a resume does not hash 100 GB again while size, mtime and inode are unchanged).
Downloads: `<target>.part` holds the bytes, `<target>.part.json` the chunks already written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_VERSION = 1


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("v") == STATE_VERSION else None


@dataclass(slots=True)
class UploadState:
    server: str
    dataset_id: str
    name: str
    path: str
    size: int
    mtime_ns: int
    inode: int
    sha256: str | None  # None until known: hashed while the parts are sent, declared at completion
    upload_id: str | None = None
    object_key: str | None = None
    part_size: int | None = None
    s3_upload_id: str | None = None
    v: int = STATE_VERSION


class UploadStateStore:
    def __init__(self, root: Path) -> None:
        self.root = root / "uploads"

    @staticmethod
    def key(server: str, dataset_id: uuid.UUID, name: str, path: Path, stat: os.stat_result) -> str:
        ident = json.dumps([server, str(dataset_id), name, str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino])
        return hashlib.sha256(ident.encode()).hexdigest()[:40]

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def load(self, key: str) -> UploadState | None:
        data = read_json(self.path(key))
        if data is None:
            return None
        try:
            return UploadState(**data)
        except TypeError:
            return None

    def save(self, key: str, state: UploadState) -> None:
        write_json_atomic(self.path(key), asdict(state))

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


@dataclass(slots=True)
class DownloadState:
    """Which chunks of `<target>.part` hold verified-by-S3 bytes of this very version."""

    file_id: str
    version: int
    size: int
    sha256: str | None
    etag: str
    chunk_size: int
    done: list[int] = field(default_factory=list)  # chunk indexes, as [start, end) ranges flattened
    v: int = STATE_VERSION

    def matches(self, other: DownloadState) -> bool:
        mine = (self.file_id, self.version, self.size, self.sha256, self.etag, self.chunk_size)
        return mine == (other.file_id, other.version, other.size, other.sha256, other.etag, other.chunk_size)

    def done_chunks(self) -> set[int]:
        chunks: set[int] = set()
        for start, end in zip(self.done[::2], self.done[1::2], strict=False):
            chunks.update(range(start, end))
        return chunks

    def set_done(self, chunks: set[int]) -> None:
        ranges: list[int] = []
        for index in sorted(chunks):
            if ranges and ranges[-1] == index:
                ranges[-1] = index + 1
            else:
                ranges.extend((index, index + 1))
        self.done = ranges

    @classmethod
    def load(cls, path: Path) -> DownloadState | None:
        data = read_json(path)
        if data is None:
            return None
        try:
            return cls(**data)
        except TypeError:
            return None

    def save(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))
