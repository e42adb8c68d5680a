"""Liveness, readiness, and recovery without a restart."""

from __future__ import annotations

from pathlib import Path

import httpx

from omicsdm.embedded.seaweedfs import EmbeddedSeaweedFS, S3Endpoint
from tests.conftest import app_client, make_settings
from tests.support.idp import LocalIdP


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}


async def test_readyz_follows_s3_down_and_back(database_url: str, idp: LocalIdP, tmp_path: Path) -> None:
    weed = EmbeddedSeaweedFS(tmp_path / "s3")
    endpoint = weed.start()
    try:
        async with app_client(make_settings(database_url, endpoint, idp, "readiness-check")) as client:
            assert (await client.get("/readyz")).status_code == 200
            weed.stop()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["database"] == "ok"
            assert down.json()["checks"]["storage"].startswith("error")
            weed.start()
            assert (await client.get("/readyz")).status_code == 200
    finally:
        weed.stop()


async def test_readyz_names_a_dead_database(s3: S3Endpoint, idp: LocalIdP, bucket: str) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    async with app_client(make_settings(url, s3, idp, bucket)) as client:
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["database"].startswith("error")
        assert down.json()["checks"]["storage"] == "ok"
