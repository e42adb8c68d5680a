"""The file overview, one file, comments, downloads, soft deletion, trash, admin view."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from pydantic import StringConstraints

from omicsdm.deps import AppSettings, CurrentUser, Listings, Session, State, Storage_
from omicsdm.schemas.common import INT32_MAX, NO_NUL, IsoDateTime, Problem
from omicsdm.schemas.files import (
    ANNOTATION_FILTER,
    AuditOut,
    DownloadLinks,
    DownloadRequest,
    FileDetail,
    FilePage,
    FileUpdate,
    Selection,
    VersionOut,
)
from omicsdm.services import files
from omicsdm.services.files import SORTS, Listing

router = APIRouter(prefix="/api", tags=["files"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such file, or the caller may not know of it"}
}
BAD_QUERY: dict[int | str, dict[str, Any]] = {422: {"model": Problem, "description": "Bad filter, sort or cursor"}}


async def listing(
    project_id: uuid.UUID | None = None,
    dataset_id: uuid.UUID | None = None,
    name: Annotated[
        str | None, Query(max_length=1024, pattern=NO_NUL, description="Substring of the name, any case")
    ] = None,
    extension: Annotated[
        str | None, Query(max_length=32, pattern=NO_NUL, description="Name ending, e.g. fastq.gz")
    ] = None,
    submitter: Annotated[
        str | None, Query(max_length=255, pattern=NO_NUL, description="User name of the latest submitter")
    ] = None,
    submitted_after: IsoDateTime | None = None,
    submitted_before: IsoDateTime | None = None,
    version: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Latest version number equals")] = None,
    annotation: Annotated[
        list[Annotated[str, StringConstraints(max_length=2048, pattern=ANNOTATION_FILTER)]],
        Query(max_length=20, description="key=value; repeat to combine"),
    ] = [],  # noqa: B006
    sort: Annotated[
        str,
        Query(
            max_length=20,
            pattern=NO_NUL,
            description="A column; '-' in front sorts descending",
            json_schema_extra={"enum": SORTS},
        ),
    ] = "-submitted_at",
    cursor: Annotated[
        str | None, Query(max_length=2048, pattern=NO_NUL, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    include_total: Annotated[
        bool | None, Query(description="Count the matches, up to 10,000 (default: on the first page)")
    ] = None,
) -> Listing:
    return Listing(
        project_id=project_id,
        dataset_id=dataset_id,
        name=name,
        extension=extension,
        submitter=submitter,
        submitted_after=submitted_after,
        submitted_before=submitted_before,
        version=version,
        annotations=tuple(annotation),
        sort=sort,
        cursor=cursor,
        limit=limit,
        include_total=include_total,
    )


ListingQuery = Annotated[Listing, Depends(listing)]


def _page(page: FilePage) -> Response:
    """Pages are built from validated models already; skip FastAPI's second validation pass (hot path)."""
    return Response(page.model_dump_json(), media_type="application/json")


@router.get(
    "/files", operation_id="listFiles", summary="The file overview", response_model=FilePage, responses=BAD_QUERY
)
async def list_files(listings: Listings, user: CurrentUser, q: ListingQuery) -> Response:
    """The latest version of every file the caller may read and that is not marked deleted; filtered,
    sorted and paginated by cursor."""
    return _page(await files.list_files(listings, user, q))


@router.get(
    "/files/{file_id:uuid}", operation_id="getFile", summary="One file with its version history", responses=NOT_FOUND
)
async def get_file(session: Session, user: CurrentUser, settings: AppSettings, file_id: uuid.UUID) -> FileDetail:
    """The file, every version (who, when, size, checksums) and what the caller may do with it."""
    return await files.get_file(session, user, file_id, settings.public_url)


@router.get(
    "/files/{file_id:uuid}/versions/{version}",
    operation_id="getFileVersion",
    summary="One version",
    responses=NOT_FOUND,
)
async def get_version(
    session: Session,
    user: CurrentUser,
    settings: AppSettings,
    file_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=INT32_MAX)],
) -> VersionOut:
    """One version of a file, addressed by its number."""
    return await files.get_version(session, user, file_id, version, settings.public_url)


@router.patch(
    "/files/{file_id:uuid}",
    operation_id="updateFile",
    summary="Edit comment and annotations",
    responses={**NOT_FOUND, 403: {"model": Problem}},
)
async def update_file(
    session: Session, user: CurrentUser, settings: AppSettings, file_id: uuid.UUID, body: FileUpdate
) -> FileDetail:
    """The owner group and admins edit the comment and replace the key-value annotations."""
    return await files.update_file(session, user, file_id, body, settings.public_url)


@router.post(
    "/files/{file_id:uuid}/delete",
    operation_id="deleteFile",
    summary="Mark a file deleted",
    responses={**NOT_FOUND, 403: {"model": Problem}},
)
async def delete_file(session: Session, user: CurrentUser, settings: AppSettings, file_id: uuid.UUID) -> FileDetail:
    """A flag: the file leaves the overview and gets no download URL; nothing leaves the bucket. Undo with restore."""
    return await files.set_deleted(session, user, file_id, True, settings.public_url)


