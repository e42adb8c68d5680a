"""What the signer agrees to sign: exactly the S3 requests of one multipart upload to its own key.

A signer that signs whatever it is sent is a signing oracle (DeleteObject, GetObject of others'
files, CopyObject...). Every request is checked against the upload it claims to belong to, and
anything not on the allow-list is refused with the reason.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from omicsdm.signing.sigv4 import (
    ALGORITHM,
    UNSIGNED_PAYLOAD,
    CanonicalRequest,
    MalformedRequest,
    parse_canonical_request,
    scope,
    string_to_sign,
)

MAX_PARTS = 10_000
CLOCK_SKEW = timedelta(minutes=15)
ALLOWED_HEADERS = frozenset({"host", "x-amz-date", "content-md5", "content-type", "x-amz-content-sha256"})
# Always used with fullmatch: `$` alone would accept a trailing newline ("1\n" as a part number).
_AMZ_DATETIME = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
_DIGITS = re.compile(r"[1-9][0-9]{0,5}|0", re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Operation(enum.StrEnum):
    INITIATE = "initiate"
    UPLOAD_PART = "upload_part"
    LIST_PARTS = "list_parts"
    COMPLETE = "complete"
    ABORT = "abort"


# (method, sorted query parameter names) -> operation; nothing else is ever signed.
_SHAPES: dict[tuple[str, tuple[str, ...]], Operation] = {
    ("POST", ("uploads",)): Operation.INITIATE,
    ("PUT", ("partNumber", "uploadId")): Operation.UPLOAD_PART,
    ("GET", ("part-number-marker", "uploadId")): Operation.LIST_PARTS,
    ("GET", ("uploadId",)): Operation.LIST_PARTS,
    ("POST", ("uploadId",)): Operation.COMPLETE,
    ("DELETE", ("uploadId",)): Operation.ABORT,
}


ALREADY_INITIATED = "upload-already-initiated"  # problem codes clients act on (resume from elsewhere)
OTHER_UPLOAD_ID = "upload-id-mismatch"


class SigningRefused(Exception):
    def __init__(self, reason: str, code: str = "signing-refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """What the service allocated for one upload: the only things its signatures may touch."""

    upload_id: uuid.UUID
    bucket: str
    object_key: str
    host: str
    region: str
    content_type: str
    part_count: int
    s3_upload_id: str | None


@dataclass(frozen=True, slots=True)
class SigningRequest:
    operation: Operation
    s3_upload_id: str | None
    part_number: int | None
    canonical: CanonicalRequest


def check(grant: UploadGrant, to_sign: str, amz_datetime: str, canonical: str, now: datetime) -> SigningRequest:
    """The request to sign, if and only if every rule holds; SigningRefused(reason) otherwise."""
    _check_datetime(amz_datetime, now)
    try:
        request = parse_canonical_request(canonical)
    except MalformedRequest as exc:
        raise SigningRefused(str(exc)) from exc
    _check_string_to_sign(grant, to_sign, amz_datetime, canonical)
    _check_headers(grant, request, amz_datetime)
    expected_path = f"/{grant.bucket}/{grant.object_key}"
    if request.path != expected_path:
        raise SigningRefused(f"path {request.path[:200]!r} is not this upload's object")
    operation = _SHAPES.get((request.method, tuple(sorted(request.query))))
    if operation is None:
        params = ",".join(sorted(request.query)) or "none"
        raise SigningRefused(f"{request.method} with query parameters [{params}] is not a multipart upload step")
    s3_upload_id = request.query.get("uploadId")
    if operation is Operation.INITIATE:
        if grant.s3_upload_id is not None:
            raise SigningRefused("this upload was already initiated", ALREADY_INITIATED)
        if request.query["uploads"] != "":
            raise SigningRefused("malformed uploads parameter")
        # Signed, so S3 stores exactly the declared type (completion compares it again).
        if "content-type" not in request.headers:
            raise SigningRefused("initiate must sign the content-type declared when the upload started")
        if request.headers["content-type"] != grant.content_type:
            raise SigningRefused("content-type differs from the one declared when the upload started")
    else:
        if not s3_upload_id:
            raise SigningRefused("missing uploadId")
        if grant.s3_upload_id is not None and s3_upload_id != grant.s3_upload_id:
            raise SigningRefused("uploadId belongs to another upload", OTHER_UPLOAD_ID)
    part_number = None
    if operation is Operation.UPLOAD_PART:
        part_number = _part_number(request.query["partNumber"], grant.part_count)
        _check_part_payload(request)
    else:
        if not _HEX64.fullmatch(request.payload_hash):
            raise SigningRefused("payload hash must be the SHA-256 of the body")
        if operation is Operation.LIST_PARTS and not _DIGITS.fullmatch(request.query.get("part-number-marker", "0")):
            raise SigningRefused("part-number-marker must be a number")
    return SigningRequest(operation, s3_upload_id, part_number, request)


@lru_cache(maxsize=256)
def _parse_amz_datetime(amz_datetime: str) -> datetime | None:
    """strptime is the slowest check; a browser signs many parts within the same second."""
    try:
        return datetime.strptime(amz_datetime, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _check_datetime(amz_datetime: str, now: datetime) -> datetime:
    if not _AMZ_DATETIME.fullmatch(amz_datetime):
        raise SigningRefused("datetime must look like 20240101T120000Z")
    when = _parse_amz_datetime(amz_datetime)
    if when is None:
        raise SigningRefused("datetime is not a real date")
    if abs(when - now) > CLOCK_SKEW:
        raise SigningRefused("datetime is more than 15 minutes away from the server's clock")
    return when


def _check_string_to_sign(grant: UploadGrant, to_sign: str, amz_datetime: str, canonical: str) -> None:
    parts = to_sign.split("\n")
    if len(parts) != 4 or parts[0] != ALGORITHM:
        raise SigningRefused("to_sign is not an AWS4-HMAC-SHA256 string to sign")
    if parts[1] != amz_datetime:
        raise SigningRefused("to_sign's date differs from datetime")
    if parts[2] != scope(amz_datetime[:8], grant.region):  # the date of the checked datetime
        raise SigningRefused(f"to_sign's credential scope {parts[2]!r} is not this server's region and date")
    if to_sign != string_to_sign(amz_datetime, grant.region, canonical):
        raise SigningRefused("to_sign does not match the canonical request")


def _check_headers(grant: UploadGrant, request: CanonicalRequest, amz_datetime: str) -> None:
    for name in request.signed_headers:
        if name.startswith("x-amz-copy-source"):
            raise SigningRefused("copying from another object is never signed")
        if name not in ALLOWED_HEADERS:
            raise SigningRefused(f"header {name!r} may not be signed")
    if request.headers.get("host", "").lower() != grant.host:
        raise SigningRefused(f"host {request.headers.get('host', '')[:100]!r} is not the configured S3 endpoint")
    if request.headers.get("x-amz-date") != amz_datetime:
        raise SigningRefused("x-amz-date header differs from datetime")


def _part_number(raw: str, part_count: int) -> int:
    if not _DIGITS.fullmatch(raw):
        raise SigningRefused("partNumber must be a number")
    number = int(raw)
    limit = min(MAX_PARTS, part_count)
    if not 1 <= number <= limit:
        raise SigningRefused(f"partNumber {number} is outside 1..{limit} for this upload's size")
    return number


def _check_part_payload(request: CanonicalRequest) -> None:
    if request.payload_hash != UNSIGNED_PAYLOAD and not _HEX64.fullmatch(request.payload_hash):
        raise SigningRefused("payload hash must be UNSIGNED-PAYLOAD or a SHA-256")
    md5 = request.headers.get("content-md5")
    if md5 is None:
        raise SigningRefused("parts must carry a signed Content-MD5")
    try:
        if len(base64.b64decode(md5, validate=True)) != 16:
            raise SigningRefused("Content-MD5 is not an MD5 digest")
    except binascii.Error as exc:
        raise SigningRefused("Content-MD5 is not base64") from exc
