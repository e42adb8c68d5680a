"""Resume after a page reload sends only the missing parts; a user without write access uploads nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    Lab,
    LiveServer,
    choose_dataset,
    login,
    objects_of,
    open_upload,
    part_puts,
    random_file,
    transfer,
)

pytestmark = pytest.mark.browser
MIB = 1024 * 1024


def part_number(url: str) -> int:
    return int(url.split("partNumber=")[1].split("&")[0])


async def test_reload_mid_upload_resumes_without_resending_finished_parts(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "run1.bam", 64 * MIB)  # 4 parts of the service's 16 MiB
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)

    # Hold parts 3 and 4 in the network so that exactly parts 1 and 2 finish before the reload.
    held = asyncio.Event()
    held_routes: list[Any] = []

    async def hold(route: Any) -> None:
        held_routes.append(route)
        held.set()

    def late_part(url: str) -> bool:
        return "partNumber=" in url and part_number(url) >= 3

    await page.route(late_part, hold)
    finished: set[int] = set()
    page.on(
        "response",
        lambda r: (
            finished.add(part_number(r.url))
            if r.request.method == "PUT" and "partNumber=" in r.url and r.status == 200
            else None
        ),
    )
    await page.get_by_test_id("file-input").set_input_files(source)
    for _ in range(300):
        if finished >= {1, 2} and held.is_set():
            break
        await asyncio.sleep(0.1)
    assert finished == {1, 2}, finished
    s3_upload = json.loads(await page.evaluate("localStorage.getItem('awsUploads')"))
    assert len(s3_upload) == 1, "EvaporateJS keeps its resume record in localStorage"

    record = next(iter(s3_upload.values()))

    await page.reload()
    for route in held_routes:  # the reload cancelled them; make sure none is ever let through
        with contextlib.suppress(Exception):
            await route.abort()
    await page.unroute(late_part)
    parts = s3_client.list_parts(Bucket=live_server.bucket, Key=record["awsKey"], UploadId=record["uploadId"])
    assert [p["PartNumber"] for p in parts.get("Parts", [])] == [1, 2]
    await page.get_by_test_id("user-chip").wait_for()  # the session survives the reload (sessionStorage)
    await open_upload(page)
    unfinished = page.get_by_test_id("unfinished")
    await unfinished.wait_for()
    assert "run1.bam" in await unfinished.inner_text()

    puts = part_puts(page)
    list_parts: list[str] = []
    page.on("request", lambda r: list_parts.append(r.url) if r.method == "GET" and "uploadId=" in r.url else None)
    async with page.expect_response(lambda r: r.url.endswith("/api/uploads") and r.request.method == "POST") as started:
        await page.get_by_test_id("file-input").set_input_files(source)
    answer = await (await started.value).json()
    assert answer["resumed"] is True

    await transfer(page, "run1.bam", "done").wait_for(timeout=40_000)
    assert "resumed" in await transfer(page, "run1.bam").inner_text()
    assert list_parts, "EvaporateJS asked S3 which parts it already has"
    assert sorted(part_number(r.url) for r in puts) == [3, 4]

    stored = objects_of(s3_client, live_server.bucket, lab.dataset["id"])
    assert [o["Key"] for o in stored] == [answer["object_key"]]
    body = s3_client.get_object(Bucket=live_server.bucket, Key=answer["object_key"])["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert await page.evaluate("localStorage.getItem('omicsdm.pendingUploads')") == "{}"


async def test_reader_without_write_access_sees_why_and_nothing_is_uploaded(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "notes.vcf", 1 * MIB)
    await login(page, lab.reader, [lab.reader_group])
    await choose_dataset(page, lab)
    assert await page.get_by_role("link", name="Upload").count() == 0  # not offered; by its address it says why
    await page.evaluate("location.hash = '#/upload'")
    await page.get_by_test_id("dropzone").wait_for()
    refusal = page.get_by_test_id("upload-refusal")
    await refusal.wait_for()
    text = await refusal.inner_text()
    assert "not upload" in text and lab.group in text
    assert await page.get_by_test_id("file-input").is_disabled()
    assert await page.get_by_role("button", name="Choose files").is_disabled()

    # Permissions that changed after the page loaded: the browser still offers the upload, the service refuses.
    async def stale_permissions(route: Any) -> None:
        response = await route.fetch()
        datasets = await response.json()
        for dataset in datasets:
            dataset["permissions"]["upload"] = True
        await route.fulfill(response=response, json=datasets)

    await page.route("**/api/datasets?*", stale_permissions)
    await page.get_by_test_id("project-select").select_option("")
    await choose_dataset(page, lab)
    await page.get_by_test_id("file-input").set_input_files(source)
    row = transfer(page, "notes.vcf", "failed")
    await row.wait_for()
    message = await row.get_by_test_id("transfer-message").inner_text()
    with live_server.api(lab.user_token) as owner:
        direct = owner.post("/api/uploads", json={"dataset_id": lab.dataset["id"], "name": "x.vcf", "size": 1})
    with live_server.api(live_server.token(lab.reader, [lab.reader_group])) as reader:
        refused = reader.post("/api/uploads", json={"dataset_id": lab.dataset["id"], "name": "x.vcf", "size": 1})
    assert direct.status_code == 201  # the owner may
    assert refused.status_code == 403
    assert message == refused.json()["detail"]
    assert objects_of(s3_client, live_server.bucket, lab.dataset["id"]) == []
