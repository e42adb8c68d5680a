"""The tab closed after S3's Complete but before the service recorded the upload: adding the file again
records it from what S3 holds, without sending a byte again, and ends with exactly one version."""

from __future__ import annotations

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


async def test_a_finished_but_unrecorded_upload_is_recorded_without_resending(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "closed_tab.bam", 7 * MIB)
    lost: list[str] = []

    async def connection_lost(route: Any) -> None:
        lost.append(route.request.url)
        await route.abort("connectionreset")

    await page.route("**/api/uploads/*/complete", connection_lost)
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await page.get_by_test_id("file-input").set_input_files(source)
    # The page retries a completion it could not deliver; the tab is closed before it gets through.
    await page.get_by_text("The service cannot be reached").wait_for(timeout=30_000)
    assert lost, "the completion was never attempted"
    assert len(objects_of(s3_client, live_server.bucket, lab.dataset["id"])) == 1  # S3 holds the whole file

    # A new page load (the tab was closed and opened again): nothing intercepts the service any more.
    await page.unroute("**/api/uploads/*/complete")
    await page.reload()
    puts = part_puts(page)
    await choose_dataset(page, lab)
    await open_upload(page)
    await page.get_by_test_id("file-input").set_input_files(source)
    await transfer(page, "closed_tab.bam", "done").wait_for(timeout=30_000)
    assert "version 1" in await transfer(page, "closed_tab.bam").inner_text()
    assert puts == [], [p.url for p in puts]
    assert len(objects_of(s3_client, live_server.bucket, lab.dataset["id"])) == 1
    with live_server.api(lab.user_token) as api:
        items = api.get("/api/files", params={"dataset_id": lab.dataset["id"]}).json()["items"]
    assert [(i["name"], i["version"], i["checksum_state"]) for i in items] == [("closed_tab.bam", 1, "verified")]
