"""A small TCP proxy in front of one server (here SeaweedFS's S3 port) that a test can cut and restore, and that
reads the HTTP/1.1 requests passing through it.

`cut()` refuses new connections (accepted and reset at once) and resets every open one, as an unreachable S3
would look to a browser; `restore()` lets connections through again. Only what goes through the proxy is
affected: the service keeps its own, direct connection to S3.

The client-to-server stream is framed by HTTP/1.1 (request line, headers, Content-Length body), so every request
is recorded with its method and target (`requests`), and `hold(target)` can keep a request's body from reaching
the server (a slow uplink) until `release()` or a cut. Responses are passed on as raw bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    target: str
    complete: bool = False  # the whole body was passed to the server

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a refused or dropped connection."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class TcpProxy:
    upstream_host: str
    upstream_port: int
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    hold: Callable[[Seen], bool] = lambda seen: False

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._open = True
        self._released = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, self.host, self.port), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                _reset(writer)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self) -> None:
        """S3 becomes unreachable through the proxy: new connections are reset, open ones too."""

        async def cut() -> None:
            self._open = False
            self._released.set()  # held requests end with the connection
            for writer in list(self._writers):
                _reset(writer)
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(cut(), self._loop).result(10)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_open", True)

    def hold_when(self, predicate: Callable[[Seen], bool]) -> None:
        """Requests matching `predicate` from now on wait (their body unsent) until `release()` or a cut."""
        self._loop.call_soon_threadsafe(self._released.clear)
        self.hold = predicate

    def release(self) -> None:
        """Held requests go on, and nothing is held any more."""
        self.hold = lambda seen: False
        self._loop.call_soon_threadsafe(self._released.set)

    def seen(self, predicate: Callable[[Seen], bool] = lambda s: True) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if predicate(s)]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            _reset(writer)
            return
        self._writers.update((writer, up_writer))
        downstream = asyncio.ensure_future(self._pipe(up_reader, writer))
        try:
            await self._requests(reader, up_writer)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            _reset(up_writer) if not self._open else up_writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(downstream, 30)
            _reset(writer) if not self._open else writer.close()
            self._writers.discard(writer)
            self._writers.discard(up_writer)

    async def _requests(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)}
            seen = Seen(method, target)
            with self._lock:
                self.requests.append(seen)
            up.write(head)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                await self._pipe(reader, up)  # not framed any further: raw to the end
                return
            if self.hold(seen):
                await self._released.wait()
                if not self._open:
                    return
            remaining = int(headers.get("content-length", "0"))
            while remaining:
                chunk = await reader.read(min(remaining, 1 << 20))
                if not chunk:
                    return
                remaining -= len(chunk)
                up.write(chunk)
                await up.drain()
            await up.drain()
            seen.complete = True

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while chunk := await reader.read(1 << 20):
                writer.write(chunk)
                await writer.drain()
        if self._open:
            with contextlib.suppress(OSError):
                writer.write_eof()
