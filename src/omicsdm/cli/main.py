"""`omicsdm`: run the service, migrate the database, clean up stale uploads, run the embedded default.

The server commands fail in one line with an exit code from omicsdm.cli.failures.ServerExit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from omicsdm.cli.client_commands import register as register_client_commands
from omicsdm.cli.failures import ServerExit, server_command, set_debug
from omicsdm.settings import Settings

app = typer.Typer(no_args_is_help=True, help="omicsdm: the file store of an omics data warehouse.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
console = Console(stderr=True, soft_wrap=True)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="OMICSDM_DEBUG", help="On failure, print the traceback too")
    ] = False,
) -> None:
    """omicsdm: the file store of an omics data warehouse."""
    set_debug(debug)


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

        run.settings = Settings()  # fail fast, in one line, on invalid settings
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
                log_config=log_config(),
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


register_client_commands(app)  # login, projects, datasets, upload, ls, versions, download, rm, restore

if __name__ == "__main__":
    app()
