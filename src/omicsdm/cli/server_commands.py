"""The service's commands of `omicsdm`: serve, db upgrade, dev, openapi, janitor, verify, reconcile.

The `omicsdm` command itself comes from the omicsdm-client distribution (omicsdm.cli.main); this
distribution adds these commands through the `omicsdm.commands` entry point (pyproject.toml).
The server commands fail in one line with an exit code from omicsdm.cli.failures.ServerExit.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from omicsdm.cli.failures import ServerExit, server_command
from omicsdm.settings import Settings

CORRUPT_FOUND = 5  # verify found a corrupt version; reconcile found differences
app = typer.Typer()  # collects the commands below; register() adds them to the `omicsdm` command
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
console = Console(stderr=True, soft_wrap=True)


def register(omicsdm: typer.Typer) -> None:
    """Add the service's commands to the `omicsdm` command (the `omicsdm.commands` entry point)."""
    omicsdm.add_typer(db_app, name="db", rich_help_panel="Service")
    for info in app.registered_commands:
        info.rich_help_panel = "Service"
        omicsdm.registered_commands.append(info)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision")] = "head") -> None:
    """Apply the database migrations (up to --revision, default the newest)."""
    with server_command() as run:
        from omicsdm.db.migrate import upgrade

        run.settings = Settings()
        upgrade(run.settings.database.url, revision)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    timeout_keep_alive: Annotated[
        int,
        typer.Option(
            min=1, envvar="OMICSDM_TIMEOUT_KEEP_ALIVE", help="Seconds an idle keep-alive connection stays open"
        ),
    ] = 5,
    timeout_graceful_shutdown: Annotated[
        int,
        typer.Option(
            min=0, envvar="OMICSDM_TIMEOUT_GRACEFUL_SHUTDOWN", help="Seconds requests get to finish on SIGTERM"
        ),
    ] = 30,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            envvar=["OMICSDM_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"],
            help="Proxies (comma-separated addresses, or *) whose X-Forwarded-* headers are trusted",
        ),
    ] = "127.0.0.1",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", envvar="OMICSDM_ACCESS_LOG", help="One log line per request")
    ] = True,
) -> None:
    """Serve the API (production: settings from OMICSDM_* variables; migrate first).

    Starts while PostgreSQL or S3 are down (503 until they are back); only invalid settings stop it.
    """
    with server_command() as run:
        import uvicorn

        from omicsdm.logs import log_config

        settings = run.settings = Settings()  # fail fast, in one line, on invalid settings
        try:
            uvicorn.run(
                "omicsdm.asgi:app",
                host=host,
                port=port,
                workers=workers,
                proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips,
                timeout_keep_alive=timeout_keep_alive,
                timeout_graceful_shutdown=timeout_graceful_shutdown,
                access_log=access_log,
                log_config=log_config(fmt=settings.log_format),
            )
        except SystemExit as exc:
            # uvicorn exits 3 when it could not start (port taken, app startup failed) and has logged why;
            # 3 means "database" here, so say it plainly.
            if exc.code != 3:
                raise
            typer.echo("omicsdm: the server did not start (the reason is logged above)", err=True)
            raise typer.Exit(ServerExit.FAILURE) from None


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where the embedded database, S3 data and secrets live")] = Path(
        ".omicsdm"
    ),
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
) -> None:
    """Run everything on this machine: embedded PostgreSQL and SeaweedFS (unless configured), demo data.

    SIGINT (Ctrl-C) and SIGTERM stop the embedded servers; they stop by themselves if this process is killed.
    """
    with server_command() as run:
        from omicsdm.cli.devserver import run_dev

        run_dev(data_dir.resolve(), host, port, run)


@app.command()
def openapi(output: Annotated[Path, typer.Option(help="Where to write the spec")] = Path("openapi.json")) -> None:
    """Write the OpenAPI spec (the committed openapi.json is generated with this)."""
    import json

    from omicsdm.app import create_app

    spec = create_app(Settings(dev_mode=True)).openapi()
    output.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {output}")


