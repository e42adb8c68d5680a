"""Uploads through EvaporateJS in Chromium, straight to S3, checked in the bucket."""

from __future__ import annotations

import hashlib
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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_64mib_upload_in_parts_lands_in_the_bucket_and_the_overview(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "sample_R1.fastq.gz", 64 * MIB)
    puts = part_puts(page)
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await page.get_by_test_id("file-input").set_input_files(source)
    await transfer(page, "sample_R1.fastq.gz", "done").wait_for(timeout=25_000)
    assert "version 1" in await transfer(page, "sample_R1.fastq.gz").inner_text()

    part_numbers = sorted({int(r.url.split("partNumber=")[1].split("&")[0]) for r in puts})
    assert len(part_numbers) >= 2, part_numbers
    assert part_numbers == list(range(1, len(part_numbers) + 1))

    stored = objects_of(s3_client, live_server.bucket, lab.dataset["id"])
    assert len(stored) == 1
    body = s3_client.get_object(Bucket=live_server.bucket, Key=stored[0]["Key"])["Body"].read()
    assert len(body) == 64 * MIB
    assert sha256(body) == sha256(source.read_bytes())

    await page.get_by_role("link", name="Files").click()
    row = page.locator('[data-testid=file-row][data-name="sample_R1.fastq.gz"]')
    await row.wait_for()
    text = await row.inner_text()
    assert "64.0 MiB" in text
    assert lab.user in text
