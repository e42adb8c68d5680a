"""Every S3 call of the service, over one aiobotocore client made in the lifespan.

There is deliberately no call here that deletes an object or a bucket: aborting an unfinished
multipart upload is the only destructive operation, and it cannot touch a stored object.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from omicsdm import metrics
from omicsdm.settings import S3Settings
from omicsdm.signing.presign import Presigner

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CORSConfigurationTypeDef

log = logging.getLogger("omicsdm.storage")

PING_TIMEOUT_SECONDS = 3.0
MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion", "400"})
READ_CHUNK = (
    16 * 1024 * 1024
)  # ranges of 16 MiB, 4 in flight, streamed in pieces: fastest measured (benchmarks/fixity.py)
READ_PARALLEL = 4
READ_PIECE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    etag: str
    version_id: str | None
    content_type: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    number: int
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    etag: str
    last_modified: datetime


class StorageError(Exception):
    """S3 could not be reached or answered with an unexpected error."""


class ObjectMissing(Exception):
    """S3 answered, and does not have the object (or the version, or all of its bytes)."""


class Storage:
    def __init__(self, client: S3Client, settings: S3Settings) -> None:
        self._client = client
        self.settings = settings
        self.bucket = settings.bucket
        self._presigner = Presigner(
            settings.browser_url,
            settings.region,
            settings.access_key_id,
            settings.secret_access_key.get_secret_value(),
        )

    async def ping(self) -> None:
        try:
            await asyncio.wait_for(self._client.head_bucket(Bucket=self.bucket), PING_TIMEOUT_SECONDS)
        except (TimeoutError, BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(f"bucket {self.bucket!r} unreachable: {exc}") from exc

    async def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The object (or this version of it), or None when S3 does not have it."""
        pinned: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            answer = await self._client.head_object(Bucket=self.bucket, Key=key, **pinned)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise StorageError(str(exc)) from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageError(str(exc)) from exc
        return ObjectInfo(
            size=answer["ContentLength"],
            etag=answer["ETag"].strip('"'),
            version_id=answer.get("VersionId"),
            content_type=answer.get("ContentType"),
            content_encoding=answer.get("ContentEncoding"),
            content_disposition=answer.get("ContentDisposition"),
        )

    async def read(
        self, key: str, version_id: str | None, size: int, *, chunk: int = READ_CHUNK, parallel: int = READ_PARALLEL
    ) -> AsyncIterator[bytes]:
        """The object's bytes in order, fetched as ranged GETs with up to `parallel` in flight.

        Raises ObjectMissing when S3 no longer has the object (or version), StorageError otherwise.
        """
        pinned: dict[str, Any] = {"VersionId": version_id} if version_id else {}

        async def fetch(start: int) -> list[bytes]:
            """One range as the pieces the connection delivered (joining them would copy every byte again)."""
            end = min(start + chunk, size) - 1
            pieces: list[bytes] = []
            received = 0
            try:
                answer = await self._client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}", **pinned
                )
                async with answer["Body"] as body:
                    while piece := await body.read(READ_PIECE):
                        pieces.append(piece)
                        received += len(piece)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in (*MISSING, "InvalidRange"):
                    raise ObjectMissing(f"{key} ({version_id or 'latest'}) is not in the bucket") from exc
                raise StorageError(str(exc)) from exc
            except (BotoCoreError, OSError) as exc:
                raise StorageError(str(exc)) from exc
            if received != end - start + 1:
                raise ObjectMissing(f"{key}: expected {end - start + 1} bytes at {start}, S3 sent {received}")
            return pieces

        pending: list[asyncio.Task[list[bytes]]] = []
        starts = iter(range(0, size, chunk))
        try:
            for start in starts:
                pending.append(asyncio.create_task(fetch(start)))
                if len(pending) >= parallel:
                    break
            while pending:
                pieces = await pending.pop(0)
                following = next(starts, None)
                if following is not None:
                    pending.append(asyncio.create_task(fetch(following)))
                for piece in pieces:
                    yield piece
        finally:
            for task in pending:
                task.cancel()

    async def list_objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Every object under `prefix`, in key order (S3 lists by UTF-8 byte order), page by page."""
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(
                        key=item["Key"],
                        size=item["Size"],
                        etag=item["ETag"].strip('"'),
                        last_modified=item["LastModified"],
                    )
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(str(exc)) from exc

    async def multipart_upload_ids(self, key: str) -> list[str]:
        """Unfinished multipart uploads on exactly this key."""
        try:
            answer = await self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(str(exc)) from exc
        return [u["UploadId"] for u in answer.get("Uploads", []) if u.get("Key") == key and "UploadId" in u]

    async def is_multipart_upload_of(self, key: str, upload_id: str) -> bool:
        """Whether S3 holds an unfinished multipart upload with this id on exactly this key."""
        try:
            await self._client.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id, MaxParts=1)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404", "NoSuchKey"):
                return False
            raise StorageError(str(exc)) from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageError(str(exc)) from exc
        return True

    async def list_parts(self, key: str, upload_id: str) -> list[PartInfo] | None:
        """The uploaded parts, or None when S3 does not know this upload (finished, aborted, never begun)."""
        parts: list[PartInfo] = []
        marker = 0
        try:
            while True:
                answer = await self._client.list_parts(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=1000
                )
                for p in answer.get("Parts", []):
                    # SeaweedFS lists a part sent twice twice (newest first); keep the newest
                    if not parts or parts[-1].number != p["PartNumber"]:
                        parts.append(PartInfo(number=p["PartNumber"], size=p["Size"], etag=p["ETag"].strip('"')))
                if not answer.get("IsTruncated"):
                    return parts
                marker = int(answer.get("NextPartNumberMarker", 0))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404"):
                return None
            raise StorageError(str(exc)) from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageError(str(exc)) from exc

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        try:
            await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchUpload", "404"):
                raise StorageError(str(exc)) from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageError(str(exc)) from exc

    async def pending_uploads(self, prefix: str = "") -> AsyncIterator[PendingUpload]:
        paginator = self._client.get_paginator("list_multipart_uploads")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    yield PendingUpload(key=upload["Key"], upload_id=upload["UploadId"], initiated=upload["Initiated"])
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(str(exc)) from exc

    def presign_get(
        self, key: str, version_id: str | None, filename: str, content_type: str, expires: int, now: datetime
    ) -> str:
        """A GET URL for browsers (public endpoint), pinned to the version, saving under `filename` with the
        recorded type (whatever headers the object carries)."""
        return self._presigner.get_object(
            self.bucket,
            key,
            expires=expires,
            now=now,
            version_id=version_id,
            content_disposition=content_disposition(filename),
            content_type=content_type,
        )

    async def provision_bucket(self, cors_origins: list[str]) -> list[str]:
        """Create the bucket if missing; versioning on; CORS for browsers; a policy denying deletion.

        Returns warnings for the steps this S3 server does not support (e.g. community MinIO has no
        PutBucketCors); those are not fatal.
        """
        warnings: list[str] = []
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                await self._client.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise StorageError(f"cannot create bucket {self.bucket!r}: {exc}") from exc
        await self._client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        try:
            await self._client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration=cors_rules(cors_origins))
        except ClientError as exc:
            warnings.append(f"CORS not set ({exc}); configure it on the S3 server (MinIO: MINIO_API_CORS_ALLOW_ORIGIN)")
        try:
            await self._client.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(no_delete_policy(self.bucket)))
        except ClientError as exc:
            warnings.append(f"no-delete bucket policy not set ({exc})")
        for warning in warnings:
            log.warning(warning)
        return warnings


def content_disposition(filename: str) -> str:
    """attachment; with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    base = filename.rsplit("/", 1)[-1]
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in base)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(base, safe='')}"


