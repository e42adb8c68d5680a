"""A client generated from the official GA4GH DRS 1.5.0 OpenAPI document (openapi-python-client) resolves a
version's drs:// URI to its bytes: object, access method, access URL, then S3."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import World
from tests.support.drs_bundle import bundle
from tests.support.uploading import upload_file

PACKAGE = "ga4gh_drs_generated_client"


@pytest.fixture(scope="module")
def drs_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    bin_dir = Path(sys.executable).parent
    tool = shutil.which("openapi-python-client", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert tool is not None, "openapi-python-client is a dev dependency"
    work = tmp_path_factory.mktemp("drs-client")
    spec = work / "drs-1.5.0.json"
    spec.write_text(json.dumps(bundle("1.5.0")))
    out = work / PACKAGE
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [tool, "generate", "--path", str(spec), "--output-path", str(out), "--meta", "none"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in (done.stdout + done.stderr).upper(), done.stdout + done.stderr
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


async def test_a_generated_drs_client_resolves_a_drs_uri_to_the_bytes(
    drs_client: ModuleType, app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    data = b">chr1\nACGT\n" * 1000
    digest = hashlib.sha256(data).hexdigest()
    version = await upload_file(client, world.alice.headers, world.dataset["id"], "ref/genome.fa", data, sha256=digest)
    drs_uri: str = version["drs_uri"]
    host, object_id = urlsplit(drs_uri).netloc, urlsplit(drs_uri).path.lstrip("/")
    assert drs_uri.startswith("drs://") and host and object_id == version["id"]

    # A DRS client turns drs://<host>/<id> into https://<host>/ga4gh/drs/v1; <host> is the app here.
    get_object = importlib.import_module(f"{PACKAGE}.api.objects.get_object")
    get_access_url = importlib.import_module(f"{PACKAGE}.api.objects.get_access_url")
    token = world.bob.headers["Authorization"].removeprefix("Bearer ")  # a reader of the shared dataset
    base = "http://testserver/ga4gh/drs/v1"
    transport = httpx.ASGITransport(app=app)
    api: Any = drs_client.AuthenticatedClient(base_url=base, token=token)
    async with httpx.AsyncClient(
        transport=transport, base_url=base, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        api.set_async_httpx_client(http)
        obj = await get_object.asyncio(object_id, client=api)
        assert type(obj).__name__ == "DrsObject", obj
        assert obj.id == object_id and obj.size == len(data) and obj.self_uri == drs_uri
        method = obj.access_methods[0]
        access = await get_access_url.asyncio(object_id, method.access_id, client=api)
        assert type(access).__name__ == "AccessURL", access
    async with httpx.AsyncClient() as plain:
        fetched = await plain.get(access.url)
    assert fetched.content == data
    assert (
        {c.type_: c.checksum for c in obj.checksums}["sha-256"] == digest == hashlib.sha256(fetched.content).hexdigest()
    )
