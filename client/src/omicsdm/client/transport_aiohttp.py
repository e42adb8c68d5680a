"""The S3 byte path through aiohttp, aiobotocore's HTTP stack (an optional dependency of the client)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from omicsdm.client.errors import ClientError, ExitCode
from omicsdm.client.transport import (
    BaseTransport,
    ClosedBeforeAnswer,
    Stream,
    Supply,
    TransportOptions,
    copy_into,
    library_failure,
    ssl_context,
)

try:
    import aiohttp
except ImportError:  # pragma: no cover - depends on the installation
    aiohttp = None  # type: ignore[assignment]


class AiohttpTransport(BaseTransport):
    name = "aiohttp"

    def __init__(self, options: TransportOptions | None = None) -> None:
        super().__init__(options)
        if aiohttp is None:
            raise ClientError(
                "the aiohttp transport needs aiohttp: pip install 'omicsdm-client[aiohttp]'", ExitCode.USAGE
            )
        self._ssl = ssl_context(self.options.ca_bundle)
        self._session: aiohttp.ClientSession | None = None  # made in the running event loop

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=self._ssl),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.options.connect_timeout, sock_read=self.options.stall_timeout
                ),
                auto_decompress=False,
                trust_env=True,  # HTTP(S)_PROXY and NO_PROXY, as httpx
                skip_auto_headers=("Content-Type",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    @contextlib.asynccontextmanager
    async def _open(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | memoryview, *, fresh: bool
    ) -> AsyncIterator[Stream]:
        # identity: the bytes as stored (a body the library would decode could not match its checksums)
        kwargs: dict[str, Any] = {"headers": {"Accept-Encoding": "identity", **headers}, "allow_redirects": False}
        if body or method in ("PUT", "POST"):
            kwargs["data"] = body  # bytes or a memoryview of a pooled buffer: sent without a copy
        try:
            response = await self._client().request(method, url, **kwargs)
        except aiohttp.ServerDisconnectedError as exc:
            raise ClosedBeforeAnswer(f"connection closed by the server: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise library_failure(exc) from exc
        try:
            yield _AiohttpStream(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise library_failure(exc) from exc
        finally:
            response.release()


class _AiohttpStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise library_failure(exc) from exc

    async def chunks(self, supply: Supply) -> AsyncIterator[tuple[memoryview, int]]:
        try:
            async for piece in copy_into(self._response.content.iter_any(), supply):
                yield piece
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise library_failure(exc) from exc
