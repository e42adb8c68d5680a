"""The S3 byte path through httpx (httpcore + h11), the library the API client uses; it speaks proxies."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx

from omicsdm.client.transport import (
    BaseTransport,
    ClosedBeforeAnswer,
    Stream,
    Supply,
    TransportError,
    TransportOptions,
    copy_into,
    library_failure,
    ssl_context,
)


class HttpxTransport(BaseTransport):
    name = "httpx"

    def __init__(self, options: TransportOptions | None = None) -> None:
        super().__init__(options)
        stall, connect = self.options.stall_timeout, self.options.connect_timeout
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(stall, connect=connect, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            verify=ssl_context(self.options.ca_bundle),
            follow_redirects=False,  # BaseTransport follows 307/308 with the body, as every transport does
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    @contextlib.asynccontextmanager
    async def _open(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview, *, fresh: bool
    ) -> AsyncIterator[Stream]:
        # identity: the bytes as stored (a body the library would decode could not match its checksums)
        headers = {"Accept-Encoding": "identity", **headers}
        request = self.client.build_request(method, url, headers=headers, content=bytes(body) if body else None)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.RemoteProtocolError as exc:
            if "without sending a response" in str(exc):
                raise ClosedBeforeAnswer(f"connection closed by the server: {exc}") from exc
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise library_failure(exc) from exc
        try:
            yield _HttpxStream(response)
        except httpx.TransportError as exc:
            raise library_failure(exc) from exc
        finally:
            await response.aclose()


class _HttpxStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.TransportError as exc:
            raise library_failure(exc) from exc

    async def chunks(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]:
        try:
            async for piece in copy_into(self._response.aiter_raw(), supply):
                yield piece
        except httpx.TransportError as exc:
            raise library_failure(exc) from exc
