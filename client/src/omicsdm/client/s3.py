"""S3 multipart requests signed by the omicsdm signer, built exactly as EvaporateJS builds them.

The signer signs only the steps of one upload (Initiate, UploadPart, ListParts, Complete, Abort on the
upload's own key): see omicsdm/signing/policy.py. Signed headers are host;x-amz-date plus content-md5
on parts and content-type on Initiate; parts are UNSIGNED-PAYLOAD, everything else carries the SHA-256
of its body. x-amz-content-sha256 is sent but not signed, as EvaporateJS does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from omicsdm.client.api import ApiClient
from omicsdm.client.errors import ClientError, ExitCode, IntegrityError, TransferError
from omicsdm.client.models import Upload
from omicsdm.client.transport import Reply, Transport, TransportError
from omicsdm.signing.sigv4 import UNSIGNED_PAYLOAD, host_header, string_to_sign

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_CODES = frozenset({"RequestTimeout", "RequestTimeTooSkewed", "SlowDown", "InternalError", "ServiceUnavailable"})


@dataclass(frozen=True, slots=True)
class PartInfo:
    number: int
    size: int
    etag: str  # hex, no quotes


class S3Failure(TransferError):
    def __init__(self, operation: str, status: int, code: str, message: str) -> None:
        self.status, self.s3_code = status, code
        super().__init__(f"S3 refused {operation}: HTTP {status} {code} {message}".rstrip())


@dataclass(frozen=True, slots=True)
class Signed:
    """One request's signature from the service, usable for a while (the signer allows 15 minutes of skew)."""

    amz_date: str
    signed_headers: str
    signature: str
    made: float  # time.monotonic()


PRESIGNED_FOR_SECONDS = 300.0


def amz_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def canonical_query(params: Mapping[str, str]) -> str:
    """SigV4: names and values URI-encoded (unreserved characters kept), sorted by name, 'name=' if empty."""
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items())
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], payload_hash: str
) -> tuple[str, str]:
    """(canonical request, signed header names) in SigV4 layout."""
    names = sorted(headers)
    lines = "".join(f"{n}:{headers[n]}\n" for n in names)
    signed = ";".join(names)
    return f"{method}\n{path}\n{query}\n{lines}\n{signed}\n{payload_hash}", signed


