"""The S3 byte path's interface, and the choice of the library that carries it.

Uploads and downloads send a few kinds of request straight to S3: signed multipart steps and ranged GETs
of presigned URLs. They need one thing of a transport: `stream(method, url, headers, body)` giving the
status, the headers and the body, either whole (`read()`, small XML answers) or in pieces received into
buffers the caller supplies (`chunks(supply)`, downloads). Three transports do that:

- `wire` (client/wire.py): a small HTTP/1.1 client on an asyncio BufferedProtocol; the kernel receives a
  download straight into the caller's buffer.
- `httpx`: the library the API client uses (httpcore + h11).
- `aiohttp`: aiobotocore's HTTP stack (optional: `pip install aiohttp`).

The rules every transport follows are here, once: 307/308 redirects are followed (the same method and
body, at most MAX_REDIRECTS, credentials dropped on the way to another origin); an idempotent request
whose connection closed before any answer is sent once more on a fresh connection; failures of the
connection (refused, reset, stalled for `stall_timeout`, a malformed answer, TLS) raise TransportError.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from omicsdm.client.config import config_path, read_file
from omicsdm.client.errors import ClientError, ExitCode

TRANSPORTS = ("wire", "httpx", "aiohttp")
DEFAULT_TRANSPORT = "wire"
TRANSPORT_ENV = "OMICSDM_TRANSPORT"
CA_BUNDLE_ENV = "OMICSDM_CA_BUNDLE"
MAX_REDIRECTS = 5
REDIRECTS = frozenset({307, 308})  # the ones that keep method and body; S3 sends 307 TemporaryRedirect
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
CREDENTIALS = frozenset({"authorization", "cookie", "x-amz-security-token"})


class TransportError(Exception):
    """The connection failed, stalled or carried something that is not HTTP; the request may be retried."""


def library_failure(exc: BaseException) -> TransportError:
    """A library's connection error as the one error every transport raises (`raise library_failure(e) from e`)."""
    return TransportError(f"{type(exc).__name__}: {exc or 'no detail'}")


class ClosedBeforeAnswer(TransportError):
    """The server closed the connection before sending any byte of an answer (e.g. an idle keep-alive
    connection it had just timed out): safe to send an idempotent request again."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


# Buffers for a streamed body: each piece arrives in a buffer from `supply()`, filled from its start, and
# is yielded as (buffer, length); the buffer is the consumer's from then on (to write, hash, pool).
Supply = Callable[[], memoryview]


class Stream(Protocol):
    status: int
    headers: dict[str, str]  # lower-case names

    async def read(self) -> bytes: ...

    def chunks(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]: ...


class Transport(Protocol):
    name: str

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview = b""
    ) -> Reply: ...

    def stream(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview = b""
    ) -> contextlib.AbstractAsyncContextManager[Stream]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TransportOptions:
    stall_timeout: float = 120.0  # no byte sent or received for this long: TransportError
    connect_timeout: float = 20.0
    ca_bundle: str | None = None  # a PEM file of CA certificates to trust (else the system/certifi store)


class BaseTransport:
    """The shared rules (redirects, one more try on a fresh connection) around a transport's `_open`."""

    name = "base"

    def __init__(self, options: TransportOptions | None = None) -> None:
        self.options = options or TransportOptions()

    def _open(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview, *, fresh: bool
    ) -> contextlib.AbstractAsyncContextManager[Stream]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview = b"") -> Reply:
        async with self.stream(method, url, headers, body) as response:
            return Reply(response.status, response.headers, await response.read())

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview = b""
    ) -> AsyncIterator[Stream]:
        method = method.upper()
        headers = dict(headers)
        for _ in range(MAX_REDIRECTS + 1):
            _check_url(url)
            async with self._open_once_more(method, url, headers, body) as response:
                location = response.headers.get("location")
                if response.status not in REDIRECTS or not location:
                    yield response
                    return
                await response.read()  # drain it, so the connection can be reused
            target = urljoin(url, location)
            if _origin(target) != _origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIALS}
            url = target
        raise TransportError(f"more than {MAX_REDIRECTS} redirects, last to {url[:100]!r}")

    @contextlib.asynccontextmanager
    async def _open_once_more(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview
    ) -> AsyncIterator[Stream]:
        answered = False
        try:
            async with self._open(method, url, headers, body, fresh=False) as response:
                answered = True
                yield response
                return
        except ClosedBeforeAnswer:
            if answered or method not in IDEMPOTENT:
                raise
        async with self._open(method, url, headers, body, fresh=True) as response:
            yield response


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {url[:100]!r}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The trust every transport uses: `ca_bundle` when given, else the same store as the API client
    (httpx's: certifi, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return httpx.create_ssl_context()


def _stored(env: Mapping[str, str]) -> dict[str, str]:
    return read_file(config_path(env))


def transport_name(setting: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The transport chosen: `setting` (the CLI's --transport), else $OMICSDM_TRANSPORT, else the config
    file's `transport`, else the default."""
    env = os.environ if env is None else env
    name = setting or env.get(TRANSPORT_ENV) or _stored(env).get("transport") or DEFAULT_TRANSPORT
    name = name.strip().lower()
    if name not in TRANSPORTS:
        raise ClientError(f"unknown transport {name!r}: choose one of {', '.join(TRANSPORTS)}", ExitCode.USAGE)
    return name


def make_transport(
    name: str | None = None, options: TransportOptions | None = None, env: Mapping[str, str] | None = None
) -> Transport:
    """A transport by name (see `transport_name`); the CA bundle is $OMICSDM_CA_BUNDLE, else the config
    file's `ca_bundle`, else the system's trust store."""
    env = os.environ if env is None else env
    chosen = transport_name(name, env)
    if options is None:
        options = TransportOptions(ca_bundle=env.get(CA_BUNDLE_ENV) or _stored(env).get("ca_bundle") or None)
    if chosen == "httpx":
        from omicsdm.client.transport_httpx import HttpxTransport

        return HttpxTransport(options)
    if chosen == "aiohttp":
        from omicsdm.client.transport_aiohttp import AiohttpTransport

        return AiohttpTransport(options)
    from omicsdm.client.wire import Wire  # they import this module

    return Wire(options)


async def copy_into(pieces: AsyncIterator[bytes | bytearray], supply: Supply) -> AsyncIterator[tuple[memoryview, int]]:
    """Pieces of a body (as libraries hand them out) copied into the caller's buffers, each filled."""
    buffer, filled = supply(), 0
    async for piece in pieces:
        view = memoryview(piece)
        while view:
            take = min(len(view), len(buffer) - filled)
            buffer[filled : filled + take] = view[:take]
            filled += take
            view = view[take:]
            if filled == len(buffer):
                yield buffer, filled
                buffer, filled = supply(), 0
    if filled:
        yield buffer, filled
