"""A Python stand-in for EvaporateJS 2.1.4 (V4, sendCanonicalRequestToSignerUrl, computeContentMd5).

It builds canonical requests exactly the way evaporate.js does (see AwsSignatureV4 in its source),
asks the service's signer for each signature, and sends the signed request over real HTTP to S3.
Tests use `signer_query` alone to forge requests.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

UNSIGNED = "UNSIGNED-PAYLOAD"


def amz_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def canonical_query(query: str) -> str:
    """evaporate.js canonicalQueryString: split, encodeURIComponent, sort by name, 'name=' when empty."""
    if not query:
        return ""
    items = []
    for part in query.lstrip("?").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        items.append((quote(name, safe="-_.!~*'()"), quote(value, safe="-_.!~*'()")))
    items.sort(key=lambda item: item[0])
    return "&".join(f"{n}={v}" for n, v in items)


@dataclass
class Request:
    method: str
    query: str  # e.g. "?partNumber=1&uploadId=abc"
    headers: dict[str, str]  # lower-case, signed
    payload_hash: str
    path: str

    def canonical(self) -> str:
        names = sorted(self.headers)
        header_lines = "\n".join(f"{n}:{self.headers[n]}" for n in names)
        return "\n".join(
            [
                self.method,
                self.path,
                canonical_query(self.query),
                header_lines + "\n",
                ";".join(names),
                self.payload_hash,
            ]
        )


def string_to_sign(amz_date: str, region: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"AWS4-HMAC-SHA256\n{amz_date}\n{amz_date[:8]}/{region}/s3/aws4_request\n{digest}"


@dataclass
class EvaporateClient:
    api: httpx.AsyncClient  # talks to the service (signer)
    upload: dict[str, Any]  # the service's UploadOut
    s3: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=60))
    s3_upload_id: str | None = None
    sent_parts: list[int] = field(default_factory=list)
    signer_calls: int = 0

    @property
    def host(self) -> str:
        return urlsplit(self.upload["s3_url"]).netloc

    @property
    def path(self) -> str:
        return f"/{self.upload['bucket']}/{self.upload['object_key']}"

    def request(
        self, method: str, query: str, *, md5: str | None = None, payload_hash: str | None = None, amz_date: str = ""
    ) -> Request:
        headers = {"host": self.host, "x-amz-date": amz_date or amz_now()}
        if md5:
            headers["content-md5"] = md5
        if self.upload.get("content_type"):
            headers["content-type"] = self.upload["content_type"]
        return Request(method, query, headers, payload_hash or hashlib.sha256(b"").hexdigest(), self.path)

    def signer_query(self, req: Request, *, region: str | None = None, token: str | None = None) -> dict[str, str]:
        canonical = req.canonical()
        amz_date = req.headers["x-amz-date"]
        return {
            "to_sign": string_to_sign(amz_date, region or self.upload["region"], canonical),
            "datetime": amz_date,
            "canonical_request": canonical,
            "upload_token": token or self.upload["sign_params"]["upload_token"],
        }

    async def sign(self, req: Request, **kwargs: Any) -> httpx.Response:
        self.signer_calls += 1
        return await self.api.get(self.upload["signer_url"], params=self.signer_query(req, **kwargs))

    async def send(
        self, req: Request, body: bytes = b"", unsigned_headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Sign through the service, then send to S3 (plus headers outside the signature, as an attacker may)."""
        signed = await self.sign(req)
        if signed.status_code != 200:
            raise SignerRefused(signed.status_code, signed.text)
        amz_date = req.headers["x-amz-date"]
        credential = f"{self.upload['access_key_id']}/{amz_date[:8]}/{self.upload['region']}/s3/aws4_request"
        headers = {k: v for k, v in req.headers.items() if k != "host"}
        headers["x-amz-content-sha256"] = req.payload_hash
        headers.update(unsigned_headers or {})
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={';'.join(sorted(req.headers))}, "
            f"Signature={signed.text}"
        )
        return await self.s3.request(
            req.method, self.upload["s3_url"] + self.path + req.query, headers=headers, content=body
        )

    async def initiate(self, unsigned_headers: dict[str, str] | None = None) -> str:
        response = await self.send(self.request("POST", "?uploads"), unsigned_headers=unsigned_headers)
        response.raise_for_status()
        match = re.search(r"<UploadId>(.+)</UploadId>", response.text)
        assert match, response.text
        self.s3_upload_id = match.group(1)
        return self.s3_upload_id

    async def put_part(self, number: int, data: bytes) -> str:
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        req = self.request("PUT", f"?partNumber={number}&uploadId={self.s3_upload_id}", md5=md5, payload_hash=UNSIGNED)
        response = await self.send(req, data)
        response.raise_for_status()
        self.sent_parts.append(number)
        return response.headers["etag"]

    async def list_parts(self) -> dict[int, str]:
        req = self.request("GET", f"?uploadId={self.s3_upload_id}&part-number-marker=0")
        response = await self.send(req)
        response.raise_for_status()
        numbers = re.findall(r"<PartNumber>(\d+)</PartNumber>", response.text)
        etags = re.findall(r"<ETag>(.+?)</ETag>", response.text)
        return {int(n): e.replace("&#34;", '"').replace("&quot;", '"') for n, e in zip(numbers, etags, strict=True)}

    async def complete_s3(self, etags: dict[int, str]) -> httpx.Response:
        body = (
            "<CompleteMultipartUpload>"
            + "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etags[n]}</ETag></Part>" for n in sorted(etags))
            + "</CompleteMultipartUpload>"
        )
        data = body.encode()
        req = self.request("POST", f"?uploadId={self.s3_upload_id}", payload_hash=hashlib.sha256(data).hexdigest())
        response = await self.send(req, data)
        response.raise_for_status()
        return response

    async def abort(self) -> httpx.Response:
        return await self.send(self.request("DELETE", f"?uploadId={self.s3_upload_id}"))

    def parts_of(self, data: bytes) -> list[bytes]:
        size = self.upload["part_size"]
        return [data[i : i + size] for i in range(0, len(data), size)] or [b""]

    async def upload_bytes(self, data: bytes, *, stop_after: int | None = None) -> dict[int, str]:
        """Initiate, then send parts (all, or only the first `stop_after`), then complete in S3."""
        if self.s3_upload_id is None:
            await self.initiate()
        etags: dict[int, str] = {}
        for number, chunk in enumerate(self.parts_of(data), start=1):
            if stop_after is not None and number > stop_after:
                return etags
            etags[number] = await self.put_part(number, chunk)
        await self.complete_s3(etags)
        return etags

    async def resume(self, data: bytes) -> dict[int, str]:
        """What evaporate.js does after a reload: ListParts first, then only the missing parts."""
        etags = await self.list_parts()
        for number, chunk in enumerate(self.parts_of(data), start=1):
            if number not in etags:
                etags[number] = await self.put_part(number, chunk)
        await self.complete_s3(etags)
        return etags

    async def aclose(self) -> None:
        await self.s3.aclose()


class SignerRefused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def part_md5s(data: bytes, part_size: int) -> list[str]:
    return [hashlib.md5(data[i : i + part_size]).hexdigest() for i in range(0, len(data), part_size)]
