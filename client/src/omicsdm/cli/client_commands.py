"""The `omicsdm` client commands: whoami, projects, datasets, upload, ls, trash, versions, download, rm, restore.

Commands only parse arguments and print; the work is in omicsdm.client. Errors end in one line on
stderr and an exit code from omicsdm.client.errors.ExitCode (docs/cli.md lists them).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgressBar
from rich.table import Table

from omicsdm.cli.output import Column, Format, TsvOpt, WideOpt, choose, natural_sorted, print_rows
from omicsdm.client.api import ApiClient, FileQuery
from omicsdm.client.config import ClientConfig, load_config, state_dir
from omicsdm.client.errors import ApiError, ClientError, ExitCode
from omicsdm.client.models import Dataset, DownloadLink, FilePage, FileRow, Project
from omicsdm.client.progress import ProgressTask
from omicsdm.client.transfer import Downloader, Uploader, collect_sources, parse_size
from omicsdm.client.transport import make_transport

out = Console(soft_wrap=True)
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table")]
ParallelOpt = Annotated[int, typer.Option("--parallel", "-j", min=1, max=64, help="Parts or chunks in flight")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars")]
TransportOpt = Annotated[
    str | None,
    typer.Option(
        "--transport",
        help="HTTP client for the S3 bytes: wire, httpx or aiohttp (default: $OMICSDM_TRANSPORT, the config "
        "file's `transport`, else wire)",
        show_default=False,
    ),
]


# --- plumbing ---------------------------------------------------------------------------------------


def _run(main: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run one command's coroutine; map its failure to a message and an exit code."""
    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: run the same command again to resume")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except ClientError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}")
        raise typer.Exit(exc.code) from None
    raise typer.Exit(code)


def _client(config: ClientConfig | None = None) -> ApiClient:
    config = config or load_config()
    return ApiClient(config.server, config.token)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _parse_when(text: str, *, end_of_day: bool) -> datetime:
    """An ISO date (whole day, in UTC) or date-time."""
    try:
        if len(text) == 10:
            day = datetime.combine(datetime.fromisoformat(text).date(), time(), tzinfo=UTC)
            return day + timedelta(days=1) if end_of_day else day
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ClientError(f"not a date: {text!r} (use 2024-05-01 or 2024-05-01T12:00)", ExitCode.USAGE) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def resolve_project(api: ApiClient, text: str) -> Project:
    projects = await api.projects()
    wanted = _uuid(text)
    found = [p for p in projects if (p.id == wanted if wanted else p.code == text)]
    if not found:
        raise ClientError(f"no project {text!r} that you can see", ExitCode.NOT_FOUND)
    return found[0]


async def resolve_dataset(api: ApiClient, text: str) -> Dataset:
    """A dataset by id, by code, or by PROJECT/DATASET codes."""
    wanted = _uuid(text)
    if wanted:
        return await api.dataset(wanted)
    project_code, _, code = text.rpartition("/")
    found = [d for d in await api.datasets() if d.code == code and project_code in ("", d.project_code)]
    if not found:
        raise ClientError(f"no dataset {text!r} that you can read", ExitCode.NOT_FOUND)
    if len(found) > 1:
        options = ", ".join(f"{d.project_code}/{d.code}" for d in found)
        raise ClientError(f"dataset code {text!r} is in several projects: {options}; say which", ExitCode.USAGE)
    return found[0]