@router.post(
    "/files/{file_id:uuid}/restore",
    operation_id="restoreFile",
    summary="Restore a deleted file",
    responses={**NOT_FOUND, 403: {"model": Problem}},
)
async def restore_file(session: Session, user: CurrentUser, settings: AppSettings, file_id: uuid.UUID) -> FileDetail:
    """Brings a file back with all its versions."""
    return await files.set_deleted(session, user, file_id, False, settings.public_url)


@router.post(
    "/files/download-urls",
    operation_id="createDownloadUrls",
    summary="Presigned download URLs for a selection",
    responses={**NOT_FOUND, 403: {"model": Problem}},
)
async def download_urls(
    session: Session, user: CurrentUser, storage: Storage_, state: State, body: DownloadRequest
) -> DownloadLinks:
    """Per selected file (latest or a given version): a short-lived presigned URL, saving under the file's
    name, and the service's link, which is refused as soon as the file is marked deleted."""
    return await files.download_links(session, user, storage, state.settings, state.link_tokens, body)


@router.post(
    "/files/manifest",
    operation_id="createManifest",
    summary="A manifest of a selection (JSON or TSV)",
    responses={200: {"content": {"text/tab-separated-values": {}}}, **NOT_FOUND, 403: {"model": Problem}},
)
async def manifest(
    session: Session,
    user: CurrentUser,
    storage: Storage_,
    state: State,
    body: DownloadRequest,
    format: Literal["json", "tsv"] = "json",
) -> Response:
    """Name, version, size, checksums and links per file, for scripts (`wget -i`, `curl -L`); the TSV's
    `url` is the service's link (refused once the file is marked deleted)."""
    links = await files.download_links(session, user, storage, state.settings, state.link_tokens, body)
    if format == "tsv":
        return PlainTextResponse(
            files.manifest_tsv(links),
            media_type="text/tab-separated-values; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="manifest.tsv"'},
        )
    return Response(links.model_dump_json(), media_type="application/json")


@router.get(
    "/files/{file_id:uuid}/download",
    operation_id="downloadFile",
    summary="Redirect to a fresh download URL",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "Location: the presigned URL"},
        **NOT_FOUND,
        403: {"model": Problem},
        409: {"model": Problem, "description": "The version is corrupt (`version-corrupt`)"},
    },
)
async def download(
    session: Session,
    user: CurrentUser,
    storage: Storage_,
    state: State,
    file_id: uuid.UUID,
    version: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="A version; the latest when omitted")] = None,
) -> RedirectResponse:
    """For `curl -L -H 'Authorization: Bearer …'` and wget: 302 to a presigned URL of the file (or version)."""
    selection = DownloadRequest(items=[Selection(file_id=file_id, version=version)])
    links = await files.download_links(session, user, storage, state.settings, state.link_tokens, selection)
    return RedirectResponse(links.items[0].url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get(
    "/links/{token}",
    operation_id="followDownloadLink",
    summary="Follow a download link (no login: the link is the credential)",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "Location: a presigned URL valid for 60 s"},
        403: {"model": Problem, "description": "Not a genuine link (`invalid-link`)"},
        404: {"model": Problem, "description": "The file was marked deleted, or its reader lost access"},
        409: {"model": Problem, "description": "The version is corrupt (`version-corrupt`)"},
        410: {"model": Problem, "description": "The link expired (`link-expired`)"},
    },
)
async def follow_link(
    session: Session, storage: Storage_, state: State, token: Annotated[str, Path(max_length=512)]
) -> RedirectResponse:
    """The `link` of a download: checks the file and its reader on every use, then redirects to S3."""
    url = await files.follow_link(session, storage, state.settings, state.link_tokens, token)
    return RedirectResponse(
        url, status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


@router.get(
    "/trash", operation_id="listTrash", summary="My deleted files", response_model=FilePage, responses=BAD_QUERY
)
async def trash(listings: Listings, user: CurrentUser, q: ListingQuery) -> Response:
    """Files marked deleted in the datasets the caller's groups own (all, for admins)."""
    if q.sort == "-submitted_at":
        q.sort = "-deleted_at"
    return _page(await files.list_trash(listings, user, q))


@router.get(
    "/admin/files",
    operation_id="adminListFiles",
    tags=["admin"],
    summary="Every file (admins)",
    response_model=FilePage,
    responses={403: {"model": Problem}, **BAD_QUERY},
)
async def admin_files(
    listings: Listings,
    user: CurrentUser,
    q: ListingQuery,
    deleted: Annotated[bool | None, Query(description="true: only deleted; false: only live; omit: both")] = None,
) -> Response:
    """All files, deleted ones included."""
    return _page(await files.list_all_for_admin(listings, user, q, deleted))


@router.get(
    "/admin/files/{file_id:uuid}/audit",
    operation_id="adminFileAudit",
    tags=["admin"],
    summary="A file's audit trail (admins)",
    responses={403: {"model": Problem}, **NOT_FOUND},
)
async def admin_audit(session: Session, user: CurrentUser, file_id: uuid.UUID) -> list[AuditOut]:
    """Uploads, edits, downloads, deletions and restores of the file, oldest first."""
    return await files.audit_trail(session, user, file_id)
