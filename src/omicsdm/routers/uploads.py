"""Uploads: start, the EvaporateJS signer, complete, cancel."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import PlainTextResponse

from omicsdm.db.models import UploadState
from omicsdm.deps import AppSettings, CurrentUser, Session, State, Storage_
from omicsdm.errors import Forbidden, InvalidInput
from omicsdm.schemas.common import Problem
from omicsdm.schemas.files import VersionOut
from omicsdm.schemas.uploads import UploadComplete, UploadCreate, UploadLimits, UploadOut
from omicsdm.services import uploads
from omicsdm.services.signer import Signer, SignRequest
from omicsdm.services.uploads import UPLOAD_TOKEN_HEADER

router = APIRouter(prefix="/api/uploads", tags=["uploads"])


def get_signer(state: State) -> Signer:
    return state.signer


@router.post(
    "",
    operation_id="startUpload",
    summary="Start (or resume) an upload",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": UploadOut, "description": "An unfinished upload of the same file was resumed"},
        403: {"model": Problem},
        404: {"model": Problem},
        413: {"model": Problem},
    },
)
async def start_upload(
    session: Session, user: CurrentUser, state: State, storage: Storage_, body: UploadCreate, response: Response
) -> UploadOut:
    """Checks permission, name and size, allocates a fresh object key and returns the multipart set-up."""
    out = await uploads.start(session, user, state.settings, state.upload_tokens, storage, body)
    if out.resumed:
        response.status_code = status.HTTP_200_OK
    return out


# Real values are a few hundred ASCII characters; the limits keep the URL well under servers' 64 KiB.
SIGN_QUERY: tuple[tuple[str, int, str], ...] = (
    ("to_sign", 1024, "EvaporateJS's string to sign"),
    ("datetime", 32, "x-amz-date of the request, e.g. 20261125T093005Z"),
    ("canonical_request", 8192, "The SigV4 canonical request (sendCanonicalRequestToSignerUrl: true)"),
)
SIGNABLE = re.compile(r"[\x20-\x7e\n]*")
TOKEN_LIMIT = 512
SIGN_PARAMETERS = [
    *(
        {
            "name": name,
            "in": "query",
            "required": True,
            "schema": {"type": "string", "maxLength": limit, "pattern": "^[\\x20-\\x7e\\n]*$"},
            "description": text,
        }
        for name, limit, text in SIGN_QUERY
    ),
    {
        "name": UPLOAD_TOKEN_HEADER,
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": TOKEN_LIMIT},
        "description": "sign_headers of the upload (preferred: headers stay out of access logs)",
    },
    {
        "name": "upload_token",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": TOKEN_LIMIT},
        "description": "sign_params.upload_token, when the header cannot be sent",
    },
]


@router.get(
    "/sign",
    operation_id="signUploadRequest",
    summary="Sign one S3 request of an upload (EvaporateJS signerUrl)",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"example": "5d6f…"}}},
        403: {"model": Problem},
        422: {"model": Problem},
    },
    openapi_extra={"parameters": SIGN_PARAMETERS},
)
async def sign(request: Request) -> PlainTextResponse:
    """Returns the hex SigV4 signature when the request is one step of this upload; 403 with the reason otherwise."""
    # The hot path of every upload (one call per part): parameters are read by hand rather than
    # through per-parameter dependency injection, which cost more than all the checks together.
    query = request.query_params
    values = []
    for name, limit, _ in SIGN_QUERY:
        value = query.get(name)
        if value is None or len(value) > limit or not SIGNABLE.fullmatch(value):
            raise InvalidInput(f"query parameter {name} is missing, too long or not printable ASCII")
        values.append(value)
    to_sign, amz_datetime, canonical_request = values
    upload_token = request.headers.get(UPLOAD_TOKEN_HEADER) or query.get("upload_token")
    if upload_token is not None and len(upload_token) > TOKEN_LIMIT:
        raise InvalidInput("the upload token is too long")
    if not upload_token:
        raise Forbidden(
            f"signing refused: no upload token; send the {UPLOAD_TOKEN_HEADER} header", code="signing-refused"
        )
    signer: Signer = request.app.state.omicsdm.signer
    signature = await signer.sign(SignRequest(upload_token, to_sign, amz_datetime, canonical_request))
    return PlainTextResponse(signature, headers={"Cache-Control": "no-store"})


@router.get("/limits", operation_id="getUploadLimits", summary="What an upload must satisfy")
async def upload_limits(user: CurrentUser, settings: AppSettings) -> UploadLimits:
    """The allowed file endings, the size limit and the part sizes, to show before anything is picked."""
    return uploads.limits(settings)


@router.get("", operation_id="listUploads", summary="My uploads")
async def list_uploads(
    session: Session,
    user: CurrentUser,
    state: State,
    upload_state: Annotated[UploadState | None, Query(alias="state", description="e.g. pending")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[UploadOut]:
    """The caller's uploads, newest first; `state=pending` lists the unfinished ones to resume or cancel."""
    return await uploads.list_mine(session, user, state.settings, state.upload_tokens, upload_state, limit)


@router.get(
    "/{upload_id:uuid}", operation_id="getUpload", summary="One of my uploads", responses={404: {"model": Problem}}
)
async def get_upload(session: Session, user: CurrentUser, state: State, upload_id: uuid.UUID) -> UploadOut:
    """The upload's state and set-up (with a fresh signing token while it is pending)."""
    return await uploads.get(session, user, state.settings, state.upload_tokens, upload_id)


@router.post(
    "/{upload_id:uuid}/complete",
    operation_id="completeUpload",
    summary="Record the uploaded file as a new version",
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}},
)
async def complete_upload(
    session: Session,
    user: CurrentUser,
    storage: Storage_,
    signer: Annotated[Signer, Depends(get_signer)],
    settings: AppSettings,
    upload_id: uuid.UUID,
    body: UploadComplete | None = None,
) -> VersionOut:
    """Checks with S3 that the object exists with the declared size (and part checksums), then assigns the
    next version number. Idempotent."""
    return await uploads.complete(
        session, user, storage, signer.cache, upload_id, body or UploadComplete(), settings.public_url
    )


@router.post(
    "/{upload_id:uuid}/cancel",
    operation_id="cancelUpload",
    summary="Cancel an unfinished upload",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def cancel_upload(
    session: Session,
    user: CurrentUser,
    storage: Storage_,
    signer: Annotated[Signer, Depends(get_signer)],
    upload_id: uuid.UUID,
) -> None:
    """Aborts the multipart upload in S3 (its parts are discarded; no stored object is touched)."""
    await uploads.cancel(session, user, storage, signer.cache, upload_id)
