"""The byte path to S3: a lean HTTP/1.1 client on an asyncio BufferedProtocol.

Why not httpx here: on a 2-core machine its per-chunk machinery (64 KiB reads, h11's buffer copies,
anyio cancel scopes) spent twice boto3's CPU per byte and held downloads to 0.7x boto3's speed. Here
the kernel writes a download straight into the caller's buffer (no copies in Python) and part bodies
go out in slices under flow control. Only what S3 needs: one request at a time per connection,
Content-Length, chunked and until-close bodies, keep-alive, TLS with httpx's trust settings. When a
proxy applies to the S3 host (HTTP(S)_PROXY), requests go through httpx instead, which speaks proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

HEAD_LIMIT = 64 * 1024
COLLECT_LIMIT = 16 * 1024 * 1024  # small answers only (XML); downloads stream into the caller's buffer
WRITE_SLICE = 1024 * 1024


class WireError(Exception):
    """The connection failed or stalled; the request may be retried."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class Stream(Protocol):
    status: int
    headers: dict[str, str]

    async def read(self) -> bytes: ...

    def chunks(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]: ...


Key = tuple[str, str, int]
# Buffers for a streamed body: each piece arrives in a buffer from `supply()`, filled from its start, and
# is yielded as (buffer, length); the buffer is the consumer's from then on (to write, hash, pool).
Supply = Callable[[], memoryview]


