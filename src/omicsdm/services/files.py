"""The file overview, one file's history, comments, presigned downloads, soft deletion and restore."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.auth.secrets import LinkTokens
from omicsdm.db.models import File, FileVersion, Fixity
from omicsdm.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from omicsdm.repository import audit, catalog, overview
from omicsdm.repository import files as files_repo
from omicsdm.repository.overview import NEVER_DELETED, SORT_COLUMNS, OverviewFilter, OverviewRow, Readable
from omicsdm.schemas.drs import drs_uri
from omicsdm.schemas.files import (
    AuditOut,
    DownloadLink,
    DownloadLinks,
    DownloadRequest,
    FileDetail,
    FileOut,
    FilePage,
    FilePermissions,
    FileUpdate,
    VersionOut,
    Visibility,
)
from omicsdm.services import identity
from omicsdm.services.access import may_manage
from omicsdm.services.cursors import decode_cursor, encode_cursor
from omicsdm.services.integrity import describe
from omicsdm.settings import Settings
from omicsdm.storage import Storage

OVERVIEW_SORTS = tuple(SORT_COLUMNS)
LINK_PATH = "/api/links"
SORTS = [f"{direction}{key}" for key in OVERVIEW_SORTS for direction in ("", "-")]


@dataclass
class Listing:
    """What the caller asked the overview for (already validated by the router's types)."""

    project_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    name: str | None = None
    extension: str | None = None
    submitter: str | None = None
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    version: int | None = None
    annotations: tuple[str, ...] = ()
    sort: str = "-submitted_at"
    cursor: str | None = None
    limit: int = 50
    include_total: bool | None = None


def _parse_sort(sort: str, allowed: tuple[str, ...]) -> tuple[str, bool]:
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in allowed:
        raise InvalidInput(f"cannot sort by {key!r}; use one of {', '.join(allowed)} (prefix '-' for descending)")
    return key, descending


def _parse_annotations(pairs: tuple[str, ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"annotation filter {pair!r} must look like key=value")
        result[key] = value
    return result


# ---- shaping rows ----------------------------------------------------------------------------------


def _visibility(row: OverviewRow) -> Visibility:
    if row.public:
        return Visibility.PUBLIC
    return Visibility.SHARED if row.shared else Visibility.PRIVATE


def _file_out(row: OverviewRow) -> FileOut:
    return FileOut(
        id=row.file_id,
        project_id=row.project_id,
        project_code=row.project_code,
        dataset_id=row.dataset_id,
        dataset_code=row.dataset_code,
        name=row.name,
        version=row.version,
        version_id=row.version_id,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
        etag=row.etag,
        checksum_state=row.checksum_state,
        fixity=row.fixity,
        fixity_checked_at=row.fixity_checked_at,
        integrity=describe(row.checksum_state, row.fixity, row.fixity_checked_at, row.sha256, row.fixity_note),
        submitted_by=row.submitter,
        submitted_at=row.submitted_at,
        comment=row.comment,
        annotations={str(k): str(val) for k, val in row.annotations.items()},
        visibility=_visibility(row),
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
    )


def version_out(
    version: FileVersion,
    *,
    file_id: uuid.UUID,
    dataset_id: uuid.UUID,
    name: str,
    submitter: str | None,
    public_url: str,
    restored: bool = False,
) -> VersionOut:
    return VersionOut(
        id=version.id,
        file_id=file_id,
        dataset_id=dataset_id,
        name=name,
        version=version.version,
        size=version.size,
        etag=version.etag,
        sha256=version.sha256,
        content_type=version.content_type,
        checksum_state=version.checksum_state,
        fixity=version.fixity,
        fixity_checked_at=version.fixity_checked_at,
        integrity=describe(
            version.checksum_state, version.fixity, version.fixity_checked_at, version.sha256, version.fixity_note
        ),
        submitted_by=submitter,
        submitted_at=version.submitted_at,
        restored=restored,
        drs_id=str(version.id),
        drs_uri=drs_uri(public_url, version.id),
    )


def _version_of(row: OverviewRow, version: FileVersion, submitter: str | None, public_url: str) -> VersionOut:
    return version_out(
        version,
        file_id=row.file_id,
        dataset_id=row.dataset_id,
        name=row.name,
        submitter=submitter,
        public_url=public_url,
    )


def _may_manage(principal: Principal, row: OverviewRow) -> bool:
    return may_manage(principal, row.owner_group_id)


def _may_download(principal: Principal, row: OverviewRow) -> bool:
    return row.deleted_at is None and (row.download_allowed or _may_manage(principal, row))


# ---- listings --------------------------------------------------------------------------------------


def _filter(principal: Principal, q: Listing, *, manageable_only: bool) -> OverviewFilter:
    flt = OverviewFilter(
        submitter=q.submitter or None,
        name=q.name,
        extension=q.extension,
        submitted_after=q.submitted_after,
        submitted_before=q.submitted_before,
        version=q.version,
        annotations=_parse_annotations(q.annotations),
    )
    if not (principal.is_admin and q.project_id is None and q.dataset_id is None):
        # resolved to dataset ids by the listing's first statement (repository.visibility's rule)
        flt.readable = Readable(
            group_ids=principal.group_ids,
            is_admin=principal.is_admin,
            project_id=q.project_id,
            dataset_id=q.dataset_id,
            manageable_only=manageable_only,
        )
    return flt


async def _page(listings: AsyncEngine, flt: OverviewFilter, q: Listing, allowed_sorts: tuple[str, ...]) -> FilePage:
    sort, descending = _parse_sort(q.sort, allowed_sorts)
    after = decode_cursor(q.cursor, q.sort) if q.cursor else None
    want_total = q.include_total if q.include_total is not None else q.cursor is None
    rows, counted = await overview.listing(listings, flt, sort, descending, after, q.limit + 1, want_total)
    total_capped = counted is not None and counted > overview.TOTAL_CAP
    total = min(counted, overview.TOTAL_CAP) if counted is not None else None
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        value = {
            "name": last.name,
            "version": last.version_count,
            "size": last.size,
            "submitted_at": last.submitted_at,
            "comment": last.comment,
            "submitter": last.submitter or "",
            "dataset": last.dataset_code,
            "project": last.project_code,
            "deleted_at": last.deleted_at or NEVER_DELETED,
        }[sort]
        next_cursor = encode_cursor(q.sort, value, last.file_id)
    return FilePage(items=[_file_out(r) for r in rows], next_cursor=next_cursor, total=total, total_capped=total_capped)


async def list_files(listings: AsyncEngine, principal: Principal, q: Listing) -> FilePage:
    return await _page(listings, _filter(principal, q, manageable_only=False), q, OVERVIEW_SORTS)


async def list_trash(listings: AsyncEngine, principal: Principal, q: Listing) -> FilePage:
    """Deleted files of the datasets the caller manages (their own group's), newest deletion first."""
    flt = _filter(principal, q, manageable_only=True)
    flt.deleted = True
    return await _page(listings, flt, q, OVERVIEW_SORTS)


async def list_all_for_admin(listings: AsyncEngine, principal: Principal, q: Listing, deleted: bool | None) -> FilePage:
    if not principal.is_admin:
        raise Forbidden("administrators only")
    flt = _filter(principal, q, manageable_only=False)
    flt.deleted = deleted
    return await _page(listings, flt, q, OVERVIEW_SORTS)


# ---- one file --------------------------------------------------------------------------------------


async def _load(session: AsyncSession, principal: Principal, file_id: uuid.UUID) -> OverviewRow:
    """The file if the caller may know of it: readable, and either live or the caller manages it."""
    readable = None if principal.is_admin else Readable(group_ids=principal.group_ids, is_admin=False)
    rows = await overview.page(
        session, OverviewFilter(readable=readable, file_ids=[file_id], deleted=None), "name", False, None, 1
    )
    if not rows or (rows[0].deleted_at is not None and not _may_manage(principal, rows[0])):
        raise NotFound("file not found")
    return rows[0]


async def get_file(session: AsyncSession, principal: Principal, file_id: uuid.UUID, public_url: str) -> FileDetail:
    row = await _load(session, principal, file_id)
    versions = [_version_of(row, v, who, public_url) for v, who in await overview.versions(session, file_id)]
    return FileDetail(
        **_file_out(row).model_dump(),
        versions=versions,
        permissions=FilePermissions(manage=_may_manage(principal, row), download=_may_download(principal, row)),
    )


async def get_version(
    session: AsyncSession, principal: Principal, file_id: uuid.UUID, number: int, public_url: str
) -> VersionOut:
    row = await _load(session, principal, file_id)
    for version, who in await overview.versions(session, file_id):
        if version.version == number:
            return _version_of(row, version, who, public_url)
    raise NotFound(f"version {number} not found")


async def _load_managed(session: AsyncSession, principal: Principal, file_id: uuid.UUID) -> File:
    """The file row, locked for the change, if the caller manages its dataset."""
    row = await _load(session, principal, file_id)
    if not _may_manage(principal, row):
        raise Forbidden("only the dataset's owner group and admins change its files")
    return await files_repo.lock(session, file_id)


async def update_file(
    session: AsyncSession, principal: Principal, file_id: uuid.UUID, data: FileUpdate, public_url: str
) -> FileDetail:
    file = await _load_managed(session, principal, file_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if data.comment is not None:
        file.comment = data.comment
    if data.annotations is not None:
        file.annotations = dict(data.annotations)
    await session.flush()
    await _audit(session, principal, "file.updated", file_id, changes)
    return await get_file(session, principal, file_id, public_url)


async def set_deleted(
    session: AsyncSession, principal: Principal, file_id: uuid.UUID, deleted: bool, public_url: str
) -> FileDetail:
    """Soft deletion: a flag with who and when. The bucket is never touched."""
    file = await _load_managed(session, principal, file_id)
    if (file.deleted_at is not None) != deleted:
        file.deleted_at = datetime.now(UTC) if deleted else None
        file.deleted_by = principal.user_id if deleted else None
        await session.flush()
        await _audit(session, principal, "file.deleted" if deleted else "file.restored", file_id, {})
    return await get_file(session, principal, file_id, public_url)


async def audit_trail(session: AsyncSession, principal: Principal, file_id: uuid.UUID) -> list[AuditOut]:
    if not principal.is_admin:
        raise Forbidden("administrators only")
    await _load(session, principal, file_id)
    upload_ids = [str(v.upload_id) for v, _ in await overview.versions(session, file_id) if v.upload_id]
    events = await audit.events_for(session, "file", str(file_id), also_uploads=upload_ids)
    return [
        AuditOut(
            at=e.at,
            actor=e.actor_name,
            action=e.action,
            target_type=e.target_type,
            target_id=e.target_id,
            detail=dict(e.detail),
        )
        for e in events
    ]


async def _audit(
    session: AsyncSession, principal: Principal, action: str, file_id: uuid.UUID, detail: dict[str, Any]
) -> None:
    await audit.record_by(
        session,
        principal,
        action=action,
        target_type="file",
        target_id=file_id,
        detail=detail,
    )


# ---- downloads -------------------------------------------------------------------------------------


LINK_REDIRECT_SECONDS = 60  # what a service link redirects to lives this long: enough to start the download


async def download_links(
    session: AsyncSession,
    principal: Principal,
    storage: Storage,
    settings: Settings,
    link_tokens: LinkTokens,
    request: DownloadRequest,
) -> DownloadLinks:
    """Per selected file, a presigned version-pinned URL and the service's link to it; all or nothing."""
    dataset_ids = None if principal.is_admin else await catalog.readable_dataset_ids(session, principal)
    wanted = [(item.file_id, item.version) for item in request.items]
    targets = await overview.download_targets(session, dataset_ids, wanted)
    expires = settings.s3.download_url_expiry_seconds
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=expires)
    base = settings.public_url.rstrip("/")
    links: list[DownloadLink] = []
    events: list[dict[str, Any]] = []
    for index, (file_id, number) in enumerate(wanted):
        target = servable(principal, targets.get((file_id, number)), f"item {index}: ", request.allow_corrupt)
        url = storage.presign_get(
            target.object_key, target.s3_version_id, target.name, target.content_type, expires, now
        )
        token = link_tokens.issue(file_id, target.version, principal.user_id, int(expires_at.timestamp()))
        links.append(
            DownloadLink(
                file_id=file_id,
                version_id=target.version_id,
                version=target.version,
                name=target.name,
                size=target.size,
                sha256=target.sha256,
                etag=target.etag,
                fixity=target.fixity,
                integrity=describe(
                    target.checksum_state, target.fixity, target.fixity_checked_at, target.sha256, target.fixity_note
                ),
                url=url,
                link=f"{base}{LINK_PATH}/{token}",
                expires_at=expires_at,
                drs_uri=drs_uri(settings.public_url, target.version_id),
            )
        )
        events.append(
            {
                "action": "file.download_url",
                "actor_id": principal.user_id,
                "actor_name": principal.username,
                "target_type": "file",
                "target_id": str(file_id),
                "detail": {"version": target.version, "expires_in": expires},
            }
        )
    await audit.record_many(session, events)
    return DownloadLinks(items=links, expires_in=expires)


def servable(
    principal: Principal, target: overview.DownloadTarget | None, where: str, allow_corrupt: bool = False
) -> overview.DownloadTarget:
    """The one rule for handing out bytes: visible and live, downloadable by this caller, not corrupt."""
    if target is None:
        raise NotFound(f"{where}file or version not found")
    if not target.download_allowed and not may_manage(principal, target.owner_group_id):
        raise Forbidden(f"{where}this project lets only the owner group download its files")
    if target.fixity is Fixity.CORRUPT and not (allow_corrupt and principal.is_admin):
        raise Conflict(
            f"{where}version {target.version} of {target.name!r} failed its integrity check "
            f"({target.fixity_note or 'the stored bytes differ'}); it is not served",
            code="version-corrupt",
        )
    return target


async def follow_link(
    session: AsyncSession, storage: Storage, settings: Settings, link_tokens: LinkTokens, token: str
) -> str:
    """The presigned URL behind a service link, after checking the file and its reader again."""
    found = link_tokens.verify(token)
    if found is None:
        raise Forbidden("this download link is not genuine", code="invalid-link")
    file_id, number, user_id, expiry = found
    if expiry < datetime.now(UTC).timestamp():
        raise Gone("this download link has expired; ask for a new one", code="link-expired")
    principal = await identity.principal_for_user(session, user_id, settings.auth.admin_group, via="link")
    if principal is None:
        raise NotFound("file or version not found")
    dataset_ids = None if principal.is_admin else await catalog.readable_dataset_ids(session, principal)
    targets = await overview.download_targets(session, dataset_ids, [(file_id, number)])
    target = servable(principal, targets.get((file_id, number)), "")
    await _audit(session, principal, "file.download", file_id, {"version": number, "via": "link"})
    now = datetime.now(UTC)
    return storage.presign_get(
        target.object_key, target.s3_version_id, target.name, target.content_type, LINK_REDIRECT_SECONDS, now
    )


def manifest_tsv(links: DownloadLinks) -> str:
    # `url` stays the last column: scripts take it with `awk -F"\t" "{print $NF}"`.
    lines = ["name\tversion\tsize\tsha256\tetag\tintegrity\tfile_id\texpires_at\tdrs_uri\turl"]
    for link in links.items:
        name = link.name.replace("\t", " ").replace("\n", " ")
        lines.append(
            f"{name}\t{link.version}\t{link.size}\t{link.sha256 or ''}\t{link.etag}\t{link.integrity}\t{link.file_id}\t"
            f"{link.expires_at.isoformat()}\t{link.drs_uri}\t{link.link}"
        )
    return "\n".join(lines) + "\n"
