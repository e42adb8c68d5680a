"""Every S3 transport (`wire`, `httpx`, `aiohttp`; client/transport.py) against the corners of HTTP/1.1
that S3 and the networks in between can show: TLS with a private CA, interim 1xx answers, 307
redirects, malformed answers, chunked bodies larger than 16 MiB, keep-alive connections the server
closed, and stalls. The corners come from small asyncio servers written here; the happy path from the
session's real SeaweedFS through presigned URLs.

None of these may hang: each case runs under a deadline far below the transport's stall timeout
(`within`), so a transport that waits for the stall timer instead of seeing the problem fails."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from omicsdm.client.errors import ClientError
from omicsdm.client.transport import (
    TRANSPORTS,
    Transport,
    TransportError,
    TransportOptions,
    make_transport,
    transport_name,
)

MIB = 1024 * 1024
T = TypeVar("T")
STALL = 30.0  # the transports' stall timeout here, unless a test is about stalls
DEADLINE = 10.0  # every case must be decided well before STALL


@pytest.fixture(params=TRANSPORTS)
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    made = make_transport(request.param, TransportOptions(stall_timeout=STALL, connect_timeout=5.0))
    try:
        yield made
    finally:
        await made.aclose()


async def within(work: Awaitable[T], seconds: float = DEADLINE) -> T:
    async with asyncio.timeout(seconds):
        return await work


Handler = Callable[["Request", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which connection (1, 2, ...) it came on
    index: int  # its number on that connection (1, 2, ...)


@dataclass
class Scripted:
    """An HTTP/1.1 server on loopback: each path answered by a handler that writes raw bytes; a handler
    returns False to close the connection."""

    handlers: dict[str, Handler]
    context: ssl.SSLContext | None = None
    connections: int = 0
    seen: list[Request] = field(default_factory=list)
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def base(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.context else 'http'}://127.0.0.1:{port}"

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number, index = self.connections, 0
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                index += 1
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, path, headers, body, number, index)
                self.seen.append(request)
                if not await self.handlers[path.split("?")[0]](request, reader, writer):
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.transport.abort()


def answer(status: int, body: bytes = b"", *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def replying(raw: bytes, *, keep: bool = True) -> Handler:
    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(raw)
        return keep

    return handler


def echo(extra: bytes = b"") -> Handler:
    """Answers `METHOD sha256(body) authorization?` after `extra` (e.g. interim answers)."""

    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        said = f"{request.method} {hashlib.sha256(request.body).hexdigest()} {'authorization' in request.headers}"
        writer.write(extra + answer(200, said.encode()))
        return True

    return handler


# --- TLS ----------------------------------------------------------------------------------------------


def private_ca(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA of our own (its PEM file) and a server context with a certificate it issued for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "omicsdm test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_tls_trusts_the_configured_ca_and_nothing_else(name: str, tmp_path: Path) -> None:
    ca_file, context = private_ca(tmp_path)
    async with Scripted({"/ok": echo()}, context=context) as server:
        trusting = make_transport(name, TransportOptions(stall_timeout=STALL, ca_bundle=str(ca_file)))
        strangers = make_transport(name, TransportOptions(stall_timeout=STALL))
        try:
            body = os.urandom(3 * MIB)
            reply = await within(trusting.request("PUT", f"{server.base}/ok", {}, body))
            assert reply.body.decode() == f"PUT {hashlib.sha256(body).hexdigest()} False"
            with pytest.raises(TransportError):
                await within(strangers.request("GET", f"{server.base}/ok", {}))
        finally:
            await trusting.aclose()
            await strangers.aclose()


async def test_the_ca_bundle_and_the_transport_come_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file, context = private_ca(tmp_path)
    monkeypatch.setenv("OMICSDM_CA_BUNDLE", str(ca_file))
    monkeypatch.setenv("OMICSDM_TRANSPORT", "httpx")
    assert transport_name() == "httpx"
    assert transport_name("aiohttp") == "aiohttp"  # a CLI option or config value wins over the environment
    with pytest.raises(ClientError, match="unknown transport"):
        transport_name("curl")
    async with Scripted({"/ok": echo()}, context=context) as server:
        chosen = make_transport()
        try:
            assert chosen.name == "httpx"
            assert (await within(chosen.request("GET", f"{server.base}/ok", {}))).status == 200
        finally:
            await chosen.aclose()


# --- interim answers and redirects ---------------------------------------------------------------------


async def test_interim_1xx_answers_are_skipped(transport: Transport) -> None:
    interim = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    )
    async with Scripted({"/slow": echo(interim)}) as server:
        body = os.urandom(MIB + 3)
        reply = await within(transport.request("PUT", f"{server.base}/slow", {}, body))
        assert (reply.status, reply.body.decode()) == (200, f"PUT {hashlib.sha256(body).hexdigest()} False")
        again = await within(transport.request("GET", f"{server.base}/slow", {}))  # the connection is still in step
        assert again.body.decode().startswith("GET ")
        assert server.connections == 1


async def test_307_is_followed_with_the_body_and_credentials_stay_at_their_origin(transport: Transport) -> None:
    async with Scripted({"/moved": echo()}) as elsewhere:

        async def moving(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
            to = {"/same": "/moved", "/away": f"{elsewhere.base}/moved", "/loop": "/loop"}[request.path]
            writer.write(answer(307, b"<Error><Code>TemporaryRedirect</Code></Error>", f"Location: {to}"))
            return True

        async with Scripted({"/same": moving, "/away": moving, "/loop": moving, "/moved": echo()}) as server:
            body = os.urandom(5 * MIB)
            digest = hashlib.sha256(body).hexdigest()
            signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=x"}
            same = await within(transport.request("PUT", f"{server.base}/same", signed, body))
            assert (same.status, same.body.decode()) == (200, f"PUT {digest} True")
            away = await within(transport.request("PUT", f"{server.base}/away", signed, body))
            assert (away.status, away.body.decode()) == (200, f"PUT {digest} False")
            got = await within(transport.request("GET", f"{server.base}/same", {}))
            assert got.body.decode().startswith("GET ")
            with pytest.raises(TransportError, match="redirects"):
                await within(transport.request("GET", f"{server.base}/loop", {}))
            assert [r.path for r in elsewhere.seen] == ["/moved"]


# --- malformed answers ------------------------------------------------------------------------------------

MALFORMED = {
    "/status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "/not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "/no-colon": b"HTTP/1.1 200 OK\r\nthis line has no colon\r\nContent-Length: 2\r\n\r\nok",
    "/length": b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\nok",
    "/two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "/huge-head": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300_000,
    "/chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "/cut-short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
}


async def test_malformed_answers_fail_clearly_and_at_once(transport: Transport) -> None:
    async def hold_open(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(MALFORMED[request.path])
        await writer.drain()
        if request.path != "/cut-short":
            await asyncio.sleep(STALL * 2)  # say nothing more and keep the connection: the client must not wait
        return False

    async with Scripted(dict.fromkeys(MALFORMED, hold_open) | {"/ok": echo()}) as server:
        for path in MALFORMED:
            with pytest.raises(TransportError):
                await within(transport.request("GET", f"{server.base}{path}", {}))
        assert (await within(transport.request("GET", f"{server.base}/ok", {}))).status == 200


# --- bodies of every framing ----------------------------------------------------------------------------


async def test_bodies_by_length_chunked_and_until_close_into_the_callers_buffers(transport: Transport) -> None:
    pattern = bytes(range(100)) * 100

    async def framed(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if request.path == "/chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
            )
        elif request.path == "/until-close":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 100_000)
            return False
        elif request.path == "/head":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n")  # HEAD: no body follows
        else:
            writer.write(b"HTTP/1.1 206 Partial Content\r\nContent-Length: 10000\r\n\r\n" + pattern)
        return True

    async with Scripted({"/chunked": framed, "/until-close": framed, "/head": framed, "/big": framed}) as server:
        chunked = await within(transport.request("GET", f"{server.base}/chunked", {}))
        assert (chunked.status, chunked.body) == (200, b"hello world")
        assert (await within(transport.request("GET", f"{server.base}/until-close", {}))).body == b"x" * 100_000
        head = await within(transport.request("HEAD", f"{server.base}/head", {}))
        assert (head.status, head.headers["content-length"], head.body) == (200, "12345", b"")

        pieces: list[bytes] = []

        async def streamed() -> None:
            async with transport.stream("GET", f"{server.base}/big", {}) as response:
                assert response.status == 206
                async for buffer, length in response.chunks(lambda: memoryview(bytearray(4096))):
                    pieces.append(bytes(buffer[:length]))

        await within(streamed())
        assert b"".join(pieces) == pattern
        assert all(len(p) == 4096 for p in pieces[:-1])  # each buffer filled before the next is taken
        assert (await within(transport.request("GET", f"{server.base}/chunked", {}))).body == b"hello world"
        # one connection for the chunked, HEAD and streamed answers, one closed by the until-close body
        assert server.connections == 2


# --- large chunked bodies ----------------------------------------------------------------------------


async def test_chunked_bodies_over_16_mib_in_small_chunks(transport: Transport) -> None:
    """24 MiB in 6,144 chunks of 4 KiB: a decoder that re-parsed the body per chunk would take minutes."""
    block = os.urandom(4096)
    count = 24 * MIB // len(block)
    expected = hashlib.sha256(block * count).hexdigest()

    async def chunked(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        frame = b"1000;ext=1\r\n" + block + b"\r\n"
        for i in range(count):
            writer.write(frame)
            if i % 256 == 0:
                await writer.drain()
        writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        return True

    async with Scripted({"/big": chunked, "/ok": echo()}) as server:
        whole = await within(transport.request("GET", f"{server.base}/big", {}), 60)
        assert (len(whole.body), hashlib.sha256(whole.body).hexdigest()) == (24 * MIB, expected)

        digest, sizes = hashlib.sha256(), []

        async def streamed() -> None:
            async with transport.stream("GET", f"{server.base}/big", {}) as response:
                async for buffer, length in response.chunks(lambda: memoryview(bytearray(4 * MIB))):
                    digest.update(buffer[:length])
                    sizes.append(length)

        await within(streamed(), 60)
        assert (sum(sizes), digest.hexdigest()) == (24 * MIB, expected)
        assert all(size == 4 * MIB for size in sizes)
        assert (await within(transport.request("GET", f"{server.base}/ok", {}))).status == 200
        assert server.connections == 1  # the connection stayed usable after each chunked body


# --- keep-alive connections closed by the server ---------------------------------------------------------


async def test_a_kept_alive_connection_the_server_closed_is_replaced(transport: Transport) -> None:
    """The server answers the first request of each connection, then closes it: once while it is idle,
    once just as the next request arrives (read, never answered). Idempotent requests go again on a fresh
    connection; a POST (CreateMultipartUpload, Complete) is not sent twice."""

    async def once(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if request.index > 1:
            return False  # read, never answered
        writer.write(echo_body(request))
        if request.path == "/idle-close":
            await writer.drain()
            return False
        return True

    async with Scripted({"/race": once, "/idle-close": once}) as server:
        body = os.urandom(2 * MIB)
        for method in ("GET", "PUT", "GET", "PUT"):
            reply = await within(transport.request(method, f"{server.base}/race", {}, body if method == "PUT" else b""))
            assert reply.body == echo_body_of(method, body if method == "PUT" else b"")
        for _ in range(2):
            assert (await within(transport.request("GET", f"{server.base}/idle-close", {}))).status == 200
            await asyncio.sleep(0.2)
        assert (await within(transport.request("GET", f"{server.base}/race", {}))).status == 200  # kept alive
        before = len(server.seen)
        with pytest.raises(TransportError):
            await within(transport.request("POST", f"{server.base}/race", {}, b"<Complete/>"))
        posts = [r for r in server.seen[before:] if r.method == "POST"]
        assert len(posts) == 1, "a POST must not be sent twice"


def echo_body_of(method: str, body: bytes) -> bytes:
    return f"{method} {hashlib.sha256(body).hexdigest()}".encode()


def echo_body(request: Request) -> bytes:
    return answer(200, echo_body_of(request.method, request.body))


# --- stalls ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_stall_is_an_error_not_a_hang(name: str) -> None:
    async def silent(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(STALL)
        return False

    async def half(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome of it")
        await writer.drain()
        await asyncio.sleep(STALL)
        return False

    async def trickle(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
        for byte in b"slowpoke":  # a byte every 0.2 s: slow, but never 0.6 s without one
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(bytes([byte]))
        return True

    transport = make_transport(name, TransportOptions(stall_timeout=0.6, connect_timeout=2.0))
    try:
        async with Scripted({"/silent": silent, "/half": half, "/trickle": trickle}) as server:
            with pytest.raises(TransportError):
                await within(transport.request("GET", f"{server.base}/silent", {}))

            async def streamed() -> None:
                async with transport.stream("GET", f"{server.base}/half", {}) as response:
                    async for _ in response.chunks(lambda: memoryview(bytearray(4096))):
                        pass

            with pytest.raises(TransportError):
                await within(streamed())
            assert (await within(transport.request("GET", f"{server.base}/trickle", {}))).body == b"slowpoke"
        with pytest.raises(TransportError):
            await within(transport.request("GET", "http://127.0.0.1:9/", {}))  # nobody listens: refused
    finally:
        await transport.aclose()


# --- the happy path, on the real S3 ----------------------------------------------------------------------


async def test_presigned_put_and_ranged_get_on_seaweedfs(transport: Transport, s3_admin: Any) -> None:
    bucket = f"transport-{transport.name}"
    with contextlib.suppress(s3_admin.exceptions.BucketAlreadyOwnedByYou):
        s3_admin.create_bucket(Bucket=bucket)
    data = os.urandom(9 * MIB + 123)
    put = s3_admin.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    stored = await within(transport.request("PUT", put, {}, memoryview(data)), 60)
    assert stored.status == 200 and stored.headers["etag"].strip('"') == hashlib.md5(data).hexdigest()

    get = s3_admin.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    received = bytearray()
    for start, end in ((0, 4 * MIB), (4 * MIB, len(data))):

        async def ranged(start: int = start, end: int = end) -> None:
            async with transport.stream("GET", get, {"Range": f"bytes={start}-{end - 1}"}) as response:
                assert response.status == 206
                assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(data)}"
                async for buffer, length in response.chunks(lambda: memoryview(bytearray(MIB))):
                    received.extend(buffer[:length])

        await within(ranged(), 60)
    assert bytes(received) == data
    missing = await within(transport.request("GET", get.replace("/k?", "/nothing?"), {}))
    assert missing.status in (403, 404)
