"""The file overview: filtered, sorted, keyset-paginated listings and their counts.

Every filter is on the `files` table itself (readable datasets are resolved to ids first), so a
page is one index range scan plus primary-key joins for the 50 rows shown.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import (
    ARRAY,
    BindParameter,
    Integer,
    Select,
    String,
    Uuid,
    any_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased

from omicsdm.db.engine import JOIN_ORDER_AS_WRITTEN
from omicsdm.db.models import ChecksumState, Dataset, DatasetShare, File, FileVersion, Fixity, Project, User
from omicsdm.repository import compiled
from omicsdm.repository.visibility import readable_by

Submitter = aliased(User, name="submitter")
Deleter = aliased(User, name="deleter")

# Live files have no deletion time; keyset paging needs a value, so they sort as deleted at the epoch.
NEVER_DELETED = datetime(1970, 1, 1, tzinfo=UTC)
SORT_COLUMNS: dict[str, Any] = {  # column expressions by sort key
    "name": File.name,
    "version": File.version_count,
    "size": File.size,
    "submitted_at": File.submitted_at,
    "comment": File.comment,
    "submitter": func.coalesce(Submitter.username, literal_column("''")),
    "dataset": Dataset.code,
    "project": Project.code,
    "deleted_at": func.coalesce(File.deleted_at, literal_column("'1970-01-01T00:00:00+00:00'::timestamptz")),
}


@dataclass(frozen=True, slots=True)
class Readable:
    """The datasets a listing covers: those these groups read (or manage), of one project or one dataset."""

    group_ids: frozenset[int]
    is_admin: bool
    project_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    manageable_only: bool = False


@dataclass
class OverviewFilter:
    readable: Readable | None = None  # resolved into dataset_ids by the listing's first statement
    dataset_ids: list[uuid.UUID] | None = None  # None (and no `readable`): every dataset (admins)
    submitter: str | None = None  # a user name, resolved into submitter_ids with `readable`
    name: str | None = None
    extension: str | None = None
    submitter_ids: list[uuid.UUID] | None = None
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    version: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    deleted: bool | None = False  # False: live files; True: deleted ones; None: both
    file_ids: list[uuid.UUID] | None = None


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """A file with its latest version, dataset and project: plain columns (a page is 50-1,000 rows)."""

    file_id: uuid.UUID
    name: str
    version_count: int
    size: int
    submitted_at: datetime
    comment: str
    annotations: dict[str, Any]
    deleted_at: datetime | None
    version_id: uuid.UUID
    version: int
    content_type: str
    sha256: str | None
    etag: str
    checksum_state: ChecksumState
    fixity: Fixity
    fixity_checked_at: datetime | None
    fixity_note: str | None
    dataset_id: uuid.UUID
    dataset_code: str
    owner_group_id: int
    public: bool
    project_id: uuid.UUID
    project_code: str
    download_allowed: bool
    submitter: str | None
    deleted_by: str | None
    shared: bool  # the dataset is shared with further groups


_ROW_COLUMNS = (
    File.id, File.name, File.version_count, File.size, File.submitted_at, File.comment, File.annotations,
    File.deleted_at, FileVersion.id, FileVersion.version, FileVersion.content_type, FileVersion.sha256,
    FileVersion.etag, FileVersion.checksum_state, FileVersion.fixity, FileVersion.fixity_checked_at,
    FileVersion.fixity_note, Dataset.id, Dataset.code, Dataset.owner_group_id, Dataset.public,
    Project.id, Project.code, Project.file_download_allowed, Submitter.username, Deleter.username,
    exists(select(DatasetShare.dataset_id).where(DatasetShare.dataset_id == Dataset.id)).label("shared"),
)  # fmt: skip
# The joins are written in the order to run them (files by index, then row lookups). Left to itself
# the planner searches every order of seven relations on each call, which took 2.5 ms of a 3.6 ms
# page over a million versions; with the order fixed a page takes 1.4 ms. The listings engine's
# connections have it from the start (db/engine.JOIN_ORDER_AS_WRITTEN); in a session's transaction it is
# set for that transaction (SET LOCAL) first.
_IDS = ARRAY(Uuid)
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


_IDENTIFIER = re.compile(r"[^\W_]*\d[^\W_]*")


def search_probe(term: str) -> str:
    """The part of a name search that the trigram index looks up; the whole term is checked on its rows.

    A trigram search reads the posting list of every trigram of its pattern, and a word that most
    names share ("sample", "fastq", "run") has one as long as the table: "sample_4242" read the
    entries of half a million names for each of its five "sample_" trigrams (340 ms at a million
    versions), while "4242" alone reads a few hundred (0.5 ms). So the longest run of letters and
    digits that contains a digit (sample ids, accessions, lanes: what a search narrows on) is looked
    up, if it has a trigram (3+ characters); otherwise the whole term. Exact either way.
    """
    runs = [run for run in _IDENTIFIER.findall(term) if len(run) >= 3]
    return max(runs, key=len) if runs else term


def _like_escape(term: str) -> str:
    return term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _param(name: str, type_: Any = None) -> BindParameter[Any]:
    return bindparam(name, type_=type_)


def _where(stmt: _S, flt: OverviewFilter) -> _S:
    """The filter as predicates on `files` with named parameters (values: `_values`)."""
    if flt.dataset_ids is not None:
        stmt = stmt.where(File.dataset_id == any_(_param("dataset_ids", _IDS)))
    if flt.file_ids is not None:
        stmt = stmt.where(File.id == any_(_param("file_ids", _IDS)))
    if flt.deleted is False:
        stmt = stmt.where(File.deleted_at.is_(None))
    elif flt.deleted is True:
        stmt = stmt.where(File.deleted_at.is_not(None))
    if flt.name:
        term = flt.name.lower()
        stmt = stmt.where(func.lower(File.name).like(_param("name_like", String), escape="\\"))
        if search_probe(term) != term:
            # the whole term, exactly (strpos is not trigram-indexed: the probe drives the scan)
            stmt = stmt.where(func.strpos(func.lower(File.name), _param("name_term", String)) > literal_column("0"))
    if flt.extension:
        stmt = stmt.where(func.lower(File.name).like(_param("extension_like", String), escape="\\"))
    if flt.submitter_ids is not None:
        stmt = stmt.where(File.submitted_by == any_(_param("submitter_ids", _IDS)))
    if flt.submitted_after is not None:
        stmt = stmt.where(File.submitted_at >= _param("submitted_after", File.submitted_at.type))
    if flt.submitted_before is not None:
        stmt = stmt.where(File.submitted_at < _param("submitted_before", File.submitted_at.type))
    if flt.version is not None:
        stmt = stmt.where(File.version_count == _param("version", Integer))
    if flt.annotations:
        stmt = stmt.where(File.annotations.contains(_param("annotations", File.annotations.type)))
    return stmt


def _shape(flt: OverviewFilter) -> tuple[Any, ...]:
    """What decides `_where`'s statement text (not the values)."""
    term = flt.name.lower() if flt.name else ""
    return (
        flt.dataset_ids is not None,
        flt.file_ids is not None,
        flt.deleted,
        bool(term),
        bool(term) and search_probe(term) != term,
        bool(flt.extension),
        flt.submitter_ids is not None,
        flt.submitted_after is not None,
        flt.submitted_before is not None,
        flt.version is not None,
        bool(flt.annotations),
    )