class RichProgress:
    """transfer.Progress drawn with rich on stderr: one bar per file in flight, plus the total."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err.is_terminal
        self.bar = RichProgressBar(
            TextColumn("[bold]{task.description}", table_column=None),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not self.enabled,
            transient=False,
        )

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def task(self, description: str, total: int, completed: int = 0) -> ProgressTask:
        label = description if len(description) <= 40 else "…" + description[-39:]
        return _RichTask(self.bar, self.bar.add_task(escape(label), total=total, completed=completed))

    def note(self, message: str) -> None:
        err.print(escape(message))


class _RichTask:
    def __init__(self, bar: RichProgressBar, task_id: TaskID) -> None:
        self.bar, self.task_id = bar, task_id

    def advance(self, amount: int) -> None:
        self.bar.advance(self.task_id, amount)

    def close(self) -> None:
        self.bar.remove_task(self.task_id)


def _first_failure(codes: Sequence[ExitCode | None]) -> int:
    return int(next((c for c in codes if c is not None), ExitCode.OK))


# --- commands ---------------------------------------------------------------------------------------


def whoami(as_json: JsonOpt = False) -> None:
    """The user the stored token belongs to."""

    async def main() -> int:
        async with _client() as api:
            me = await api.me()
        if as_json:
            _print_json({**_dump(me), "server": api.server})
        else:
            out.print(f"{me.username} ({', '.join(me.groups) or 'no groups'}) on {api.server}")
        return 0

    _run(main)


def projects(as_json: JsonOpt = False) -> None:
    """Projects you can see."""

    async def main() -> int:
        async with _client() as api:
            items = await api.projects()
        if as_json:
            _print_json([_dump(p) for p in items])
            return 0
        if not items:
            err.print("no projects that you can see")
            return 0
        table = Table("id", "code", "name", "owner groups", "created")
        for p in items:
            table.add_row(str(p.id), p.code, escape(p.name), ", ".join(p.owner_groups), _when(p.created_at))
        out.print(table)
        return 0

    _run(main)


def datasets(
    project: Annotated[str | None, typer.Option(help="Project id or code")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Datasets you can read (optionally of one project)."""

    async def main() -> int:
        async with _client() as api:
            project_id = (await resolve_project(api, project)).id if project else None
            items = await api.datasets(project_id)
        if as_json:
            _print_json([_dump(d) for d in items])
            return 0
        if not items:
            err.print("no datasets that you can read")
            return 0
        table = Table("id", "project", "code", "name", "owner", "shared with", "public", "you may")
        for d in items:
            may = [k for k in ("upload", "download", "manage") if d.permissions and getattr(d.permissions, k)]
            table.add_row(
                str(d.id),
                d.project_code,
                d.code,
                escape(d.name),
                d.owner_group,
                ", ".join(d.shared_with),
                "yes" if d.public else "",
                ", ".join(may),
            )
        out.print(table)
        return 0

    _run(main)


def upload(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (folders keep their relative paths)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset id, code or PROJECT/DATASET")],
    part_size: Annotated[
        str | None, typer.Option(help="Part size, e.g. 64M (the service may pick larger for huge files)")
    ] = None,
    parallel: ParallelOpt = 4,
    prefix: Annotated[str, typer.Option(help="Folder to put the files under in the dataset, e.g. run7")] = "",
    comment: Annotated[str | None, typer.Option(help="Comment for new files")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Upload even when the latest version has the same SHA-256")
    ] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    transport: TransportOpt = None,
) -> None:
    """Upload files and folders to a dataset: parallel multipart straight to S3, checked by the service.

    Rerun the same command after an interruption to resume. Files whose latest version has the same SHA-256
    are skipped (--force uploads them as new versions)."""

    async def main() -> int:
        sources = collect_sources(paths, prefix)
        if not sources:
            raise ClientError("nothing to upload (empty folders?)", ExitCode.USAGE)
        size = parse_size(part_size) if part_size else None
        async with _client() as api:
            target = await resolve_dataset(api, dataset)
            with RichProgress(not quiet and not as_json) as progress:
                s3 = make_transport(transport)
                uploader = Uploader(
                    api,
                    state_dir=state_dir(),
                    parallel=parallel,
                    part_size=size,
                    skip_unchanged=not force,
                    comment=comment,
                    progress=progress,
                    transport=s3,
                )
                try:
                    results = await uploader.upload(sources, target.id)
                finally:
                    await s3.aclose()
        if as_json:
            _print_json(
                [
                    {
                        "path": str(r.source.path),
                        "name": r.source.name,
                        "status": r.status,
                        "file_id": str(r.version.file_id) if r.version else None,
                        "version": r.version.version if r.version else None,
                        "size": r.version.size if r.version else None,
                        "sha256": r.version.sha256 if r.version else None,
                        "checksum_state": r.version.checksum_state if r.version else None,
                        "upload_id": str(r.upload_id) if r.upload_id else None,
                        "resumed": r.resumed,
                        "parts_total": r.parts_total,
                        "parts_sent": r.parts_sent,
                        "parts_reused": r.parts_reused,
                        "error": r.error.message if r.error else None,
                        "exit_code": int(r.error.code) if r.error else 0,
                    }
                    for r in results
                ]
            )
        else:
            for r in results:
                if r.version:
                    extra = f"; resumed, {r.parts_reused} of {r.parts_total} parts were in S3" if r.resumed else ""
                    err.print(
                        f"[green]uploaded[/green] {escape(r.source.name)} → version {r.version.version} "
                        f"({human_size(r.version.size)}, {r.version.checksum_state}{extra}) id {r.version.file_id}"
                    )
                elif r.error:
                    err.print(f"[red]failed[/red] {escape(r.source.name)}: {escape(r.error.message)}")
        return _first_failure([r.error.code if r.error else None for r in results])

    _run(main)


