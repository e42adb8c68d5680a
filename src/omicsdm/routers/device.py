"""`omicsdm login` from a command line (RFC 8628 device authorization grant) and its approval page's calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from omicsdm.deps import AppSettings, CurrentUser, Session
from omicsdm.errors import problem
from omicsdm.schemas.common import Problem
from omicsdm.schemas.device import (
    DeviceAuthorization,
    DeviceAuthorizeRequest,
    DeviceRequestOut,
    DeviceToken,
    DeviceTokenRequest,
)
from omicsdm.services import device_login

router = APIRouter(prefix="/api/device", tags=["device login"])
UserCode = Annotated[str, Path(min_length=1, max_length=32, description="The code shown by `omicsdm login`")]
POLL_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": Problem,
        "description": "Not (yet) a token: code authorization_pending or slow_down (keep polling, every `interval` "
        "seconds), access_denied, expired_token or invalid_grant (stop). `error` repeats the code (RFC 8628).",
    }
}


@router.post(
    "/authorize",
    operation_id="authorizeDevice",
    summary="Start a command-line login",
    responses={429: {"model": Problem, "description": "Too many logins started from this address in a minute"}},
)
async def authorize(
    request: Request, session: Session, settings: AppSettings, body: DeviceAuthorizeRequest
) -> DeviceAuthorization:
    """A device code for polling and a short user code for the web page (RFC 8628 section 3.2). No login needed."""
    client_ip = request.client.host if request.client else None
    return await device_login.authorize(session, settings, body, client_ip)


@router.post(
    "/token",
    operation_id="pollDeviceToken",
    summary="Poll for the API token of a command-line login",
    response_model=DeviceToken,
    responses=POLL_ERRORS,
)
async def token(session: Session, body: DeviceTokenRequest) -> Response:
    """The personal API token once the user approved, exactly once; until then a 400 saying why not."""
    answer = await device_login.poll(session, body.device_code)
    if isinstance(answer, DeviceToken):
        return JSONResponse(answer.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    extra = {"error": answer.code} | ({"interval": answer.interval} if answer.interval else {})
    return problem(400, answer.code, answer.detail, headers={"Cache-Control": "no-store"}, **extra)


@router.get(
    "/requests/{user_code}",
    operation_id="getDeviceRequest",
    summary="The machine asking to log in",
    responses={403: {"model": Problem}, 404: {"model": Problem}},
)
async def describe(session: Session, user: CurrentUser, user_code: UserCode) -> DeviceRequestOut:
    """What the approval page shows: program, host name, address and time of the request."""
    return await device_login.describe(session, user, user_code)


@router.post(
    "/requests/{user_code}/approve",
    operation_id="approveDeviceRequest",
    summary="Approve a command-line login",
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}},
)
async def approve(session: Session, user: CurrentUser, user_code: UserCode) -> DeviceRequestOut:
    """The machine's next poll receives a personal API token of the caller, named for that machine."""
    return await device_login.decide(session, user, user_code, approve=True)


@router.post(
    "/requests/{user_code}/deny",
    operation_id="denyDeviceRequest",
    summary="Deny a command-line login",
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}},
)
async def deny(session: Session, user: CurrentUser, user_code: UserCode) -> DeviceRequestOut:
    """The machine's next poll is told access_denied."""
    return await device_login.decide(session, user, user_code, approve=False)