@app.command()
def janitor(
    max_age_hours: Annotated[
        int | None,
        typer.Option(
            min=0, help="Expire unfinished uploads older than this (default OMICSDM_UPLOAD_SESSION_MAX_AGE_HOURS)"
        ),
    ] = None,
) -> None:
    """Abort stale multipart uploads and expire their sessions (safe to run on several machines at once).

    Exits 1 when some uploads could not be handled (each is logged; the others are handled).
    """
    with server_command() as run:
        import asyncio
        import logging.config

        from omicsdm.logs import log_config
        from omicsdm.services.janitor import run_janitor

        settings = run.settings = Settings()
        logging.config.dictConfig(log_config("WARNING"))
        hours = settings.upload_session_max_age_hours if max_age_hours is None else max_age_hours
        report = asyncio.run(run_janitor(settings, hours))
    console.print(
        f"expired {report.expired_sessions} upload(s); aborted {report.aborted_orphans} orphaned one(s); "
        f"{report.failed} failed",
        markup=False,
        highlight=False,
    )
    if report.failed:
        raise typer.Exit(ServerExit.FAILURE)


@app.command()
def verify(
    budget_gib: Annotated[
        float | None, typer.Option(min=0, help="Stop after re-reading this many GiB (default: everything due)")
    ] = None,
    max_versions: Annotated[int | None, typer.Option(min=1, help="Stop after this many versions")] = None,
    recheck_after_days: Annotated[
        float, typer.Option(min=0, help="Re-read a version when its last check is older than this")
    ] = 30,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Re-read stored objects and check their SHA-256 (fixity): queued versions first, then the oldest checks.
    Fit for cron; safe on several machines at once. Exits 5 when a corrupt version was found.
    """
    with server_command() as run:
        import asyncio
        import json

        from omicsdm.services.fixity import run_verify

        settings = run.settings = Settings()
        budget = None if budget_gib is None else int(budget_gib * 1024**3)
        report = asyncio.run(
            run_verify(
                settings,
                byte_budget=budget,
                max_versions=max_versions,
                recheck_after=timedelta(days=recheck_after_days),
            )
        )
    if json_output:
        typer.echo(json.dumps(dataclasses.asdict(report)))
    else:
        states = ", ".join(f"{n} {state}" for state, n in sorted(report.by_state.items())) or "nothing was due"
        rate = report.bytes / 1024**2 / report.seconds if report.seconds else 0.0
        console.print(
            f"checked {report.checked} version(s), {report.bytes / 1024**3:.2f} GiB in {report.seconds:.1f} s "
            f"({rate:.0f} MiB/s): {states}",
            markup=False,
            highlight=False,
        )
        for item in report.corrupt:
            console.print(f"CORRUPT {item['object_key']}: {item['why']}", markup=False, highlight=False)
    if report.corrupt:
        raise typer.Exit(CORRUPT_FOUND)


@app.command()
def reconcile(
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    grace_minutes: Annotated[int, typer.Option(min=0, help="Ignore objects younger than this")] = 10,
) -> None:
    """Compare the catalogue with the bucket and report the differences; never deletes anything.
    Exits 5 when there is something to look at.
    """
    with server_command() as run:
        import asyncio

        from omicsdm.services.reconcile import run_reconcile

        settings = run.settings = Settings()
        report = asyncio.run(run_reconcile(settings, grace_minutes))
    if json_output:
        typer.echo(report.model_dump_json())
    else:
        console.print(
            f"{report.versions_seen} version(s) and {report.objects_seen} object(s) compared; "
            + (", ".join(f"{n} {kind}" for kind, n in sorted(report.counts.items())) or "no differences"),
            markup=False,
            highlight=False,
        )
        for finding in report.findings:
            console.print(
                f"{finding.kind}: {finding.object_key or finding.upload_id}: {finding.detail}",
                markup=False,
                highlight=False,
            )
    if report.counts:
        raise typer.Exit(CORRUPT_FOUND)