class SignedS3:
    """The multipart steps of one upload, each signed by the service, sent straight to S3."""

    def __init__(self, api: ApiClient, transport: Transport, upload: Upload, *, retries: int = 6) -> None:
        self.api, self.transport, self.upload = api, transport, upload
        self.retries = retries
        self.host = host_header(upload.s3_url)
        self.path = f"/{upload.bucket}/{upload.object_key}"

    async def _send(
        self,
        operation: str,
        method: str,
        params: Mapping[str, str],
        body: bytes | memoryview = b"",
        *,
        extra_headers: Mapping[str, str] | None = None,
        payload_hash: str | None = None,
        ok: frozenset[int] = frozenset({200}),
        missing_ok: bool = False,
        presigned: Signed | None = None,
    ) -> Reply | None:
        """Sign and send, retrying transient failures (each retry signed afresh; the first attempt may use
        `presigned`, made by `_sign` with the same arguments); None on NoSuchUpload when `missing_ok`."""
        payload = payload_hash or hashlib.sha256(body).hexdigest()
        query = canonical_query(params)
        attempt = 0
        while True:
            attempt += 1
            if attempt == 1 and presigned is not None and time.monotonic() - presigned.made < PRESIGNED_FOR_SECONDS:
                signed = presigned
            else:
                signed = await self._sign(method, query, extra_headers, payload)
            amz_date = signed.amz_date
            credential = f"{self.upload.access_key_id}/{amz_date[:8]}/{self.upload.region}/s3/aws4_request"
            send_headers = {"x-amz-date": amz_date, **(extra_headers or {})}
            send_headers["x-amz-content-sha256"] = payload
            send_headers["authorization"] = (
                f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed.signed_headers}, "
                f"Signature={signed.signature}"
            )
            url = f"{self.upload.s3_url.rstrip('/')}{self.path}?{query}"
            try:
                response = await self.transport.request(method, url, send_headers, body)
            except TransportError as exc:
                if attempt > self.retries:
                    raise ClientError(f"S3 unreachable during {operation}: {exc}", ExitCode.UNAVAILABLE) from exc
            else:
                code, message = _s3_error(response)
                if response.status in ok and not code:
                    return response
                if missing_ok and code == "NoSuchUpload":
                    return None
                transient = response.status in RETRY_STATUSES or code in RETRY_CODES
                if not transient or attempt > self.retries:
                    raise S3Failure(operation, response.status, code, message)
            await asyncio.sleep(min(0.5 * 2**attempt, 30.0) * (0.5 + random.random()))  # noqa: S311

    async def _sign(self, method: str, query: str, extra_headers: Mapping[str, str] | None, payload: str) -> Signed:
        amz_date = amz_now()
        headers = {"host": self.host, "x-amz-date": amz_date, **(extra_headers or {})}
        canonical, signed_headers = canonical_request(method, self.path, query, headers, payload)
        signature = await self.api.sign(
            self.upload, string_to_sign(amz_date, self.upload.region, canonical), amz_date, canonical
        )
        return Signed(amz_date, signed_headers, signature, time.monotonic())

    async def initiate(self) -> str:
        response = await self._send(
            "CreateMultipartUpload",
            "POST",
            {"uploads": ""},
            extra_headers={"content-type": self.upload.content_type},
        )
        assert response is not None
        upload_id = _xml_text(response.body, "UploadId")
        if not upload_id:
            raise TransferError("S3 answered CreateMultipartUpload without an UploadId")
        return upload_id

    async def sign_part(self, s3_upload_id: str, number: int, md5_hex: str) -> Signed:
        """The signature `put_part` needs, obtained ahead (e.g. while waiting for a free connection)."""
        query = canonical_query({"partNumber": str(number), "uploadId": s3_upload_id})
        return await self._sign("PUT", query, {"content-md5": _b64(md5_hex)}, UNSIGNED_PAYLOAD)

    async def put_part(
        self, s3_upload_id: str, number: int, data: bytes | memoryview, md5_hex: str, presigned: Signed | None = None
    ) -> str:
        response = await self._send(
            f"UploadPart {number}",
            "PUT",
            {"partNumber": str(number), "uploadId": s3_upload_id},
            data,
            extra_headers={"content-md5": _b64(md5_hex)},
            payload_hash=UNSIGNED_PAYLOAD,
            presigned=presigned,
        )
        assert response is not None
        etag = response.headers.get("etag", "").strip('"').lower()
        if etag and etag != md5_hex:
            raise IntegrityError(f"S3 stored part {number} with ETag {etag}, but its MD5 is {md5_hex}")
        return md5_hex

    async def list_parts(self, s3_upload_id: str) -> dict[int, PartInfo] | None:
        """The parts S3 holds, or None when it no longer knows the multipart upload."""
        parts: dict[int, PartInfo] = {}
        marker = 0
        while True:
            response = await self._send(
                "ListParts",
                "GET",
                {"part-number-marker": str(marker), "uploadId": s3_upload_id},
                missing_ok=True,
            )
            if response is None:
                return None
            root = _xml(response.body)
            for part in _children(root, "Part"):
                number = int(_child_text(part, "PartNumber") or 0)
                etag = (_child_text(part, "ETag") or "").strip('"').lower()
                if number in parts and parts[number].etag != etag:
                    # SeaweedFS lists every upload of a part number that was sent twice; which one
                    # Complete takes is not ours to guess, so such a part counts as unknown (resent).
                    etag = ""
                parts[number] = PartInfo(number, int(_child_text(part, "Size") or 0), etag)
            truncated = (_child_text(root, "IsTruncated") or "false").lower() == "true"
            next_marker = int(_child_text(root, "NextPartNumberMarker") or 0)
            if not truncated or next_marker <= marker:
                return parts
            marker = next_marker

    async def complete(self, s3_upload_id: str, md5s: list[str]) -> bool:
        """CompleteMultipartUpload; False when S3 no longer knows the upload (e.g. completed before)."""
        body = (
            "<CompleteMultipartUpload>"
            + "".join(f'<Part><PartNumber>{n}</PartNumber><ETag>"{m}"</ETag></Part>' for n, m in enumerate(md5s, 1))
            + "</CompleteMultipartUpload>"
        ).encode()
        response = await self._send(
            "CompleteMultipartUpload", "POST", {"uploadId": s3_upload_id}, body, missing_ok=True
        )
        return response is not None

    async def abort(self, s3_upload_id: str) -> None:
        await self._send(
            "AbortMultipartUpload", "DELETE", {"uploadId": s3_upload_id}, ok=frozenset({200, 204}), missing_ok=True
        )


def _b64(md5_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(md5_hex)).decode()


def _xml(content: bytes) -> ET.Element:
    try:
        return ET.fromstring(content)  # noqa: S314 - the configured S3 server's answer; expat refuses entity bombs
    except ET.ParseError as exc:
        raise TransferError(f"S3 sent a malformed XML answer: {exc}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


def _xml_text(content: bytes, name: str) -> str | None:
    return _child_text(_xml(content), name)


def _s3_error(response: Reply) -> tuple[str, str]:
    """(code, message) of an S3 error body; S3 may send one with 200 for CompleteMultipartUpload."""
    content, status = response.body, response.status
    if status < 300 and b"<Error>" not in content[:512]:
        return "", ""
    fallback = f"HTTP{status}" if status >= 300 else ""
    try:
        root = ET.fromstring(content)  # noqa: S314 - as above
    except ET.ParseError:
        return fallback, content[:200].decode("utf-8", "replace")
    if _local(root.tag) != "Error":
        return fallback, ""
    return _child_text(root, "Code") or f"HTTP{status}", _child_text(root, "Message") or ""
