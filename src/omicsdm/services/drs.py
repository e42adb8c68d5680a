"""GA4GH DRS over the file versions: each version is one immutable object (same id, same bytes, forever).

The object id is the version's UUID. Visibility is the API's: a version is an object for a caller who
may read its dataset, while its file is not marked deleted; anything else is "not found" (or, for a
caller without credentials, "authentication required"), so nobody learns that an id exists. Bytes are
handed out by the download rule of `services/files.py` (`servable`), as presigned S3 URLs.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.db.models import Fixity
from omicsdm.errors import DomainError, NotAuthenticated, NotFound, TooLarge
from omicsdm.repository import audit
from omicsdm.repository import drs as drs_repo
from omicsdm.repository.drs import ObjectRow
from omicsdm.repository.overview import DownloadTarget
from omicsdm.schemas.drs import (
    AuthorizationType,
    DrsAccessMethod,
    DrsAccessURL,
    DrsAuthorizations,
    DrsBulkAccessRequest,
    DrsBulkAccessURL,
    DrsBulkAccessURLs,
    DrsBulkAuthorizations,
    DrsBulkObjects,
    DrsChecksum,
    DrsObject,
    DrsOrganization,
    DrsServiceInfo,
    DrsServiceStats,
    DrsServiceType,
    DrsSummary,
    DrsUnresolved,
    drs_uri,
)
from omicsdm.services.files import servable
from omicsdm.settings import Settings
from omicsdm.storage import Storage
from omicsdm.version import __version__

ACCESS_ID = "s3"  # the one access method of every object: a presigned GET on the bucket
WHOLE_FILE_MD5 = re.compile(r"^[0-9a-f]{32}$")  # a single-part upload's ETag; multipart ones end in -N
ANONYMOUS = Principal(
    user_id=uuid.UUID(int=0),
    subject="anonymous",
    username="anonymous",
    group_ids=frozenset(),
    groups=frozenset(),
    is_admin=False,
    via="anonymous",
)  # no groups: `dataset_readable` lets it read public datasets only


def is_legacy(settings: Settings) -> bool:
    """DRS 1.2.0 mode: no property that 1.3 or later added."""
    return settings.drs.spec_version == "1.2.0"


# ---- shaping ---------------------------------------------------------------------------------------


def _parse(object_id: str) -> uuid.UUID | None:
    """Only the canonical form we hand out names an object (one id, one spelling)."""
    try:
        parsed = uuid.UUID(object_id)
    except ValueError:
        return None
    return parsed if str(parsed) == object_id else None


def _checksums(row: ObjectRow) -> list[DrsChecksum]:
    sums: list[DrsChecksum] = []
    if row.sha256:
        sums.append(DrsChecksum(checksum=row.sha256, type="sha-256"))
    etag = row.etag.strip('"').lower()
    if WHOLE_FILE_MD5.match(etag):
        sums.append(DrsChecksum(checksum=etag, type="md5"))
    if not row.sha256:
        sums.append(DrsChecksum(checksum=etag, type="etag"))
    return sums


def _authorizations(settings: Settings, row: ObjectRow | None, object_id: str) -> DrsAuthorizations:
    types: list[AuthorizationType] = ["None", "BearerAuth"] if row is not None and row.public else ["BearerAuth"]
    issuers = [settings.auth.oidc_issuer] if settings.auth.oidc_issuer else None
    return DrsAuthorizations(drs_object_id=object_id, supported_types=types, bearer_auth_issuers=issuers)


def _object(settings: Settings, row: ObjectRow) -> DrsObject:
    object_id = str(row.version_id)
    method = DrsAccessMethod(type="https", access_id=ACCESS_ID, region=settings.s3.region)
    if not is_legacy(settings):
        method.available = row.fixity is not Fixity.CORRUPT
        method.authorizations = _authorizations(settings, row, object_id)
    return DrsObject(
        id=object_id,
        name=row.name.rsplit("/", 1)[-1],
        self_uri=drs_uri(settings.public_url, object_id),
        size=row.size,
        created_time=row.submitted_at,
        updated_time=row.submitted_at,  # versions never change
        version=str(row.version),
        mime_type=row.content_type,
        checksums=_checksums(row),
        access_methods=[method],
        description=row.comment or None,
        aliases=[f"{row.project_code}/{row.dataset_code}/{row.name}", f"{row.name}@{row.version}"],
    )


def _missing(principal: Principal | None) -> DomainError:
    if principal is None:
        return NotAuthenticated("authentication required: send Authorization: Bearer <token>")
    return NotFound("no such DRS object")


async def _load(
    session: AsyncSession, principal: Principal | None, ids: list[str]
) -> tuple[dict[str, ObjectRow], list[str]]:
    """Found objects by requested id, and the ids that are not (for the caller)."""
    parsed = {object_id: _parse(object_id) for object_id in dict.fromkeys(ids)}
    rows = await drs_repo.objects(session, principal or ANONYMOUS, [u for u in parsed.values() if u is not None])
    found = {object_id: rows[u] for object_id, u in parsed.items() if u is not None and u in rows}
    return found, [object_id for object_id in parsed if object_id not in found]


def _check_length(settings: Settings, requested: int) -> None:
    limit = settings.drs.max_bulk_request_length
    if requested > limit:
        raise TooLarge(f"a bulk request may name at most {limit} ids; this one names {requested}")


def _unresolved(failures: dict[int, list[str]]) -> list[DrsUnresolved]:
    return [DrsUnresolved(error_code=code, object_ids=ids) for code, ids in sorted(failures.items())]


# ---- use cases -------------------------------------------------------------------------------------


async def service_info(session: AsyncSession, settings: Settings) -> DrsServiceInfo:
    host = urlsplit(settings.public_url).hostname or "localhost"
    try:
        ip_address(host)
        reverse = "local.omicsdm"
    except ValueError:
        reverse = ".".join(reversed(host.split(".")))
    info = DrsServiceInfo(
        id=f"{reverse}.drs",
        name="omicsdm DRS",
        type=DrsServiceType(group="org.ga4gh", artifact="drs", version=settings.drs.spec_version),
        description="Every file version of this omicsdm file store as an immutable GA4GH DRS object.",
        organization=DrsOrganization(
            name=settings.drs.organization_name, url=settings.drs.organization_url or settings.public_url
        ),
        documentationUrl=settings.public_url.rstrip("/") + "/docs",
        version=__version__,
    )
    if not is_legacy(settings):
        count, total = await drs_repo.totals(session)
        limit = settings.drs.max_bulk_request_length
        info.maxBulkRequestLength = limit
        info.drs = DrsServiceStats(maxBulkRequestLength=limit, objectCount=count, totalObjectSize=total)
    return info


async def get_object(
    session: AsyncSession, principal: Principal | None, settings: Settings, object_id: str
) -> DrsObject:
    found, _ = await _load(session, principal, [object_id])
    if object_id not in found:
        raise _missing(principal)
    return _object(settings, found[object_id])


async def bulk_objects(
    session: AsyncSession, principal: Principal | None, settings: Settings, ids: list[str]
) -> DrsBulkObjects:
    _check_length(settings, len(ids))
    found, missing = await _load(session, principal, ids)
    code = 401 if principal is None else 404
    return DrsBulkObjects(
        summary=DrsSummary(requested=len(found) + len(missing), resolved=len(found), unresolved=len(missing)),
        unresolved_drs_objects=_unresolved({code: missing} if missing else {}),
        resolved_drs_object=[_object(settings, row) for row in found.values()],
    )


async def authorizations(
    session: AsyncSession, principal: Principal | None, settings: Settings, object_id: str
) -> DrsAuthorizations:
    """How to authorize for an object. Without credentials, every id but a public object's gets the same
    answer (bearer tokens), so this tells nobody whether an id exists."""
    found, _ = await _load(session, principal, [object_id])
    if principal is not None and object_id not in found:
        raise NotFound("no such DRS object")
    return _authorizations(settings, found.get(object_id), object_id)


async def bulk_authorizations(
    session: AsyncSession, principal: Principal | None, settings: Settings, ids: list[str]
) -> DrsBulkAuthorizations:
    _check_length(settings, len(ids))
    found, missing = await _load(session, principal, ids)
    if principal is None:  # see `authorizations`
        resolved = [_authorizations(settings, found.get(object_id), object_id) for object_id in dict.fromkeys(ids)]
        missing = []
    else:
        resolved = [_authorizations(settings, row, object_id) for object_id, row in found.items()]
    return DrsBulkAuthorizations(
        summary=DrsSummary(requested=len(resolved) + len(missing), resolved=len(resolved), unresolved=len(missing)),
        unresolved_drs_objects=_unresolved({404: missing} if missing else {}),
        resolved_drs_object=resolved,
    )


def _target(row: ObjectRow) -> DownloadTarget:
    return DownloadTarget(
        file_id=row.file_id,
        name=row.name,
        owner_group_id=row.owner_group_id,
        download_allowed=row.download_allowed,
        version_id=row.version_id,
        version=row.version,
        object_key=row.object_key,
        s3_version_id=row.s3_version_id,
        size=row.size,
        sha256=row.sha256,
        etag=row.etag,
        content_type=row.content_type,
        checksum_state=row.checksum_state,
        fixity=row.fixity,
        fixity_checked_at=row.fixity_checked_at,
        fixity_note=row.fixity_note,
    )


class _Presigner:
    """Presigned URLs for servable objects, and the audit rows that record them."""

    def __init__(self, principal: Principal | None, storage: Storage, settings: Settings) -> None:
        self.principal = principal
        self.storage = storage
        self.expires = settings.s3.download_url_expiry_seconds
        self.now = datetime.now(UTC)
        self.events: list[dict[str, Any]] = []

    def url(self, row: ObjectRow) -> str:
        target = servable(self.principal or ANONYMOUS, _target(row), "")
        self.events.append(
            {
                "action": "file.download_url",
                "actor_id": self.principal.user_id if self.principal else None,
                "actor_name": self.principal.username if self.principal else ANONYMOUS.username,
                "target_type": "file",
                "target_id": str(row.file_id),
                "detail": {"version": row.version, "expires_in": self.expires, "via": "drs"},
            }
        )
        return self.storage.presign_get(
            target.object_key, target.s3_version_id, target.name, target.content_type, self.expires, self.now
        )


async def access_url(
    session: AsyncSession,
    principal: Principal | None,
    storage: Storage,
    settings: Settings,
    object_id: str,
    access_id: str,
) -> DrsAccessURL:
    found, _ = await _load(session, principal, [object_id])
    if object_id not in found:
        raise _missing(principal)
    if access_id != ACCESS_ID:
        raise NotFound(f"no access method {access_id!r} for this object (use {ACCESS_ID!r})")
    presigner = _Presigner(principal, storage, settings)
    url = presigner.url(found[object_id])
    await audit.record_many(session, presigner.events)
    return DrsAccessURL(url=url, headers=[])


async def bulk_access(
    session: AsyncSession,
    principal: Principal | None,
    storage: Storage,
    settings: Settings,
    request: DrsBulkAccessRequest,
) -> DrsBulkAccessURLs:
    """One URL per (object, access id) pair; each pair that cannot be served is listed with its status."""
    pairs = [
        (item.bulk_object_id, access) for item in request.bulk_object_access_ids for access in item.bulk_access_ids
    ]
    _check_length(settings, max(len(pairs), len(request.bulk_object_access_ids)))
    found, _ = await _load(session, principal, [object_id for object_id, _ in pairs])
    presigner = _Presigner(principal, storage, settings)
    resolved: list[DrsBulkAccessURL] = []
    failures: dict[int, list[str]] = defaultdict(list)
    for object_id, access in dict.fromkeys(pairs):
        row = found.get(object_id)
        if row is None:
            failures[401 if principal is None else 404].append(object_id)
        elif access != ACCESS_ID:
            failures[404].append(object_id)
        else:
            try:
                url = presigner.url(row)
            except DomainError as exc:  # forbidden to download, or corrupt: this pair only
                failures[exc.status].append(object_id)
                continue
            resolved.append(DrsBulkAccessURL(drs_object_id=object_id, drs_access_id=access, url=url, headers=[]))
    await audit.record_many(session, presigner.events)
    unresolved = sum(len(ids) for ids in failures.values())
    return DrsBulkAccessURLs(
        summary=DrsSummary(requested=len(resolved) + unresolved, resolved=len(resolved), unresolved=unresolved),
        unresolved_drs_objects=_unresolved(failures),
        resolved_drs_object_access_urls=resolved,
    )