class _Connection(asyncio.BufferedProtocol):
    """One HTTP/1.1 connection; parses one response at a time."""

    def __init__(self, stall: float) -> None:
        self.stall = stall
        self.transport: asyncio.Transport | None = None
        self.scratch = memoryview(bytearray(HEAD_LIMIT))
        self.closed = False
        self.error: BaseException | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.reset(head_only=False)

    def reset(self, *, head_only: bool) -> None:
        self.phase = "head"  # head -> wait (paused until the reader chooses) -> sink | collect -> done
        self.no_body = head_only
        self.head = bytearray()
        self.pending = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.remaining = -1  # body bytes to come; -1 = until the connection closes
        self.chunked = False
        self.raw = bytearray()  # collected body (chunked: still framed)
        self.sink: memoryview | None = None
        self.sink_pos = 0
        self.got_bytes = False
        self.eof = False  # the server closed: the end of an until-close body
        self.waiter: asyncio.Future[None] | None = None

    # --- asyncio callbacks ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.phase == "sink" and self.sink is not None:
            want = len(self.sink) - self.sink_pos
            if self.remaining >= 0:
                want = min(want, self.remaining)
            if want > 0:
                return self.sink[self.sink_pos : self.sink_pos + want]
        return self.scratch

    def buffer_updated(self, nbytes: int) -> None:
        self.got_bytes = True
        if self.phase == "sink" and self.sink is not None:
            self.sink_pos += nbytes
            if self.remaining > 0:
                self.remaining -= nbytes
            if self.remaining == 0 or self.sink_pos == len(self.sink):
                self._pause()
                self._wake()
            return
        self.feed(bytes(self.scratch[:nbytes]))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()
        if self.phase in ("wait", "collect", "sink") and self.remaining < 0 and not self.chunked and exc is None:
            self.eof = True  # an until-close body ends here
            if self.phase != "wait":
                self.phase = "done"
        elif self.phase not in ("done", "wait") and self.error is None:
            self.error = WireError(f"connection closed by the server ({exc or 'EOF'})")
        self._wake()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # --- parsing ---

    def feed(self, data: bytes) -> None:
        if self.phase == "head":
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > HEAD_LIMIT:
                    self._fail(WireError("response headers too long"))
                return
            try:
                self._parse_head(bytes(self.head[:end]))
            except (ValueError, IndexError) as exc:
                self._fail(WireError(f"malformed response: {exc}"))
                return
            self.pending = bytes(self.head[end + 4 :])
            self.phase = "wait"
            self._pause()
            self._wake()
        elif self.phase == "collect":
            self._collect(data)
        elif data:
            self._fail(WireError("the server sent bytes nobody asked for"))

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not HTTP/1.x: {lines[0][:80]!r}")
        self.status = int(status)
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if self.no_body or self.status in (204, 304) or 100 <= self.status < 200:
            self.remaining = 0
        elif "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in self.headers:
            self.remaining = int(self.headers["content-length"])

    def _collect(self, data: bytes) -> None:
        if self.remaining > 0:
            data = data[: self.remaining]
            self.remaining -= len(data)
        self.raw += data
        if len(self.raw) > COLLECT_LIMIT:
            self._fail(WireError("response body too large"))
        elif self.remaining == 0 or (self.chunked and _chunked_complete(self.raw)):
            self.phase = "done"
            self._wake()

    # --- used by the reader ---

    def _pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self.error = error
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    async def wait(self) -> None:
        """Until the parser has news (head, filled buffer, end of body) or the connection failed."""
        if self.error is not None:
            raise self.error
        if self.closed:
            raise WireError("connection closed by the server")
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.stall):
                await self.waiter
        except TimeoutError as exc:
            self._fail(WireError(f"no answer from S3 for {self.stall:.0f} s"))
            raise WireError(f"no answer from S3 for {self.stall:.0f} s") from exc
        finally:
            self.waiter = None
        if self.error is not None:
            raise self.error

    async def send(self, head: bytes, body: bytes | memoryview) -> None:
        assert self.transport is not None
        self.resume()
        self.transport.write(head)
        view = memoryview(body)
        for start in range(0, len(view), WRITE_SLICE):
            if self.closed:
                break
            self.transport.write(view[start : start + WRITE_SLICE])
            if not self.writable.is_set():
                try:
                    async with asyncio.timeout(self.stall):
                        await self.writable.wait()
                except TimeoutError as exc:
                    self._fail(WireError("S3 stopped reading the request"))
                    raise WireError(f"S3 stopped reading the request for {self.stall:.0f} s") from exc
        if self.error is not None:
            raise self.error

    async def read_head(self) -> None:
        while self.phase == "head":
            await self.wait()

    async def read_all(self) -> bytes:
        if self.phase == "wait":
            self.phase = "collect"
            pending, self.pending = self.pending, b""
            if self.remaining == 0:
                self.phase = "done"
            else:
                self._collect(pending)
                if self.phase == "collect" and self.eof:
                    self.phase = "done"
                elif self.phase == "collect":
                    self.resume()
        while self.phase == "collect":
            await self.wait()
        return _dechunk(bytes(self.raw)) if self.chunked else bytes(self.raw)

    async def read_into(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]:
        """The body in pieces that the kernel writes straight into buffers from `supply()`."""
        if self.chunked:
            body = memoryview(await self.read_all())
            start = 0
            while start < len(body):
                buffer = supply()
                piece = body[start : start + len(buffer)]
                buffer[: len(piece)] = piece
                start += len(piece)
                yield buffer, len(piece)
            return
        pending, self.pending = self.pending, b""
        if self.remaining >= 0:
            pending = pending[: self.remaining]
            self.remaining -= len(pending)
        sink = supply()
        self.sink, self.sink_pos, self.phase = sink, 0, "done" if self.eof else "sink"
        while pending:  # bytes that came with the headers
            take = pending[: len(sink) - self.sink_pos]
            sink[self.sink_pos : self.sink_pos + len(take)] = take
            self.sink_pos += len(take)
            pending = pending[len(take) :]
            if self.sink_pos == len(sink):
                full, sink = sink, supply()
                self.sink, self.sink_pos = sink, 0
                yield full, len(full)
        while True:
            if self.remaining == 0 or self.phase == "done":
                break
            if self.sink_pos < len(sink):
                self.resume()
                await self.wait()
            if self.sink_pos:
                full, filled = sink, self.sink_pos
                self.sink_pos = 0
                if self.remaining != 0 and self.phase != "done":
                    sink = supply()
                    self.sink = sink
                    self.resume()  # the next piece arrives while the consumer handles this one
                else:
                    self.sink = None  # that was the last piece: no buffer taken for nothing
                yield full, filled
        if self.sink_pos:
            yield sink, self.sink_pos
        self.phase, self.sink = "done", None
        self.resume()  # so an idle connection notices when the server closes it

    @property
    def reusable(self) -> bool:
        return (
            self.phase == "done"
            and not self.closed
            and self.error is None
            and self.remaining <= 0
            and self.headers.get("connection", "").lower() != "close"
            and self.transport is not None
            and not self.transport.is_closing()
        )


