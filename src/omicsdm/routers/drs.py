"""GA4GH Data Repository Service (DRS) under /ga4gh/drs/v1: every file version is one object.

DRS clients expect DRS `Error` bodies (`msg`, `status_code`), not problem+json: the routes of this
router answer every error so, and the OpenAPI pass below documents them so; the rest of the API
keeps its problem responses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from omicsdm.auth.principal import Principal
from omicsdm.deps import AppSettings, Credentials, Session, State, Storage_, api_token, oidc_bearer
from omicsdm.errors import RETRY_AFTER_SECONDS, DomainError, OutageLog, outage_of, unavailable
from omicsdm.schemas.drs import (
    DRS_PREFIX,
    DrsAccessURL,
    DrsAuthorizations,
    DrsBulkAccessRequest,
    DrsBulkAccessURLs,
    DrsBulkAuthorizations,
    DrsBulkObjectIds,
    DrsBulkObjectRequest,
    DrsBulkObjects,
    DrsError,
    DrsObject,
    DrsServiceInfo,
)
from omicsdm.services import drs, identity

log = logging.getLogger("omicsdm")
_outages = OutageLog()
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def drs_error(status: int, msg: str, headers: dict[str, str] | None = None) -> JSONResponse:
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = 'Bearer realm="omicsdm"'
    if status == 503:
        all_headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return JSONResponse(DrsError(msg=msg, status_code=status).model_dump(), status_code=status, headers=all_headers)


async def _domain(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return drs_error(exc.status, exc.detail)


async def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in err.get('loc', ()))}: {err.get('msg', '')}" for err in exc.errors()
    )
    return drs_error(400, f"the request is not valid: {problems}"[:2000])


async def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return drs_error(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    line = f"{request.method} {request.url.path}"
    part = outage_of(exc)
    if part is not None:
        _outages.record(part, exc, line)
        return await _domain(request, unavailable(part))
    log.error("unhandled error on %s", line, exc_info=exc)
    return drs_error(500, "Unexpected server error; it has been logged.", {"Connection": "close"})


HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    DomainError: _domain,
    RequestValidationError: _validation,
    StarletteHTTPException: _http,
    Exception: _unexpected,
}


class DrsRoute(APIRoute):
    """A route whose errors are DRS `Error` bodies.

    Starlette's per-route exception wrapper takes its handlers from the scope; these routes hand it the
    DRS ones. The exception still unwinds the request's dependencies first, so the session rolls back.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            router = scope.get("router")
            routes = router.routes if router is not None else [self]
            allowed = [
                m for m in HTTP_METHODS if any(r.matches({**scope, "method": m})[0] is Match.FULL for r in routes)
            ]
            response = drs_error(405, "Method Not Allowed", {"Allow": ", ".join(allowed)})
            await response(scope, receive, send)
            return
        await super().handle({**scope, "starlette.exception_handlers": (HANDLERS, {})}, receive, send)


router = APIRouter(prefix=DRS_PREFIX, tags=["drs"], route_class=DrsRoute)


async def optional_user(
    state: State,
    session: Session,
    oidc: Annotated[Credentials, Depends(oidc_bearer)],
    token: Annotated[Credentials, Depends(api_token)],
) -> Principal | None:
    """The caller, or None without credentials (public objects need none); bad credentials are a 401."""
    credentials = oidc or token
    if credentials is None or not credentials.credentials:
        return None
    return await identity.resolve(session, state.verifier, credentials.credentials, state.settings.auth)


Caller = Annotated[Principal | None, Depends(optional_user)]
ObjectIdPath = Annotated[str, Path(max_length=1024, description="A DRS object id (a file version's id)")]
Expand = Annotated[bool, Query(description="Ignored: every object is a single blob")]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": DrsError, "description": DESCRIPTIONS[code]} for code in codes}


DESCRIPTIONS = {
    400: "The request is malformed",
    401: "No or invalid credentials, and the object is not public",
    403: "Readable, but this project lets only the owner group download its files",
    404: "No such object (or the caller may not read it, or its file is marked deleted)",
    405: "Method not allowed",
    409: "The version failed its integrity check and is not served",
    413: "The bulk request names more ids than service-info's maxBulkRequestLength",
    500: "An unexpected error occurred",
    503: "PostgreSQL or S3 is unavailable; retry after `Retry-After` seconds",
}
DRS_OUT: dict[str, Any] = {"response_model_exclude_none": True}


@router.get(
    "/service-info",
    operation_id="drsServiceInfo",
    summary="DRS service-info",
    response_model=DrsServiceInfo,
    responses=_errors(500),
    **DRS_OUT,
)
async def service_info(session: Session, settings: AppSettings) -> DrsServiceInfo:
    """GA4GH service-info of this DRS: type org.ga4gh:drs, bulk limit, object count and bytes (1.5)."""
    return await drs.service_info(session, settings)