def _file_query(
    api: ApiClient,
    dataset: str | None,
    project: str | None,
    name: str | None,
    ext: str | None,
    submitter: str | None,
    since: str | None,
    until: str | None,
) -> Callable[[], Coroutine[Any, Any, FileQuery]]:
    async def build() -> FileQuery:
        return FileQuery(
            project_id=(await resolve_project(api, project)).id if project else None,
            dataset_id=(await resolve_dataset(api, dataset)).id if dataset else None,
            name=name,
            extension=ext.lstrip(".") if ext else None,
            submitter=submitter,
            submitted_after=_parse_when(since, end_of_day=False) if since else None,
            submitted_before=_parse_when(until, end_of_day=True) if until else None,
        )

    return build


DatasetFilter = Annotated[str | None, typer.Option("--dataset", "-d", help="Dataset id, code or PROJECT/DATASET")]
ProjectFilter = Annotated[str | None, typer.Option("--project", "-p", help="Project id or code")]
NameFilter = Annotated[str | None, typer.Option(help="Part of the name (any case)")]
ExtFilter = Annotated[str | None, typer.Option("--ext", help="Name ending, e.g. fastq.gz")]
SubmitterFilter = Annotated[str | None, typer.Option(help="User name of the latest submitter")]
SinceFilter = Annotated[str | None, typer.Option(help="Submitted on or after (2024-05-01 or an ISO date-time)")]
UntilFilter = Annotated[str | None, typer.Option(help="Submitted on or before (2024-05-31: the whole day)")]


