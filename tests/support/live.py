"""The app served by uvicorn on a real loopback port, in a background thread, for clients that speak HTTP
(the command-line client, generated clients). Tables are truncated after each test, as with `app`."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import uvicorn

from omicsdm.app import create_app
from omicsdm.embedded.seaweedfs import S3Endpoint
from tests.conftest import TABLES, Actor, _dsn, create_atlas, make_settings
from tests.support.idp import LocalIdP


@dataclass
class LiveApp:
    url: str
    bucket: str


@contextmanager
def serve(database_url: str, endpoint: S3Endpoint, idp: LocalIdP, bucket: str, **overrides: Any) -> Iterator[LiveApp]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, endpoint, idp, bucket, public_url=url, **overrides)
    config = uvicorn.Config(create_app(settings), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="live-app")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live app did not start")
        time.sleep(0.02)
    try:
        yield LiveApp(url, bucket)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


async def truncate(database_url: str) -> None:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@dataclass
class LiveWorld:
    """Like tests.conftest.World, on the live app, plus API tokens for the command line."""

    url: str
    admin: Actor
    alice: Actor
    bob: Actor
    project: dict[str, Any]
    dataset: dict[str, Any]
    alice_api_token: str
    bob_api_token: str


async def api_token(client: httpx.AsyncClient, actor: Actor) -> str:
    response = await client.post("/api/auth/tokens", json={"name": "cli-tests"}, headers=actor.headers)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


@asynccontextmanager
async def live_world(live: LiveApp, idp: LocalIdP, database_url: str) -> AsyncIterator[LiveWorld]:
    def actor(name: str, groups: list[str]) -> Actor:
        return Actor(name, groups, idp.token(name, groups, lifetime=3600))

    admin, alice, bob = actor("root", ["admin"]), actor("alice", ["lab-a"]), actor("bob", ["lab-b"])
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            project, dataset = await create_atlas(client, admin, alice)
            world = LiveWorld(
                live.url,
                admin,
                alice,
                bob,
                project,
                dataset,
                await api_token(client, alice),
                await api_token(client, bob),
            )
        yield world
    finally:
        await asyncio.sleep(0)
        await truncate(database_url)
