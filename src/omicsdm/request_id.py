"""Request ids: one per request, on the response, on every log line and in every problem body.

A client (or the load balancer in front) may send `X-Request-ID`; a sane one (printable ASCII
without spaces, at most 128 characters) is kept so one id follows a request across services,
anything else is replaced by a fresh random one. The id lives in a contextvar for the duration
of the request: logs.RequestIdFilter and errors.problem read it from there.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_HEADER_KEY = b"x-request-id"
_SANE = re.compile(rb"[\x21-\x7e]{1,128}")

request_id: ContextVar[str | None] = ContextVar("omicsdm_request_id", default=None)


def current() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return request_id.get()


def incoming_or_new(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == _HEADER_KEY:
            if _SANE.fullmatch(value):
                return value.decode("ascii")
            break
    # Not a secret, only unique: Python's PRNG (reseeded in forked workers) costs a third of os.urandom.
    return f"{random.getrandbits(128):032x}"


class RequestIdMiddleware:
    """Pure ASGI (no per-request task or body buffering): sets the id, adds it to the response headers.

    Installed outside ProblemMiddleware, so the 500 and 503 bodies made there carry the id too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_or_new(scope["headers"])
        header = (_HEADER_KEY, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
