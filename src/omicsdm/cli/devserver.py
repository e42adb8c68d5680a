"""`omicsdm dev`: embedded PostgreSQL and SeaweedFS under one data folder, migrations, demo data, the app.

SIGINT and SIGTERM stop everything the same way: uvicorn shuts down, then the ExitStack stops the
embedded servers. If this process is killed outright, weed (PR_SET_PDEATHSIG) and PostgreSQL (its
watchdog) stop by themselves.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from rich.console import Console

from omicsdm.app import create_app
from omicsdm.cli.failures import CommandRun
from omicsdm.db.engine import make_engine, make_sessionmaker
from omicsdm.db.migrate import upgrade
from omicsdm.logs import log_config
from omicsdm.services import demo
from omicsdm.settings import Settings

console = Console(stderr=True)
FRONTEND = Path(__file__).resolve().parents[3] / "frontend"


def _secret(path: Path) -> str:
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def build_frontend() -> None:
    """Build the web frontend once (skipped when already built or when npm is missing)."""
    if not (FRONTEND / "package.json").is_file() or (FRONTEND / "dist" / "index.html").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        console.print("[yellow]npm not found: the web frontend is not built; the API and /docs still work[/yellow]")
        return
    console.print("building the web frontend (once)…")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)  # noqa: S603
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)  # noqa: S603


async def _seed(settings: Settings) -> None:
    engine = make_engine(settings.database)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await demo.seed(session, settings.auth.admin_group)
    finally:
        await engine.dispose()


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the ExitStack unwinds as it does for Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the clean-up
    raise _Terminated


def run_dev(data_dir: Path, host: str, port: int, run: CommandRun | None = None) -> None:
    """Run until SIGINT or SIGTERM; `run` learns the settings, so that a failure line can name the targets."""
    # uvicorn handles SIGTERM while it serves, then restores this handler and raises the signal again.
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _run_dev(data_dir, host, port, run or CommandRun())
    except (_Terminated, KeyboardInterrupt):
        console.print("stopped")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run_dev(data_dir: Path, host: str, port: int, run: CommandRun) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    public_url = f"http://{host}:{port}"
    overrides: dict[str, Any] = {
        "dev_mode": True,
        "secret_key": _secret(data_dir / "secret_key"),
        "public_url": public_url,
        "cors_origins": [public_url],
    }
    with ExitStack() as stack:
        if not os.environ.get("OMICSDM_DATABASE__URL"):
            from omicsdm.embedded.postgres import EmbeddedPostgres

            pg = EmbeddedPostgres(data_dir / "postgres")
            stack.callback(pg.stop)
            overrides["database"] = {"url": pg.start()}
            console.print("embedded PostgreSQL is up")
        if not os.environ.get("OMICSDM_S3__ENDPOINT_URL"):
            from omicsdm.embedded.seaweedfs import EmbeddedSeaweedFS

            weed = EmbeddedSeaweedFS(data_dir / "s3")
            stack.callback(weed.stop)
            s3 = weed.start()
            overrides["s3"] = {
                "endpoint_url": s3.url,
                "region": s3.region,
                "access_key_id": s3.access_key,
                "secret_access_key": s3.secret_key,
            }
            console.print(f"embedded SeaweedFS S3 is up at {s3.url}")
        settings = run.settings = Settings(**overrides)
        upgrade(settings.database.url)
        asyncio.run(_seed(settings))
        build_frontend()
        console.print(
            f"\n[bold green]omicsdm is running at {public_url}[/bold green]\n"
            f"  web:   {public_url}/  (dev login: user [bold]{demo.DEMO_USER}[/bold], group "
            f"[bold]{demo.DEMO_GROUP}[/bold]; add group [bold]{settings.auth.admin_group}[/bold] to be admin)\n"
            f"  API:   {public_url}/docs\n"
            f"  token: curl -s -X POST {public_url}/api/auth/dev-login -H 'content-type: application/json' "
            f'-d \'{{"username":"demo","groups":["lab-demo"]}}\'\n'
            f"  data:  {data_dir}   (Ctrl-C stops everything)\n"
        )
        uvicorn.run(create_app(settings), host=host, port=port, log_config=log_config())