def _values(flt: OverviewFilter) -> dict[str, Any]:
    values: dict[str, Any] = {
        "dataset_ids": flt.dataset_ids,
        "file_ids": flt.file_ids,
        "submitter_ids": flt.submitter_ids,
        "submitted_after": flt.submitted_after,
        "submitted_before": flt.submitted_before,
        "version": flt.version,
    }
    if flt.name:
        term = flt.name.lower()
        values["name_like"] = f"%{_like_escape(search_probe(term))}%"
        values["name_term"] = term
    if flt.extension:
        values["extension_like"] = f"%.{_like_escape(flt.extension.lstrip('.'))}"
    if flt.annotations:
        values["annotations"] = json.dumps(flt.annotations)  # the connection's jsonb codec takes text
    return values


def _readable_shape(readable: Readable) -> tuple[bool, bool, bool, bool]:
    return (
        readable.is_admin,
        readable.project_id is not None,
        readable.dataset_id is not None,
        readable.manageable_only and not readable.is_admin,
    )


def _resolving(readable: Readable | None, by_submitter: bool) -> compiled.Compiled:
    """The ids of the datasets the listing covers and of the users the submitter filter names."""

    def build() -> Select[Any]:
        columns = []
        if readable is not None:
            is_admin, by_project, by_dataset, manageable = _readable_shape(readable)
            groups = _param("group_ids", ARRAY(Integer))
            ids = select(Dataset.id).where(true() if is_admin else readable_by(groups))
            if by_project:
                ids = ids.where(Dataset.project_id == _param("project_id", Uuid))
            if by_dataset:
                ids = ids.where(Dataset.id == _param("dataset_id", Uuid))
            if manageable:
                ids = ids.where(Dataset.owner_group_id == any_(groups))
            columns.append(func.array(ids.scalar_subquery()))
        if by_submitter:
            named = select(User.id).where(User.username == _param("submitter", String))
            columns.append(func.array(named.scalar_subquery()))
        return select(*columns)

    key = ("resolving", None if readable is None else _readable_shape(readable), by_submitter)
    return compiled.compiled(key, build)