SortOpt = Annotated[
    str, typer.Option(help="name, version, size, submitted_at, submitter, dataset, project; '-' = descending")
]
LimitOpt = Annotated[int, typer.Option(min=1, help="At most this many files")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every matching file (ignores --limit)")]


async def _collect(
    fetch: Callable[[str | None, int], Coroutine[Any, Any, FilePage]], limit: int, all_: bool
) -> tuple[list[FileRow], int | None, bool]:
    page = await fetch(None, 1000 if all_ else min(limit, 1000))
    rows, total, capped = list(page.items), page.total, page.total_capped
    while page.next_cursor and (all_ or len(rows) < limit):
        page = await fetch(page.next_cursor, 1000 if all_ else min(limit - len(rows), 1000))
        rows.extend(page.items)
    return rows, total, capped


def _of(total: int, capped: bool) -> str:
    return f"more than {total:,}" if capped else str(total)


def _by_name(rows: list[FileRow], sort: str) -> list[FileRow]:
    """The service orders names byte-wise; people read them case-insensitively with numbers by value."""
    if sort.lstrip("-") != "name":
        return rows
    ordered = natural_sorted(rows, key=lambda r: r.name)
    return ordered[::-1] if sort.startswith("-") else ordered


def _show_files(
    found: tuple[list[FileRow], int | None, bool],
    sort: str,
    as_json: bool,
    tsv: bool,
    wide: bool,
    *,
    none: str,
    what: str,
    deleted: bool = False,
) -> int:
    """What `ls` and `trash` print: the rows (or `none`), and how many more there are."""
    rows, total, capped = found
    if not rows and not as_json:
        err.print(none)
        return 0
    _print_files(_by_name(rows, sort), choose(out, as_json=as_json, tsv=tsv), wide, deleted=deleted)
    if total is not None and total > len(rows):
        err.print(f"{len(rows)} of {_of(total, capped)} {what} shown; use --all or --limit")
    return 0


def _print_files(rows: list[FileRow], fmt: Format, wide: bool, *, deleted: bool = False) -> None:
    columns = [Column("id", "id"), Column("project/dataset", "text"), Column("name", "text"), Column("v")]
    columns += [Column("size"), Column("deleted by" if deleted else "submitter")]
    columns += [Column("deleted" if deleted else "submitted")]
    if wide or fmt == "tsv":
        columns.append(Column("sha256", "id"))
    table_rows = []
    for r in rows:
        when = r.deleted_at if deleted and r.deleted_at else r.submitted_at
        row = [str(r.id), f"{r.project_code}/{r.dataset_code}", r.name, str(r.version), human_size(r.size)]
        row += [(r.deleted_by if deleted else r.submitted_by) or "", _when(when)]
        if wide or fmt == "tsv":
            row.append(r.sha256 or "")
        table_rows.append(row)
    print_rows(out, fmt, columns, table_rows, wide=wide, json_rows=[_dump(r) for r in rows])


def ls(
    dataset: DatasetFilter = None,
    project: ProjectFilter = None,
    name: NameFilter = None,
    ext: ExtFilter = None,
    submitter: SubmitterFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    sort: SortOpt = "-submitted_at",
    limit: LimitOpt = 100,
    all_: AllOpt = False,
    as_json: JsonOpt = False,
    tsv: TsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """The files you can read (latest versions; deleted files are in `omicsdm trash`). Ids are never cut."""

    async def main() -> int:
        async with _client() as api:
            query = replace(await _file_query(api, dataset, project, name, ext, submitter, since, until)(), sort=sort)
            found = await _collect(lambda c, n: api.list_files(query, cursor=c, limit=n), limit, all_)
        return _show_files(found, sort, as_json, tsv, wide, none="no files match", what="files")

    _run(main)


def trash(
    dataset: DatasetFilter = None,
    project: ProjectFilter = None,
    name: NameFilter = None,
    sort: SortOpt = "-deleted_at",
    limit: LimitOpt = 100,
    all_: AllOpt = False,
    as_json: JsonOpt = False,
    tsv: TsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """Files marked deleted in datasets your groups own (all, for admins); bring them back with `restore`."""

    async def main() -> int:
        async with _client() as api:
            query = replace(await _file_query(api, dataset, project, name, None, None, None, None)(), sort=sort)
            found = await _collect(lambda c, n: api.list_trash(query, cursor=c, limit=n), limit, all_)
        none = "the trash is empty" if not (dataset or project or name) else "no deleted files match"
        return _show_files(found, sort, as_json, tsv, wide, none=none, what="deleted files", deleted=True)

    _run(main)


def versions(file_id: Annotated[str, typer.Argument(help="File id")], as_json: JsonOpt = False) -> None:
    """A file's version history."""

    async def main() -> int:
        wanted = _uuid(file_id)
        if wanted is None:
            raise ClientError(f"not a file id: {file_id!r}", ExitCode.USAGE)
        async with _client() as api:
            detail = await api.get_file(wanted)
        if as_json:
            _print_json(_dump(detail))
            return 0
        out.print(f"{escape(detail.project_code)}/{escape(detail.dataset_code)}/{escape(detail.name)}  ({detail.id})")
        table = Table("version", "size", "submitter", "submitted", "integrity", "sha256")
        for v in sorted(detail.versions, key=lambda v: v.version):
            table.add_row(
                str(v.version),
                human_size(v.size),
                v.submitted_by or "",
                _when(v.submitted_at),
                escape(v.integrity or v.checksum_state),
                v.sha256 or "",
                style="red" if v.fixity == "corrupt" else None,
            )
        out.print(table)
        for v in sorted(detail.versions, key=lambda v: v.version):
            if v.drs_uri:
                out.print(f"v{v.version}  {escape(v.drs_uri)}")
        return 0

    _run(main)


def _parse_selector(text: str) -> tuple[uuid.UUID, int | None]:
    ident, _, version = text.partition("@")
    file_id = _uuid(ident)
    if file_id is None or (version and not version.isdigit()):
        raise ClientError(f"not FILE_ID or FILE_ID@VERSION: {text!r}", ExitCode.USAGE)
    return file_id, int(version) if version else None


def _read_manifest(path: Path) -> list[tuple[uuid.UUID, int | None]]:
    """A manifest from POST /api/files/manifest (JSON or TSV): its file ids and versions."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror or exc}", ExitCode.LOCAL_IO) from exc
    rows: list[dict[str, Any]]
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ClientError(f"{path} is not valid JSON: {exc}", ExitCode.USAGE) from exc
        rows = data.get("items", []) if isinstance(data, dict) else data
    else:
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    selection = []
    for row in rows:
        if not isinstance(row, dict) or not row.get("file_id"):
            raise ClientError(f"{path}: every entry needs a file_id", ExitCode.USAGE)
        file_id = _uuid(str(row["file_id"]))
        version = row.get("version")
        if file_id is None or (version not in (None, "") and not str(version).isdigit()):
            raise ClientError(f"{path}: bad entry {row!r}", ExitCode.USAGE)
        selection.append((file_id, int(version) if version not in (None, "") else None))
    return selection


def download(
    files: Annotated[list[str] | None, typer.Argument(help="FILE_ID or FILE_ID@VERSION", show_default=False)] = None,
    dataset: DatasetFilter = None,
    project: ProjectFilter = None,
    name: NameFilter = None,
    ext: ExtFilter = None,
    submitter: SubmitterFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    manifest: Annotated[Path | None, typer.Option(help="A manifest.json or .tsv from the web app or the API")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to save into (names keep their folders)")
    ] = Path("."),
    parallel: ParallelOpt = 4,
    chunk_size: Annotated[str, typer.Option(help="Size of each ranged GET")] = "16M",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace local files that differ")] = False,
    page_cache: Annotated[
        bool,
        typer.Option(
            "--page-cache",
            help="Write files of 64 MiB and more through the page cache too (default: direct I/O, less CPU)",
        ),
    ] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    transport: TransportOpt = None,
) -> None:
    """Download files by id, by filters or from a manifest: parallel ranged GETs, every file verified.

    Each file is checked against its version's size and SHA-256. Rerun the same command after an interruption
    to resume; files already present and identical are skipped."""

    async def main() -> int:
        filters = (dataset, project, name, ext, submitter, since, until)
        modes = sum((bool(files), manifest is not None, any(f is not None for f in filters)))
        if modes != 1:
            raise ClientError(
                "give FILE_IDs, or --manifest, or filters such as --dataset (one of them)", ExitCode.USAGE
            )
        chunk = parse_size(chunk_size)
        async with _client() as api:
            if files:
                selection = [_parse_selector(f) for f in files]
            elif manifest is not None:
                selection = _read_manifest(manifest)
            else:
                query = await _file_query(api, dataset, project, name, ext, submitter, since, until)()
                selection = [(row.id, row.version) async for row in api.iter_files(query)]
            if not selection:
                err.print("no files match")
                return 0
            links: list[DownloadLink] = (await api.download_links(selection)).items
            with RichProgress(not quiet and not as_json) as progress:
                s3 = make_transport(transport)
                downloader = Downloader(
                    api,
                    parallel=parallel,
                    chunk_size=chunk,
                    overwrite=overwrite,
                    progress=progress,
                    direct_io=not page_cache,
                    transport=s3,
                )
                try:
                    results = await downloader.download(links, output)
                finally:
                    await s3.aclose()
        if as_json:
            _print_json(
                [
                    {
                        "file_id": str(r.link.file_id),
                        "version": r.link.version,
                        "name": r.link.name,
                        "path": str(r.path),
                        "size": r.link.size,
                        "sha256": r.link.sha256,
                        "status": r.status,
                        "verified": r.verified or None,
                        "fetched": r.fetched,
                        "reused": r.reused,
                        "error": r.error.message if r.error else None,
                        "exit_code": int(r.error.code) if r.error else 0,
                    }
                    for r in results
                ]
            )
        else:
            for r in results:
                if r.error:
                    err.print(f"[red]failed[/red] {escape(r.link.name)}: {escape(r.error.message)}")
                else:
                    how = "SHA-256 verified" if r.verified == "sha256" else "size checked, no SHA-256 recorded"
                    verb = "present" if r.status == "present" else "downloaded"
                    err.print(f"[green]{verb}[/green] {escape(str(r.path))} (version {r.link.version}, {how})")
        return _first_failure([r.error.code if r.error else None for r in results])

    _run(main)


async def _find_by_name(
    api: ApiClient, text: str, *, deleted: bool, dataset: str | None, project: str | None
) -> FileRow:
    """The one file named `text` (its path in the dataset, or its last part) among live or deleted files."""
    query = await _file_query(api, dataset, project, text.rsplit("/", 1)[-1], None, None, None, None)()
    rows = [r async for r in api.iter_files(query, trash=deleted)]
    found = [r for r in rows if r.name == text] or [r for r in rows if r.name.rsplit("/", 1)[-1] == text]
    where = "in the trash" if deleted else "among your files"
    if not found:
        raise ClientError(f"no file named {text!r} {where}", ExitCode.NOT_FOUND)
    if len(found) > 1:
        options = "\n".join(
            f"  {r.id}  {r.project_code}/{r.dataset_code}/{r.name}"
            + (f"  deleted {_when(r.deleted_at)} by {r.deleted_by or '?'}" if deleted and r.deleted_at else "")
            for r in natural_sorted(found, key=lambda r: f"{r.project_code}/{r.dataset_code}/{r.name}")
        )
        raise ClientError(
            f"{len(found)} files named {text!r} {where}; give an id, the path in the dataset, or --dataset:\n{options}",
            ExitCode.USAGE,
        )
    return found[0]


def _flag_files(selectors: list[str], *, deleted: bool, dataset: str | None = None, project: str | None = None) -> None:
    async def main() -> int:
        codes: list[ExitCode | None] = []
        async with _client() as api:
            wanted: list[uuid.UUID] = []
            for text in selectors:  # resolve every name first: nothing changes when one is ambiguous
                file_id = _uuid(text)
                if file_id is None:
                    # rm looks among live files, restore in the trash
                    file_id = (await _find_by_name(api, text, deleted=not deleted, dataset=dataset, project=project)).id
                wanted.append(file_id)
            for file_id in wanted:
                try:
                    detail = await (api.delete_file(file_id) if deleted else api.restore_file(file_id))
                except ApiError as exc:
                    err.print(f"[red]failed[/red] {file_id}: {escape(exc.message)}")
                    codes.append(exc.code)
                    continue
                verb = "marked deleted" if deleted else "restored"
                err.print(
                    f"{verb}: {escape(detail.project_code)}/{escape(detail.dataset_code)}/{escape(detail.name)} ({file_id})"
                )
                codes.append(None)
        return _first_failure(codes)

    _run(main)


FileSelectors = Annotated[
    list[str], typer.Argument(help="File ids or names (a name's path in its dataset, or its last part)")
]


def rm(files: FileSelectors, dataset: DatasetFilter = None, project: ProjectFilter = None) -> None:
    """Mark files deleted: they leave the overview and get no download URL; nothing leaves the bucket."""
    _flag_files(files, deleted=True, dataset=dataset, project=project)


def restore(files: FileSelectors, dataset: DatasetFilter = None, project: ProjectFilter = None) -> None:
    """Bring files back from the trash, with all their versions (by id, or by name: see `omicsdm trash`)."""
    _flag_files(files, deleted=False, dataset=dataset, project=project)


def register(app: typer.Typer) -> None:
    """Add the client commands to the `omicsdm` command."""
    for command in (whoami, projects, datasets, upload, ls, trash, versions, download, rm, restore):
        app.command(rich_help_panel="Client")(command)
