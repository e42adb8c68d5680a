"""The `wire` transport: a lean HTTP/1.1 client on an asyncio BufferedProtocol.

Why it exists: the kernel receives a download straight into the caller's buffer (no copy in Python)
and part bodies go out in slices under flow control, where httpx and aiohttp receive every byte into a
new `bytes` and copy it (docs/cli.md, "Transports", has the figures). It speaks what S3 needs, strictly:
one request at a time per connection; Content-Length, chunked (parsed incrementally, any size) and
until-close bodies; interim 1xx answers skipped; keep-alive; TLS with the shared trust settings. The
rules around it (307 redirects, one more try on a fresh connection) are transport.BaseTransport's. When
a proxy applies to the S3 host (HTTP(S)_PROXY), requests go through the httpx transport instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

from omicsdm.client.transport import (
    BaseTransport,
    ClosedBeforeAnswer,
    Reply,
    Stream,
    Supply,
    TransportError,
    TransportOptions,
    copy_into,
    ssl_context,
)

__all__ = ["Reply", "Wire", "WireError"]

HEAD_LIMIT = 64 * 1024  # status line and headers of one answer; the same for a chunked body's trailers
CHUNK_LINE_LIMIT = 4096
CHUNKED_HANDOFF = 4 * 1024 * 1024  # decoded chunked bytes handed to the reader at once
WRITE_SLICE = 1024 * 1024
_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([1-9][0-9]{2})(?: (.*))?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")

WireError = TransportError  # the name this module's callers knew


Key = tuple[str, str, int]


class _Dechunker:
    """An incremental decoder of a chunked body (RFC 9112 7.1): each byte looked at once."""

    def __init__(self) -> None:
        self.state = "size"  # size -> data -> data-end -> size ... -> trailer -> done
        self.line = bytearray()
        self.left = 0
        self.trailer_bytes = 0

    @property
    def done(self) -> bool:
        return self.state == "done"

    def feed(self, data: memoryview, out: bytearray) -> int:
        """Decode from `data` into `out`; the number of bytes of `data` used (all of it unless done)."""
        position = 0
        while position < len(data) and self.state != "done":
            if self.state == "data":
                take = min(self.left, len(data) - position)
                out += data[position : position + take]
                position += take
                self.left -= take
                if self.left == 0:
                    self.state = "data-end"
                continue
            end = bytes(data[position : position + CHUNK_LINE_LIMIT + 2]).find(b"\n")
            piece = data[position : len(data) if end < 0 else position + end + 1]
            self.line += piece
            position += len(piece)
            if end < 0:
                if len(self.line) > (HEAD_LIMIT if self.state == "trailer" else CHUNK_LINE_LIMIT):
                    raise TransportError("malformed chunked body: a line too long")
                continue
            if not self.line.endswith(b"\r\n"):
                raise TransportError("malformed chunked body: a line not ended by CRLF")
            line, self.line = bytes(self.line[:-2]), bytearray()
            self._line(line)
        return position

    def _line(self, line: bytes) -> None:
        if self.state == "data-end":
            if line:
                raise TransportError("malformed chunked body: data longer than its chunk size")
            self.state = "size"
        elif self.state == "size":
            size = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size):
                raise TransportError(f"malformed chunked body: chunk size {line[:40]!r}")
            self.left = int(size, 16)
            self.state = "data" if self.left else "trailer"
        else:  # trailer fields, ended by an empty line
            self.trailer_bytes += len(line) + 2
            if self.trailer_bytes > HEAD_LIMIT:
                raise TransportError("malformed chunked body: trailers too long")
            if not line:
                self.state = "done"


class _Connection(asyncio.BufferedProtocol):
    """One HTTP/1.1 connection; parses one answer at a time."""

    def __init__(self, stall: float) -> None:
        self.stall = stall
        self.transport: asyncio.Transport | None = None
        self.scratch = memoryview(bytearray(HEAD_LIMIT))
        self.closed = False
        self.error: BaseException | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.received = 0  # bytes received so far, over all answers: a stall is a while without any
        self.reset(head_only=False)

    def reset(self, *, head_only: bool) -> None:
        # head -> wait (paused until the reader chooses) -> sink | collect | chunked -> done
        self.phase = "head"
        self.no_body = head_only
        self.head = bytearray()
        self.pending = b""
        self.status = 0
        self.keep_alive = True
        self.headers: dict[str, str] = {}
        self.remaining = -1  # body bytes to come; -1 = until the connection closes
        self.chunked: _Dechunker | None = None
        self.raw = bytearray()  # collected or decoded body not yet taken by the reader
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
        self.received += nbytes
        if self.phase == "sink" and self.sink is not None:
            self.sink_pos += nbytes
            if self.remaining > 0:
                self.remaining -= nbytes
            if self.remaining == 0 or self.sink_pos == len(self.sink):
                self._pause()
                self._wake()
            return
        self.feed(self.scratch[:nbytes])

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()
        until_close = self.remaining < 0 and self.chunked is None
        if self.phase in ("wait", "collect", "sink") and until_close and exc is None:
            self.eof = True  # an until-close body ends here
            if self.phase != "wait":
                self.phase = "done"
        elif self.phase not in ("done", "wait") and self.error is None:
            if self.phase == "head" and not self.got_bytes:
                self.error = ClosedBeforeAnswer(f"connection closed by the server ({exc or 'EOF'})")
            else:
                self.error = TransportError(
                    f"connection closed by the server in the middle of an answer ({exc or 'EOF'})"
                )
        self._wake()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # --- parsing ---

    def feed(self, data: memoryview) -> None:
        try:
            if self.phase == "head":
                self._feed_head(bytes(data))
            elif self.phase == "collect":
                self._collect(data)
            elif self.phase == "chunked":
                self._dechunk(data)
            elif data:
                raise TransportError("the server sent bytes nobody asked for")
        except TransportError as exc:
            self._fail(exc)

    def _feed_head(self, data: bytes) -> None:
        self.head += data
        while self.phase == "head":
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > HEAD_LIMIT:
                    raise TransportError("malformed answer: headers too long (or not HTTP)")
                if len(self.head) >= 5 and not self.head.startswith(b"HTTP/"):
                    raise TransportError(f"malformed answer: not HTTP/1.x: {bytes(self.head[:40])!r}")
                return
            head, rest = bytes(self.head[:end]), bytes(self.head[end + 4 :])
            self._parse_head(head)
            if 100 <= self.status < 200:  # interim (100 Continue, 102 Processing, 103): the answer follows
                self.head, self.headers, self.status = bytearray(rest), {}, 0
                continue
            self.pending = rest
            self.phase = "wait"
            self._pause()
            self._wake()

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        if not match:
            raise TransportError(f"malformed answer: status line {lines[0][:80]!r}")
        self.status = int(match.group(2))
        if self.status == 101:
            raise TransportError("the server switched protocols, which nobody asked for")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                raise TransportError(f"malformed answer: header line {line[:80]!r}")
            name, value = name.lower(), value.strip(" \t")
            if name in headers and name == "content-length" and headers[name] != value:
                raise TransportError("malformed answer: two different Content-Length headers")
            headers[name] = f"{headers[name]}, {value}" if name in headers and name != "content-length" else value
        self.headers = headers
        if 100 <= self.status < 200:
            return
        connection = headers.get("connection", "").lower()
        self.keep_alive = "close" not in connection and (match.group(1) == "1" or "keep-alive" in connection)
        encoding = headers.get("transfer-encoding", "").lower()
        if self.no_body or self.status in (204, 304):
            self.remaining = 0
        elif encoding:
            if [e.strip() for e in encoding.split(",")][-1] != "chunked":
                self.keep_alive = False  # RFC 9112 6.3: read until the connection closes
            else:
                self.chunked = _Dechunker()
        elif "content-length" in headers:
            if not headers["content-length"].isdigit():
                raise TransportError(f"malformed answer: Content-Length {headers['content-length'][:40]!r}")
            self.remaining = int(headers["content-length"])
        else:
            self.keep_alive = False

    def _collect(self, data: memoryview) -> None:
        if self.remaining > 0:
            data = data[: self.remaining]
            self.remaining -= len(data)
        self.raw += data
        if self.remaining == 0:
            self.phase = "done"
            self._wake()

    def _dechunk(self, data: memoryview) -> None:
        assert self.chunked is not None
        used = self.chunked.feed(data, self.raw)
        if self.chunked.done:
            if used < len(data):
                self.keep_alive = False  # bytes after the body: nobody asked for them
            self.phase = "done"
            self._wake()
        elif len(self.raw) >= CHUNKED_HANDOFF:
            self._pause()  # the reader takes these first
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
        """Until the parser has news (head, filled buffer, end of body) or the connection failed; a stall
        is `stall` seconds without a byte."""
        if self.error is not None:
            raise self.error
        if self.closed:
            raise TransportError("connection closed by the server")
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            while True:
                seen = self.received
                try:
                    async with asyncio.timeout(self.stall):
                        await asyncio.shield(self.waiter)
                    break
                except TimeoutError as exc:
                    if self.received == seen:
                        self._fail(TransportError(f"no answer from S3 for {self.stall:.0f} s"))
                        raise TransportError(f"no answer from S3 for {self.stall:.0f} s") from exc
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
                    self._fail(TransportError("S3 stopped reading the request"))
                    raise TransportError(f"S3 stopped reading the request for {self.stall:.0f} s") from exc
        if self.error is not None:
            raise self.error

    async def read_head(self) -> None:
        while self.phase == "head":
            await self.wait()

    async def read_all(self) -> bytes:
        if self.chunked is not None:
            return b"".join([bytes(piece) async for piece in self._chunked_pieces()])
        if self.phase == "wait":
            self.phase = "collect"
            pending, self.pending = self.pending, b""
            if self.remaining == 0:
                self.phase = "done"
            else:
                self._collect(memoryview(pending))
                if self.phase == "collect" and self.eof:
                    self.phase = "done"
                elif self.phase == "collect":
                    self.resume()
        while self.phase == "collect":
            await self.wait()
        body, self.raw = bytes(self.raw), bytearray()
        return body

    async def _chunked_pieces(self) -> AsyncIterator[bytearray]:
        """The decoded payload of a chunked body, in pieces of up to CHUNKED_HANDOFF (more or less)."""
        assert self.chunked is not None
        if self.phase == "wait":
            self.phase = "chunked"
            pending, self.pending = self.pending, b""
            self._dechunk(memoryview(pending))
            if self.error is not None:
                raise self.error
        while True:
            if self.raw:
                piece, self.raw = self.raw, bytearray()
                yield piece
            if self.phase == "done":
                return
            self.resume()
            await self.wait()

    async def read_into(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]:
        """The body in pieces that the kernel writes straight into buffers from `supply()`."""
        if self.chunked is not None:
            async for piece in copy_into(self._chunked_pieces(), supply):
                yield piece
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
            and self.keep_alive
            and not self.closed
            and self.error is None
            and self.remaining <= 0
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


class Wire(BaseTransport):
    """A small pool of keep-alive connections per S3 endpoint."""

    name = "wire"

    def __init__(self, options: TransportOptions | None = None, *, max_idle: int = 32) -> None:
        super().__init__(options)
        self.stall = self.options.stall_timeout
        self.connect_timeout = self.options.connect_timeout
        self.max_idle = max_idle
        self._idle: dict[Key, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._proxy: BaseTransport | None = None
        self._proxied: dict[Key, bool] = {}

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()
        if self._proxy is not None:
            await self._proxy.aclose()

    @contextlib.asynccontextmanager
    async def _open(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview, *, fresh: bool
    ) -> AsyncIterator[Stream]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        assert parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        key: Key = (scheme, parts.hostname, port)
        if self._via_proxy(key):
            async with self._proxy_transport()._open(method, url, headers, body, fresh=fresh) as response:
                yield response
            return
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        default_port = parts.port in (None, 443 if scheme == "https" else 80)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host if default_port else f'{host}:{port}'}"]
        lines += [
            f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length")
        ]
        if len(body) or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body)}")
        if any(c in line for line in lines for c in "\r\n\0"):
            raise TransportError("a request header holds a line break")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        connection = await self._connection(key, fresh=fresh)
        connection.reset(head_only=method == "HEAD")
        try:
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

    async def _connection(self, key: Key, *, fresh: bool = False) -> _Connection:
        idle = self._idle.get(key, [])
        while idle and not fresh:
            connection = idle.pop()
            if not connection.closed and connection.transport is not None and not connection.transport.is_closing():
                return connection
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
            raise TransportError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
        return connection

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_context(self.options.ca_bundle)
        return self._ssl

    def _via_proxy(self, key: Key) -> bool:
        if key not in self._proxied:
            scheme, host, _ = key
            proxies = urllib.request.getproxies()
            self._proxied[key] = bool(proxies.get(scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(
                host
            )
        return self._proxied[key]

    def _proxy_transport(self) -> BaseTransport:
        if self._proxy is None:
            from omicsdm.client.transport_httpx import HttpxTransport  # only behind a proxy

            self._proxy = HttpxTransport(self.options)
        return self._proxy