async def _resolve(pg: asyncpg.Connection, flt: OverviewFilter) -> None:
    """Turns `readable` and `submitter` into id lists: one statement, only when the filter has them."""
    readable, submitter = flt.readable, flt.submitter
    if readable is None and submitter is None:
        return
    values: dict[str, Any] = {"submitter": submitter}
    if readable is not None:
        values |= {
            "group_ids": sorted(readable.group_ids),
            "project_id": readable.project_id,
            "dataset_id": readable.dataset_id,
        }
    record = await compiled.fetchrow(pg, _resolving(readable, submitter is not None), values)
    assert record is not None
    found = list(record)
    if readable is not None:
        flt.dataset_ids, flt.readable = list(found.pop(0)), None
    if submitter is not None:
        flt.submitter_ids, flt.submitter = list(found.pop(0)), None


_FIX_JOIN_ORDER = compiled.Compiled(
    "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in JOIN_ORDER_AS_WRITTEN.items()),
    (),
)


def _row(record: asyncpg.Record | tuple[Any, ...]) -> OverviewRow:
    values = list(record)
    # positions in _ROW_COLUMNS: the connection returns enums as text and jsonb as text
    values[6] = json.loads(values[6]) if isinstance(values[6], str) else values[6]
    values[13] = ChecksumState(values[13])
    values[14] = Fixity(values[14])
    return OverviewRow(*values)


# Counting stops here: an exact count of half a million live files read them all on every first page
# (50 ms at a million versions), and "more than 10,000" is all a person paging through needs to know.
TOTAL_CAP = 10_000


