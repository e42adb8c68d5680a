"""Fixtures on real services: PostgreSQL (OMICSDM_TEST_DATABASE_URL, else embedded pgserver) and SeaweedFS.

Isolation: one database per run, migrated once; every table truncated after each test; one bucket
per run with object keys that are unique by construction.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from omicsdm.app import create_app
from omicsdm.db.migrate import upgrade
from omicsdm.embedded.seaweedfs import EmbeddedSeaweedFS, S3Endpoint
from omicsdm.settings import Settings
from tests.support.idp import LocalIdP

TABLES = (
    "audit_events, device_authorizations, api_tokens, file_versions, upload_sessions, files, dataset_shares, datasets, "
    "project_owners, projects, memberships, users, groups"
)


def _dsn(url: str) -> str:
    """asyncpg DSN from an SQLAlchemy URL (unix-socket hosts kept)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server's maintenance database."""
    url = os.environ.get("OMICSDM_TEST_DATABASE_URL")
    if url:
        parsed = make_url(url)
        yield parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        return
    from omicsdm.embedded.postgres import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    try:
        yield pg.start()
    finally:
        pg.stop()


@asynccontextmanager
async def fresh_database(server_url: str, purpose: str) -> AsyncIterator[str]:
    """A new, migrated database on the server, dropped afterwards."""
    name = f"omicsdm_{purpose}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        admin = await asyncpg.connect(_dsn(server_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    async with fresh_database(server_url, "test") as url:
        yield url


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    weed = EmbeddedSeaweedFS(tmp_path_factory.mktemp("s3"))
    try:
        yield weed.start()
    finally:
        weed.stop()


@pytest.fixture(scope="session")
def idp() -> Iterator[LocalIdP]:
    server = LocalIdP()
    yield server
    server.close()


@pytest.fixture(scope="session")
def bucket() -> str:
    return f"omicsdm-test-{secrets.token_hex(4)}"


def make_settings(database_url: str, endpoint: S3Endpoint, idp: LocalIdP, bucket: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "dev_mode": False,
        "secret_key": secrets.token_urlsafe(48),
        "public_url": "http://127.0.0.1:8000",
        "database": {"url": database_url, "pool_size": 5},
        "s3": {
            "endpoint_url": endpoint.url,
            "region": endpoint.region,
            "bucket": bucket,
            "access_key_id": endpoint.access_key,
            "secret_access_key": endpoint.secret_key,
        },
        "auth": {"oidc_issuer": idp.issuer, "oidc_audience": idp.audience, "admin_group": "admin"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


@pytest.fixture
def settings(database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str) -> Settings:
    return make_settings(database_url, s3, idp, bucket)


@pytest.fixture
async def app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@dataclass
class Actor:
    name: str
    groups: list[str]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """admin; alice (lab-a, owns the dataset); bob (lab-b, shared); carol (lab-c, stranger)."""

    admin: Actor
    alice: Actor
    bob: Actor
    carol: Actor
    project: dict[str, Any]
    dataset: dict[str, Any]


async def create_atlas(client: httpx.AsyncClient, admin: Actor, owner: Actor) -> tuple[dict[str, Any], dict[str, Any]]:
    """Project `atlas` owned by lab-a, with dataset `rnaseq` owned by lab-a and shared with lab-b."""
    project = await client.post(
        "/api/projects", json={"code": "atlas", "name": "Atlas", "owner_groups": ["lab-a"]}, headers=admin.headers
    )
    assert project.status_code == 201, project.text
    dataset = await client.post(
        "/api/datasets",
        json={
            "project_id": project.json()["id"],
            "code": "rnaseq",
            "name": "RNA-seq",
            "owner_group": "lab-a",
            "shared_with": ["lab-b"],
        },
        headers=owner.headers,
    )
    assert dataset.status_code == 201, dataset.text
    return project.json(), dataset.json()


@pytest.fixture
async def world(client: httpx.AsyncClient, idp: LocalIdP) -> World:
    def actor(name: str, groups: list[str]) -> Actor:
        return Actor(name, groups, idp.token(name, groups, lifetime=3600))

    admin, alice, bob, carol = (
        actor("root", ["admin"]),
        actor("alice", ["lab-a"]),
        actor("bob", ["lab-b"]),
        actor("carol", ["lab-c"]),
    )
    project, dataset = await create_atlas(client, admin, alice)
    return World(admin, alice, bob, carol, project, dataset)


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A separate app with its own settings, lifespan running, called in-process."""
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as c,
    ):
        yield c


@pytest.fixture(scope="session")
def s3_admin(s3: S3Endpoint) -> Any:
    """A plain boto3 client on the same S3 server, to check what really landed in the bucket."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3.url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