def cors_rules(origins: list[str]) -> CORSConfigurationTypeDef:
    return {
        "CORSRules": [
            {
                "AllowedOrigins": origins or ["*"],
                "AllowedMethods": ["GET", "PUT", "POST", "DELETE", "HEAD"],
                "AllowedHeaders": ["*"],
                # Content-Range, Accept-Ranges, Content-Length: igv.js reads BAM/VCF/FASTA in byte ranges
                "ExposeHeaders": ["ETag", "x-amz-version-id", "Content-Range", "Accept-Ranges", "Content-Length"],
                "MaxAgeSeconds": 3600,
            }
        ]
    }


def no_delete_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OmicsdmNeverDeletes",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }


_STARTED = "omicsdm_started"


def instrument(client: S3Client) -> None:
    """Time every S3 API call of this client and count its failures (metrics.S3_DURATION, S3_ERRORS).

    The one place S3 calls are measured: botocore's call events fire once per API call, paginated
    pages and retries included, whichever Storage method (or provisioning step) made it.
    """
    events = client.meta.events
    events.register("before-call.s3", _call_started)
    events.register("after-call.s3", _call_answered)
    events.register("after-call-error.s3", _call_failed)


def _call_started(context: dict[str, Any] | None = None, **_: Any) -> None:
    if context is not None:
        context[_STARTED] = time.perf_counter()


def _call_answered(
    event_name: str = "", http_response: Any = None, context: dict[str, Any] | None = None, **_: Any
) -> None:
    status = getattr(http_response, "status_code", 0)
    # 4xx are answers (404 is how a missing object is told); 403 is not: credentials or policy are wrong.
    _observe(event_name, context, failed=status >= 500 or status == 403)


def _call_failed(event_name: str = "", context: dict[str, Any] | None = None, **_: Any) -> None:
    """No answer at all (refused, reset, timed out); botocore passes `exception` and `context` only."""
    _observe(event_name, context, failed=True)


def _observe(event_name: str, context: dict[str, Any] | None, *, failed: bool) -> None:
    # A metrics hook must never turn into the call's failure: botocore would raise it instead.
    try:
        metrics.s3_call(xform_name(event_name.rsplit(".", 1)[-1]), _elapsed(context or {}), failed)
    except Exception:  # pragma: no cover - defensive
        log.debug("S3 call metrics failed", exc_info=True)


def _elapsed(context: dict[str, Any]) -> float:
    now = time.perf_counter()
    started: float = context.get(_STARTED, now)
    return now - started


@asynccontextmanager
async def open_storage(settings: S3Settings) -> AsyncIterator[Storage]:
    config = AioConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=3,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=64,
    )
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key.get_secret_value(),
        config=config,
    ) as client:
        instrument(client)
        yield Storage(client, settings)
