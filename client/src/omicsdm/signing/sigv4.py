"""AWS Signature Version 4 pieces the signer needs: parse a canonical request, rebuild the string to
sign, derive the (cached) signing key and compute the signature. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class MalformedRequest(ValueError):
    """The canonical request is not in SigV4's canonical form."""


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    method: str
    path: str
    query: dict[str, str]  # decoded names and values
    headers: dict[str, str]  # lower-case name -> value, as signed
    signed_headers: tuple[str, ...]
    payload_hash: str
    raw: str


def parse_canonical_request(raw: str) -> CanonicalRequest:
    """METHOD, URI, QUERY, header lines, blank line, SIGNED-HEADERS, PAYLOAD-HASH, separated by \\n."""
    lines = raw.split("\n")
    if len(lines) < 7 or lines[-3] != "":
        raise MalformedRequest("canonical request does not have the SigV4 layout")
    method, path, query_string = lines[0], lines[1], lines[2]
    header_lines, signed, payload = lines[3:-3], lines[-2], lines[-1]
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.lower() or name.strip() != name:
            raise MalformedRequest(f"malformed canonical header line {line[:60]!r}")
        if name in headers:
            raise MalformedRequest(f"header {name} appears twice")
        headers[name] = value
    signed_headers = tuple(signed.split(";")) if signed else ()
    if list(signed_headers) != sorted(headers) or len(set(signed_headers)) != len(signed_headers):
        raise MalformedRequest("signed headers do not match the canonical headers")
    query: dict[str, str] = {}
    if query_string:
        pairs = query_string.split("&")
        names = [p.partition("=")[0] for p in pairs]
        if names != sorted(names):
            raise MalformedRequest("query parameters are not in canonical order")
        for pair in pairs:
            name, _, value = pair.partition("=")
            key = unquote(name)
            if key in query:
                raise MalformedRequest(f"query parameter {key} appears twice")
            query[key] = unquote(value)
    return CanonicalRequest(
        method=method,
        path=path,
        query=query,
        headers=headers,
        signed_headers=signed_headers,
        payload_hash=payload,
        raw=raw,
    )


def host_header(url: str) -> str:
    """host[:port] of an endpoint URL exactly as an HTTP client sends it in Host (default port dropped)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_port = 80 if parts.scheme == "http" else 443
    return host if parts.port in (None, default_port) else f"{host}:{parts.port}"


def scope(date: str, region: str) -> str:
    return f"{date}/{region}/s3/aws4_request"


def string_to_sign(amz_datetime: str, region: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_datetime}\n{scope(amz_datetime[:8], region)}\n{digest}"


@lru_cache(maxsize=32)
def signing_key(secret: str, date: str, region: str) -> bytes:
    """kSigning for one day and region; cached because it is the same for every request that day."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, region.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"s3", hashlib.sha256).digest()
    return hmac.new(key, b"aws4_request", hashlib.sha256).digest()


def signature(secret: str, date: str, region: str, to_sign: str) -> str:
    return hmac.new(signing_key(secret, date, region), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
