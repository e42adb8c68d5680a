"""`omicsdm`: run the service, migrate the database, clean up stale uploads, run the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from omicsdm.cli.client_commands import register as register_client_commands
from omicsdm.settings import Settings

app = typer.Typer(no_args_is_help=True, help="omicsdm: the file store of an omics data warehouse.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision")] = "head") -> None:
    """Apply the database migrations (up to --revision, default the newest)."""
    from omicsdm.db.migrate import upgrade

    upgrade(_settings().database.url, revision)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the API (production: settings from OMICSDM_* variables; migrate first)."""
    import uvicorn

    _settings()  # fail fast with a clear message
    from omicsdm.logs import log_config

    uvicorn.run("omicsdm.asgi:app", host=host, port=port, workers=workers, proxy_headers=True, log_config=log_config())


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where the embedded database, S3 data and secrets live")] = Path(
        ".omicsdm"
    ),
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
) -> None:
    """Run everything on this machine: embedded PostgreSQL and SeaweedFS (unless configured), demo data."""
    from omicsdm.cli.devserver import run_dev

    run_dev(data_dir.resolve(), host, port)


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
    max_age_hours: Annotated[int | None, typer.Option(help="Expire unfinished uploads older than this")] = None,
) -> None:
    """Abort stale multipart uploads and expire their sessions (safe to run on several machines at once)."""
    import asyncio

    from omicsdm.services.janitor import run_janitor

    settings = _settings()
    report = asyncio.run(run_janitor(settings, max_age_hours or settings.upload_session_max_age_hours))
    console.print(f"expired {report.expired_sessions} upload(s); aborted {report.aborted_orphans} orphaned one(s)")


register_client_commands(app)  # login, projects, datasets, upload, ls, versions, download, rm, restore

if __name__ == "__main__":
    app()
