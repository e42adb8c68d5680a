"""Domain exceptions and the one handler that turns them into RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("omicsdm")

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """Base of every error the service raises on purpose; `status` and `type_` map to the problem body."""

    status: int = 400
    type_: str = "bad-request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(DomainError):
    status, type_ = 422, "invalid-input"


class NotAuthenticated(DomainError):
    status, type_ = 401, "not-authenticated"


class Forbidden(DomainError):
    status, type_ = 403, "forbidden"


class NotFound(DomainError):
    status, type_ = 404, "not-found"


class Conflict(DomainError):
    status, type_ = 409, "conflict"


class Unavailable(DomainError):
    status, type_ = 503, "unavailable"


def problem(status: int, type_: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://omicsdm.dev/problems/{type_}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="omicsdm"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem(exc.status, exc.type_, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
            for err in exc.errors()
        ]
        return problem(422, "invalid-input", "The request is not valid; see errors.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http-error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "Unexpected server error; it has been logged.")
