"""Domain exceptions, outage detection, and the one place that turns errors into RFC 9457 problem+json.

Every problem body carries a stable, machine-readable `code` (listed in docs/api.md); clients branch
on it, never on the English `detail`. An outage of PostgreSQL or S3 is a 503 with `Retry-After`
naming the part that is down, whichever layer noticed it first.
"""

from __future__ import annotations

import logging
import time
import traceback
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omicsdm.request_id import current as current_request_id

log = logging.getLogger("omicsdm")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """Base of every error the service raises on purpose; `status` and `code` map to the problem body."""

    status: int = 400
    code: str = "bad-request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InvalidInput(DomainError):
    status, code = 422, "invalid-input"


class NotAuthenticated(DomainError):
    status, code = 401, "not-authenticated"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not-found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Gone(DomainError):
    status, code = 410, "gone"


class TooLarge(DomainError):
    status, code = 413, "too-large"


class Unavailable(DomainError):
    """A part the request needs is down; `code` names it (database-, storage-, identity-provider-unavailable)."""

    status, code = 503, "unavailable"


# Codes of problems raised outside DomainError (framework and outage paths), listed in docs/api.md.
HTTP_CODES = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 413: "too-large"}
Part = Literal["database", "storage"]


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://omicsdm.dev/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
        "request_id": current_request_id(),  # to quote when reporting a problem; also in X-Request-ID
    }
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = 'Bearer realm="omicsdm"'
    if status == 503:
        all_headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=all_headers or None)


def causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def raised_in(exc: BaseException, packages: tuple[str, ...]) -> bool:
    return any(
        frame.f_globals.get("__name__", "").startswith(packages) for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def outage_of(exc: BaseException) -> Part | None:
    """Which part is down, when `exc` (or what caused it) says PostgreSQL or S3 cannot be reached.

    The rule for the whole service: connection-level failures are outages (503); everything else,
    an SQL error included, is a bug and stays a 500.
    """
    from botocore.exceptions import BotoCoreError
    from sqlalchemy import exc as sa_exc

    from omicsdm.storage import StorageError

    for cause in causes(exc):
        if isinstance(cause, StorageError | BotoCoreError):
            return "storage"
        if isinstance(cause, sa_exc.DBAPIError) and (
            cause.connection_invalidated or isinstance(cause, sa_exc.OperationalError | sa_exc.InterfaceError)
        ):
            return "database"
        if isinstance(cause, sa_exc.TimeoutError | sa_exc.DisconnectionError):  # pool exhausted, or ping failed
            return "database"
        if type(cause).__module__.startswith("asyncpg") and _is_asyncpg_connection_error(cause):
            return "database"
        if isinstance(cause, OSError | TimeoutError):
            if raised_in(cause, ("asyncpg", "sqlalchemy")):
                return "database"
            if raised_in(cause, ("aiobotocore", "botocore", "aiohttp", "omicsdm.storage")):
                return "storage"
    return None


def _is_asyncpg_connection_error(exc: BaseException) -> bool:
    import asyncpg

    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError | asyncpg.CannotConnectNowError):
        return True
    # Class 57 (operator intervention: admin shutdown, crash shutdown, cannot connect now), 53300 too many connections.
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    return sqlstate.startswith("57") or sqlstate == "53300"


def unavailable(part: Part) -> Unavailable:
    if part == "database":
        return Unavailable("the database is unavailable; retry shortly", code="database-unavailable")
    return Unavailable("the storage (S3) is unavailable; retry shortly", code="storage-unavailable")


class OutageLog:
    """One log line per failed request; a traceback at most once per outage and cause.

    An outage of a cause ends when it has not been seen for `quiet_seconds`; the next one logs its
    traceback again. Process-local on purpose: it only shapes logs.
    """

    def __init__(self, quiet_seconds: float = 60.0) -> None:
        self._quiet = quiet_seconds
        self._last_seen: dict[tuple[str, str], float] = {}

    def record(self, part: str, exc: BaseException, request_line: str) -> None:
        cause = type(causes(exc)[-1])
        key = (part, f"{cause.__module__}.{cause.__qualname__}")
        now = time.monotonic()
        new_outage = now - self._last_seen.get(key, -1e9) > self._quiet
        self._last_seen[key] = now
        summary = f"{part} unavailable on {request_line}: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        log.warning(summary, exc_info=exc if new_outage else None)


class ProblemMiddleware:
    """Innermost safety net: an exception no handler took becomes a problem response here.

    Outages become 503 without a traceback per request. A real bug is a 500 that is logged once
    (uvicorn would log it again and drop the keep-alive connection if it reached the server).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.outages = OutageLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # the status line is out; nothing sensible can be sent any more
                raise
            response = self.response_for(exc, f"{scope.get('method', '')} {scope.get('path', '')}")
            await response(scope, receive, send)

    def response_for(self, exc: Exception, request_line: str) -> JSONResponse:
        if isinstance(exc, DomainError):
            return domain_problem(exc)
        part = outage_of(exc)
        if part is not None:
            self.outages.record(part, exc, request_line)
            return domain_problem(unavailable(part))
        log.error("unhandled error on %s", request_line, exc_info=exc)
        return problem(
            500,
            "internal-error",
            "Unexpected server error; it has been logged.",
            headers={"Connection": "close"},
        )


def domain_problem(exc: DomainError) -> JSONResponse:
    return problem(exc.status, exc.code, exc.detail, **exc.extra)


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (asked through the routes' public `matches`)."""
    from starlette.routing import Match

    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)

    return [method for method in HTTP_METHODS if served(method)]


def _message(error: Any) -> str:
    """pydantic's message, except where it would quote one of our patterns at a person."""
    from omicsdm.schemas.common import PATTERN_MESSAGES

    if error.get("type") == "string_pattern_mismatch":
        known = PATTERN_MESSAGES.get(str((error.get("ctx") or {}).get("pattern")))
        if known:
            return known
    return str(error.get("msg", ""))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": _message(err), "type": str(err.get("type", ""))}
            for err in exc.errors()
        ]
        return problem(422, "invalid-input", "The request is not valid; see errors.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods; a path may have several
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return problem(exc.status_code, code, str(exc.detail), headers=headers)

    app.add_middleware(ProblemMiddleware)
