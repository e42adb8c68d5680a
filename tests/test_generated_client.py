"""A client generated from the committed openapi.json (openapi-python-client) works against the live app:
start an upload, send its bytes through the signer, complete it, list files, get download URLs, mark
the file deleted. This is what a bioinformatician does with a generated client and Swagger open."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from omicsdm.embedded.seaweedfs import S3Endpoint
from tests.support.evaporate import EvaporateClient, part_md5s
from tests.support.idp import LocalIdP
from tests.support.live import LiveApp, LiveWorld, live_world, serve

MIB = 1024 * 1024
SPEC = Path(__file__).resolve().parent.parent / "openapi.json"
PACKAGE = "omicsdm_generated_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    bin_dir = Path(sys.executable).parent
    tool = shutil.which("openapi-python-client", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    if tool is None:
        pytest.skip("openapi-python-client is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("generated") / PACKAGE
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff post-hook
    done = subprocess.run(
        [tool, "generate", "--path", str(SPEC), "--output-path", str(out), "--meta", "none"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(out.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def live(database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str) -> Iterator[LiveApp]:
    with serve(database_url, s3, idp, bucket) as running:
        yield running


@pytest.fixture
async def lw(live: LiveApp, idp: LocalIdP, database_url: str) -> AsyncIterator[LiveWorld]:
    async with live_world(live, idp, database_url) as world:
        yield world


def load(module: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{module}")


async def test_generated_client_uploads_lists_downloads_and_deletes(generated: ModuleType, lw: LiveWorld) -> None:
    start_upload, complete_upload = load("api.uploads.start_upload"), load("api.uploads.complete_upload")
    list_files = load("api.files.list_files")
    create_download_urls, delete_file = load("api.files.create_download_urls"), load("api.files.delete_file")
    models = load("models")

    data = os.urandom(7 * MIB + 11)
    dataset_id = uuid.UUID(lw.dataset["id"])
    async with generated.AuthenticatedClient(base_url=lw.url, token=lw.alice_api_token) as client:
        upload = await start_upload.asyncio(
            client=client,
            body=models.UploadCreate(
                dataset_id=dataset_id,
                name="generated/sample.bam",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                part_size=5 * MIB,
            ),
        )
        assert isinstance(upload, models.UploadOut), upload
        assert upload.part_size == 5 * MIB and upload.resumed is False

        # The bytes go straight to S3 with each request signed by the service (as EvaporateJS does).
        evaporate = EvaporateClient(api=client.get_async_httpx_client(), upload=upload.to_dict())
        try:
            await evaporate.upload_bytes(data)
        finally:
            await evaporate.aclose()
        assert evaporate.sent_parts == [1, 2]

        version = await complete_upload.asyncio(
            upload.id, client=client, body=models.UploadComplete(part_md5s=part_md5s(data, upload.part_size))
        )
        assert isinstance(version, models.VersionOut), version
        assert (version.version, version.size, version.checksum_state) == (1, len(data), models.ChecksumState.VERIFIED)

        page = await list_files.asyncio(client=client, dataset_id=dataset_id, extension="bam")
        assert isinstance(page, models.FilePage), page
        assert [(f.name, f.version, f.sha256) for f in page.items] == [
            ("generated/sample.bam", 1, hashlib.sha256(data).hexdigest())
        ]
        assert page.total == 1

        links = await create_download_urls.asyncio(
            client=client, body=models.DownloadRequest(items=[models.Selection(file_id=version.file_id)])
        )
        assert isinstance(links, models.DownloadLinks), links
        [link] = links.items
        assert (link.name, link.version, link.size) == ("generated/sample.bam", 1, len(data))
        async with httpx.AsyncClient(timeout=60) as http:
            fetched = await http.get(link.url)
        assert fetched.status_code == 200
        assert fetched.content == data

        deleted = await delete_file.asyncio(version.file_id, client=client)
        assert isinstance(deleted, models.FileDetail), deleted
        assert isinstance(deleted.deleted_at, datetime)
        after = await list_files.asyncio(client=client, dataset_id=dataset_id)
        assert isinstance(after, models.FilePage) and after.items == []
        refused = await create_download_urls.asyncio_detailed(
            client=client, body=models.DownloadRequest(items=[models.Selection(file_id=version.file_id)])
        )
        assert refused.status_code == 404
        assert isinstance(refused.parsed, models.Problem)
