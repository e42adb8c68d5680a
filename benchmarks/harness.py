"""Shared set-up for benchmarks: real PostgreSQL and SeaweedFS, the app in its own uvicorn process.

Benchmarks print ratios against a baseline measured in the same run (see DESIGN.md); they are
not tests and assert nothing about wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from omicsdm.db.migrate import upgrade
from omicsdm.embedded.seaweedfs import EmbeddedSeaweedFS, S3Endpoint
from omicsdm.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def services(keep_database: str | None = None) -> Iterator[tuple[str, S3Endpoint]]:
    """A fresh database (on OMICSDM_TEST_DATABASE_URL's server, else embedded) and a SeaweedFS.

    keep_database: use (create if missing, migrate) the database of that name and leave it behind,
    so a benchmark can reuse what it seeded last time.
    """
    with tempfile.TemporaryDirectory(prefix="omicsdm-bench-") as tmp:
        server = os.environ.get("OMICSDM_TEST_DATABASE_URL")
        pg = None
        if server:
            server = make_url(server).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        else:
            from omicsdm.embedded.postgres import EmbeddedPostgres

            pg = EmbeddedPostgres(Path(tmp) / "pg")
            server = pg.start()
        name = keep_database or f"omicsdm_bench_{secrets.token_hex(3)}"
        dsn = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        if keep_database is None:
            asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        else:

            async def create_if_missing() -> None:
                conn = await asyncpg.connect(dsn)
                try:
                    if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                        await conn.execute(f'CREATE DATABASE "{name}"')
                finally:
                    await conn.close()

            asyncio.run(create_if_missing())
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        weed = EmbeddedSeaweedFS(Path(tmp) / "s3")
        try:
            yield url, weed.start()
        finally:
            weed.stop()
            if keep_database is None:
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if pg is not None:
                pg.stop()


def settings_for(url: str, s3: S3Endpoint, port: int, **extra: Any) -> Settings:
    return Settings(
        dev_mode=True,
        secret_key=secrets.token_urlsafe(48),
        public_url=f"http://127.0.0.1:{port}",
        database={"url": url},
        s3={
            "endpoint_url": s3.url,
            "region": s3.region,
            "bucket": "bench",
            "access_key_id": s3.access_key,
            "secret_access_key": s3.secret_key,
        },
        **extra,
    )


def _serve(
    settings_json: str,
    port: int,
    extend: Callable[[Any], None] | None,
    access_log: str | None = None,
    cpus: set[int] | None = None,
) -> None:
    import uvicorn

    from omicsdm.app import create_app

    if cpus:
        os.sched_setaffinity(0, cpus)
    settings = Settings.model_validate_json(settings_json)
    app = create_app(settings)
    if extend is not None:
        extend(app)
    if access_log is None:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
        return
    from omicsdm.logs import log_config

    # As `omicsdm serve` runs it: INFO, one access log line per request, written to stderr (here a file).
    with open(access_log, "ab", buffering=0) as out:
        os.dup2(out.fileno(), 2)
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=True, log_config=log_config(fmt=settings.log_format))


@contextlib.contextmanager
def app_process(
    settings: Settings,
    port: int,
    extend: Callable[[Any], None] | None = None,
    *,
    access_log: str | None = None,
    cpus: set[int] | None = None,
) -> Iterator[psutil.Process]:
    """The app in its own process (so the load generator does not share its interpreter).

    access_log: a file for the production log (INFO, a line per request, as `omicsdm serve`);
    None runs uvicorn at WARNING (no access lines). cpus: pin the app to these cores.
    """
    data = settings.model_dump(mode="json")
    data["secret_key"] = settings.secret_key.get_secret_value()
    data["s3"]["secret_access_key"] = settings.s3.secret_access_key.get_secret_value()
    proc = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(json.dumps(data), port, extend, access_log, cpus)
    )
    proc.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.terminate()
        raise RuntimeError("app did not start")
    try:
        assert proc.pid is not None
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.join(10)


def peak_rss_mib(process: psutil.Process) -> float:
    """Peak RSS (VmHWM) of the process, MiB."""
    with open(f"/proc/{process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_dataset(base: str, headers: dict[str, str]) -> dict[str, Any]:
    """Project "bench" and its dataset "d", owned by the admin group, made through the API."""
    project = httpx.post(f"{base}/api/projects", json={"code": "bench", "name": "b"}, headers=headers).json()
    dataset: dict[str, Any] = httpx.post(
        f"{base}/api/datasets",
        json={"project_id": project["id"], "code": "d", "name": "d", "owner_group": "admin"},
        headers=headers,
    ).json()
    return dataset


def boto3_s3(s3: S3Endpoint, pool: int = 10) -> Any:
    """boto3's S3 client for the benchmark's SeaweedFS (path-style, SigV4), the baseline side of a ratio."""
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=pool)
    return boto3.client(
        "s3",
        endpoint_url=s3.url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=config,
    )
