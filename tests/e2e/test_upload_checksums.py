"""The page checksums what it uploads: a Web Worker computes the SHA-256 and part MD5s from the local file, the
completion declares them, the service checks the parts against S3's ETag and records the SHA-256 (verified)."""

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


def part_md5s(data: bytes, part_size: int) -> list[str]:
    return [hashlib.md5(data[i : i + part_size]).hexdigest() for i in range(0, len(data), part_size)]


def recorded(live_server: LiveServer, token: str, file_id: str) -> dict[str, Any]:
    with live_server.api(token) as client:
        answer = client.get(f"/api/files/{file_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


async def test_upload_records_the_pages_sha256_and_verified_part_md5s(
    page: Any, lab: Lab, live_server: LiveServer, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "counts.h5ad", 32 * MIB + 1)  # 3 parts, the last one of 1 byte
    data = source.read_bytes()
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    async with (
        page.expect_response(lambda r: r.url.endswith("/api/uploads") and r.request.method == "POST") as started,
        page.expect_response(lambda r: r.url.endswith("/complete"), timeout=45_000) as completed,
    ):
        await page.get_by_test_id("file-input").set_input_files(source)
    upload = await (await started.value).json()
    response = await completed.value
    assert response.status == 200, await response.text()
    body = json.loads(response.request.post_data)
    assert body == {"sha256": hashlib.sha256(data).hexdigest(), "part_md5s": part_md5s(data, upload["part_size"])}
    assert len(body["part_md5s"]) == 3

    await transfer(page, "counts.h5ad", "done").wait_for()
    version = await response.json()
    assert version["checksum_state"] == "verified"
    detail = recorded(live_server, lab.user_token, version["file_id"])
    assert detail["sha256"] == hashlib.sha256(data).hexdigest()
    assert detail["checksum_state"] == "verified"
    assert detail["versions"][0]["sha256"] == detail["sha256"]
    assert not await page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('omicsdm.checksum.'))"), (
        "the saved checksum state is dropped once the version is recorded"
    )


async def test_reload_mid_upload_resumes_the_checksum_and_ends_verified(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "run2.bam", 48 * MIB)  # 3 parts of 16 MiB
    data = source.read_bytes()
    # Checkpoints at every part boundary (not once a second), each one kept aside by the test as it is saved.
    await page.add_init_script(
        """
        localStorage.setItem("omicsdm.checksumCheckpointMs", "0");
        window.__checkpoints = [];
        const setItem = Storage.prototype.setItem;
        Storage.prototype.setItem = function (key, value) {
          if (key.startsWith("omicsdm.checksum.")) window.__checkpoints.push([key, value]);
          return setItem.call(this, key, value);
        };
        """
    )
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)

    held: list[Any] = []

    async def hold(route: Any) -> None:
        held.append(route)

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
    async with page.expect_response(lambda r: r.url.endswith("/api/uploads") and r.request.method == "POST") as first:
        await page.get_by_test_id("file-input").set_input_files(source)
    upload = await (await first.value).json()
    state_key = f"omicsdm.checksum.{upload['id']}"
    saved: list[dict[str, Any]] = []
    for _ in range(300):
        saved = [json.loads(v) for k, v in await page.evaluate("window.__checkpoints") if k == state_key]
        if finished >= {1, 2} and held and any(s.get("sha256") for s in saved):
            break
        await asyncio.sleep(0.1)
    assert finished == {1, 2}, finished
    assert [s["offset"] for s in saved] == [16 * MIB, 32 * MIB, 48 * MIB], "a checkpoint per part, then the result"
    assert saved[-1]["sha256"] == hashlib.sha256(data).hexdigest()
    assert saved[-1]["partMd5s"] == part_md5s(data, 16 * MIB)

    # As if the page had been closed while hashing the second part: only part 1 is covered by the saved state.
    await page.reload()
    for route in held:
        with contextlib.suppress(Exception):
            await route.abort()
    await page.unroute(late_part)
    await page.evaluate("([key, value]) => localStorage.setItem(key, value)", [state_key, json.dumps(saved[0])])
    await page.get_by_test_id("user-chip").wait_for()
    await open_upload(page)
    await page.get_by_test_id("unfinished").wait_for()

    puts = part_puts(page)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    async with (
        page.expect_response(lambda r: r.url.endswith("/api/uploads") and r.request.method == "POST") as again,
        page.expect_response(lambda r: r.url.endswith("/complete"), timeout=45_000) as completed,
    ):
        await page.get_by_test_id("file-input").set_input_files(source)
    assert (await (await again.value).json())["resumed"] is True
    response = await completed.value
    assert response.status == 200, await response.text()
    await transfer(page, "run2.bam", "done").wait_for()
    assert sorted(part_number(r.url) for r in puts) == [3]
    assert any(f"{32 * MIB} bytes hashed" in line and f"resumed at byte {16 * MIB}" in line for line in console), (
        console
    )

    version = await response.json()
    detail = recorded(live_server, lab.user_token, version["file_id"])
    assert detail["sha256"] == hashlib.sha256(data).hexdigest()
    assert detail["checksum_state"] == "verified"
    stored = objects_of(s3_client, live_server.bucket, lab.dataset["id"])
    body = s3_client.get_object(Bucket=live_server.bucket, Key=stored[0]["Key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == detail["sha256"]
    assert await page.evaluate(f"localStorage.getItem('{state_key}')") is None