@router.get(
    "/objects/{object_id}",
    operation_id="drsGetObject",
    summary="A DRS object (one file version)",
    response_model=DrsObject,
    responses=_errors(400, 401, 404, 500),
    **DRS_OUT,
)
async def get_object(
    session: Session, user: Caller, settings: AppSettings, object_id: ObjectIdPath, expand: Expand = False
) -> DrsObject:
    """Size, times, checksums, name, comment, aliases and the access method of a file version."""
    return await drs.get_object(session, user, settings, object_id)


@router.options(
    "/objects/{object_id}",
    operation_id="drsObjectAuthorizations",
    summary="How to authorize for a DRS object",
    response_model=DrsAuthorizations,
    responses=_errors(400, 401, 404, 500),
    **DRS_OUT,
)
async def object_authorizations(
    session: Session, user: Caller, settings: AppSettings, object_id: ObjectIdPath
) -> DrsAuthorizations:
    """Bearer tokens (OIDC access tokens or personal API tokens); public objects need none."""
    return await drs.authorizations(session, user, settings, object_id)


@router.get(
    "/objects/{object_id}/access/{access_id}",
    operation_id="drsGetAccessUrl",
    summary="A short-lived URL for a DRS object's bytes",
    response_model=DrsAccessURL,
    responses=_errors(400, 401, 403, 404, 409, 500),
    **DRS_OUT,
)
async def access_url(
    session: Session,
    user: Caller,
    storage: Storage_,
    settings: AppSettings,
    object_id: ObjectIdPath,
    access_id: Annotated[str, Path(max_length=256, description="The access_id of the object's access method")],
) -> DrsAccessURL:
    """A presigned S3 GET URL pinned to the version, valid OMICSDM_S3__DOWNLOAD_URL_EXPIRY_SECONDS."""
    return await drs.access_url(session, user, storage, settings, object_id, access_id)


@router.post(
    "/objects",
    operation_id="drsGetBulkObjects",
    summary="Several DRS objects",
    response_model=DrsBulkObjects,
    responses=_errors(400, 401, 413, 500),
    **DRS_OUT,
)
async def bulk_objects(
    session: Session, user: Caller, settings: AppSettings, body: DrsBulkObjectRequest, expand: Expand = False
) -> DrsBulkObjects:
    """The objects named in `bulk_object_ids`; the others are listed under `unresolved_drs_objects`."""
    return await drs.bulk_objects(session, user, settings, body.bulk_object_ids)


@router.options(
    "/objects",
    operation_id="drsBulkObjectAuthorizations",
    summary="How to authorize for several DRS objects",
    response_model=DrsBulkAuthorizations,
    responses=_errors(400, 401, 413, 500),
    **DRS_OUT,
)
async def bulk_authorizations(
    session: Session, user: Caller, settings: AppSettings, body: Annotated[DrsBulkObjectIds | None, Body()] = None
) -> DrsBulkAuthorizations:
    """The authorizations of each object named in `bulk_object_ids` (no body, or null: none)."""
    return await drs.bulk_authorizations(session, user, settings, body.bulk_object_ids if body else [])


@router.post(
    "/objects/access",
    operation_id="drsGetBulkAccessUrls",
    summary="Short-lived URLs for several DRS objects",
    response_model=DrsBulkAccessURLs,
    responses=_errors(400, 401, 413, 500),
    **DRS_OUT,
)
async def bulk_access(
    session: Session, user: Caller, storage: Storage_, settings: AppSettings, body: DrsBulkAccessRequest
) -> DrsBulkAccessURLs:
    """One URL per object and access id; what cannot be served is listed with its status (403, 404, 409)."""
    return await drs.bulk_access(session, user, storage, settings, body)


def _document(spec: dict[str, Any]) -> None:
    """DRS operations: DRS `Error` bodies instead of problem+json; 400 (not 422) for bad input; optional auth."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["DrsError"] = DrsError.model_json_schema()
    schemas["DrsBulkObjectIds"] = DrsBulkObjectIds.model_json_schema()
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/DrsError"}}}
    # FastAPI documents no request body for OPTIONS; DRS has one there.
    bulk_options = spec.get("paths", {}).get(f"{DRS_PREFIX}/objects", {}).get("options")
    if bulk_options is not None:
        bulk_options["requestBody"] = {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [{"$ref": "#/components/schemas/DrsBulkObjectIds"}, {"type": "null"}]}
                }
            },
        }
    for path, methods in spec.get("paths", {}).items():
        if not path.startswith(DRS_PREFIX):
            continue
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", {})
            if operation.get("security") and {} not in operation["security"]:
                operation["security"] = [{}, *operation["security"]]  # anonymous: public objects
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["description"] = DESCRIPTIONS.get(int(code), response.get("description", "Error"))
                    response["content"] = error
    tags = spec.setdefault("tags", [])
    if not any(tag.get("name") == "drs" for tag in tags):
        tags.append({"name": "drs", "description": "GA4GH Data Repository Service (DRS 1.5): every file version."})


def install(app: FastAPI) -> None:
    """Serve DRS and document it; call after `install_openapi`."""
    app.include_router(router)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        _document(spec)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