async def page(
    session: AsyncSession,
    flt: OverviewFilter,
    sort: str,
    descending: bool,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> list[OverviewRow]:
    """A page in the session's transaction (a single file's load): the join order is fixed for it first."""
    await compiled.execute(session, _FIX_JOIN_ORDER, {})
    return (await _listing(await compiled.driver(session), flt, sort, descending, after, limit, with_total=False))[0]


def _count(flt: OverviewFilter) -> Select[Any]:
    """The matching files, counted up to the `cap` parameter."""
    matching: Select[Any] = _where(select(literal_column("1")).select_from(File), flt)
    return select(func.count()).select_from(matching.limit(_param("cap", Integer)).subquery())


async def listing(
    listings: AsyncEngine,
    flt: OverviewFilter,
    sort: str,
    descending: bool,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
    with_total: bool,
) -> tuple[list[OverviewRow], int | None]:
    """A page and, if asked, the matching files counted up to TOTAL_CAP + 1 (above the cap: "more").

    Runs on the listings engine (db/engine.py): autocommit reads on connections whose join order is
    fixed when they connect, so a page is its statements and nothing else: no BEGIN, no COMMIT, no
    SET. Under READ COMMITTED a transaction gave each statement its own snapshot anyway.
    """
    async with compiled.reading(listings) as pg:
        return await _listing(pg, flt, sort, descending, after, limit, with_total)


async def _listing(
    pg: asyncpg.Connection,
    flt: OverviewFilter,
    sort: str,
    descending: bool,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
    with_total: bool,
) -> tuple[list[OverviewRow], int | None]:
    """The count rides on the page's statement as an uncorrelated subquery (run once, one round trip
    fewer); only a page that came back empty asks for it on its own."""
    await _resolve(pg, flt)
    column = SORT_COLUMNS[sort]

    def build() -> Select[Any]:
        columns: list[Any] = [*_ROW_COLUMNS]
        if with_total:
            columns.append(_count(flt).scalar_subquery().correlate(None).label("total"))
        stmt: Select[Any] = (
            select(*columns)
            .join(FileVersion, FileVersion.id == File.latest_version_id)
            .join(Dataset, Dataset.id == File.dataset_id)
            .join(Project, Project.id == Dataset.project_id)
            .outerjoin(Submitter, Submitter.id == File.submitted_by)
            .outerjoin(Deleter, Deleter.id == File.deleted_by)
        )
        stmt = _where(stmt, flt)
        if after is not None:
            key = tuple_(column, File.id)
            bound = tuple_(_param("after_value", column.type), _param("after_id", Uuid))
            stmt = stmt.where(key < bound if descending else key > bound)
        order = (column.desc(), File.id.desc()) if descending else (column.asc(), File.id.asc())
        return stmt.order_by(*order).limit(_param("limit", Integer))

    statement = compiled.compiled(("page", sort, descending, after is not None, with_total, _shape(flt)), build)
    values = _values(flt)
    values["limit"] = limit
    values["cap"] = TOTAL_CAP + 1
    if after is not None:
        values["after_value"], values["after_id"] = after
    records = await compiled.fetch(pg, statement, values)
    if not with_total:
        return [_row(record) for record in records], None
    if records:
        return [_row(record[:-1]) for record in records], int(records[0][-1])
    total = await compiled.fetchval(pg, compiled.compiled(("count", _shape(flt)), lambda: _count(flt)), values)
    return [], int(total)


async def versions(session: AsyncSession, file_id: uuid.UUID) -> list[tuple[FileVersion, str | None]]:
    rows = await session.execute(
        select(FileVersion, Submitter.username)
        .outerjoin(Submitter, Submitter.id == FileVersion.submitted_by)
        .where(FileVersion.file_id == file_id)
        .order_by(FileVersion.version.desc())
    )
    return [(row[0], row[1]) for row in rows.all()]


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    """The few columns a download URL needs (plain rows: a selection may hold 1,000 files)."""

    file_id: uuid.UUID
    name: str
    owner_group_id: int
    download_allowed: bool
    version_id: uuid.UUID
    version: int
    object_key: str
    s3_version_id: str | None
    size: int
    sha256: str | None
    etag: str
    content_type: str
    checksum_state: ChecksumState
    fixity: Fixity
    fixity_checked_at: datetime | None
    fixity_note: str | None


async def download_targets(
    session: AsyncSession,
    dataset_ids: list[uuid.UUID] | None,
    wanted: list[tuple[uuid.UUID, int | None]],
) -> dict[tuple[uuid.UUID, int | None], DownloadTarget]:
    """Live files among `wanted` (file id, version or None for the latest) in the given datasets."""
    if not wanted:
        return {}
    file_ids = list({file_id for file_id, _ in wanted})
    numbered = [(f, v) for f, v in wanted if v is not None]
    columns = (
        File.id,
        File.name,
        Dataset.owner_group_id,
        Project.file_download_allowed,
        FileVersion.id,
        FileVersion.version,
        FileVersion.object_key,
        FileVersion.s3_version_id,
        FileVersion.size,
        FileVersion.sha256,
        FileVersion.etag,
        FileVersion.content_type,
        FileVersion.checksum_state,
        FileVersion.fixity,
        FileVersion.fixity_checked_at,
        FileVersion.fixity_note,
    )
    base = (
        select(*columns)
        .join(Dataset, Dataset.id == File.dataset_id)
        .join(Project, Project.id == Dataset.project_id)
        .where(File.deleted_at.is_(None))
    )
    if dataset_ids is not None:
        base = base.where(File.dataset_id == any_(literal(dataset_ids, _IDS)))
    found: dict[tuple[uuid.UUID, int | None], DownloadTarget] = {}
    # one array parameter: an IN list of 1,000 ids was 1,000 bind parameters to expand and send
    latest = base.join(FileVersion, FileVersion.id == File.latest_version_id).where(
        File.id == any_(literal(file_ids, _IDS))
    )
    for row in (await session.execute(latest)).all():
        found[(row[0], None)] = DownloadTarget(*tuple(row))
    if numbered:
        specific = base.join(FileVersion, FileVersion.file_id == File.id).where(
            tuple_(FileVersion.file_id, FileVersion.version).in_(numbered)
        )
        for row in (await session.execute(specific)).all():
            found[(row[0], row[5])] = DownloadTarget(*tuple(row))
    return found