class _Stream:
    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self.status = connection.status
        self.headers = connection.headers

    async def read(self) -> bytes:
        return await self._connection.read_all()

    def chunks(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]:
        return self._connection.read_into(supply)


class Wire:
    """A small pool of keep-alive connections per S3 endpoint."""

    def __init__(self, *, stall_timeout: float = 120.0, connect_timeout: float = 20.0, max_idle: int = 32) -> None:
        self.stall = stall_timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._idle: dict[Key, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._httpx: httpx.AsyncClient | None = None
        self._proxied: dict[Key, bool] = {}

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()
        if self._httpx is not None:
            await self._httpx.aclose()

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview = b"") -> Reply:
        async with self.stream(method, url, headers, body) as response:
            return Reply(response.status, response.headers, await response.read())

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview = b""
    ) -> AsyncIterator[Stream]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise WireError(f"not an http(s) URL: {url[:100]!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        key: Key = (scheme, parts.hostname, port)
        if self._via_proxy(key):
            async with self._httpx_stream(method, url, headers, body) as response:
                yield response
            return
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        default_port = parts.port in (None, 443 if scheme == "https" else 80)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host if default_port else f'{host}:{port}'}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
        if len(body) or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        connection, reused = await self._connection(key)
        connection.reset(head_only=method == "HEAD")
        try:
            try:
                await connection.send(head, body)
                await connection.read_head()
            except WireError:
                if not (reused and not connection.got_bytes):
                    raise
                # A kept-alive connection the server had already closed: once more on a fresh one.
                self._discard(connection)
                connection, _ = await self._connection(key, fresh=True)
                connection.reset(head_only=method == "HEAD")
                await connection.send(head, body)
                await connection.read_head()
            yield _Stream(connection)
        except BaseException:
            self._discard(connection)
            raise
        if connection.reusable:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle:
                idle.append(connection)
                return
        self._discard(connection)

    def _discard(self, connection: _Connection) -> None:
        if connection.transport is not None:
            connection.transport.abort()

    async def _connection(self, key: Key, *, fresh: bool = False) -> tuple[_Connection, bool]:
        idle = self._idle.get(key, [])
        while idle and not fresh:
            connection = idle.pop()
            if not connection.closed and connection.transport is not None and not connection.transport.is_closing():
                return connection, True
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self.stall),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise WireError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
        return connection, False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # the same trust store and env settings as the API client
        return self._ssl

    def _via_proxy(self, key: Key) -> bool:
        if key not in self._proxied:
            scheme, host, _ = key
            proxies = urllib.request.getproxies()
            self._proxied[key] = bool(proxies.get(scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(
                host
            )
        return self._proxied[key]

    @contextlib.asynccontextmanager
    async def _httpx_stream(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview
    ) -> AsyncIterator[Stream]:
        if self._httpx is None:
            self._httpx = httpx.AsyncClient(timeout=httpx.Timeout(self.stall, connect=self.connect_timeout))
        try:
            async with self._httpx.stream(method, url, headers=dict(headers), content=bytes(body)) as response:
                yield _HttpxStream(response)
        except httpx.TransportError as exc:
            raise WireError(f"{type(exc).__name__}: {exc}") from exc


class _HttpxStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def read(self) -> bytes:
        return await self._response.aread()

    async def chunks(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]:
        buffer, filled = supply(), 0
        async for piece in self._response.aiter_raw():
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


def _chunked_complete(raw: bytearray) -> bool:
    try:
        _dechunk(bytes(raw))
    except ValueError:
        return False
    return True


def _dechunk(raw: bytes) -> bytes:
    """The payload of a complete chunked body; ValueError while it is incomplete."""
    out, position = bytearray(), 0
    while True:
        end = raw.find(b"\r\n", position)
        if end < 0:
            raise ValueError("incomplete chunk size")
        size = int(raw[position:end].split(b";", 1)[0].strip() or b"x", 16)
        start = end + 2
        if size == 0:  # trailers, then an empty line
            if raw[start : start + 2] == b"\r\n" or raw.find(b"\r\n\r\n", start) >= 0:
                return bytes(out)
            raise ValueError("incomplete trailer")
        if len(raw) < start + size + 2:
            raise ValueError("incomplete chunk")
        out += raw[start : start + size]
        position = start + size + 2
