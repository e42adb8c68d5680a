"""Versions, downloads through presigned URLs, comments, mark deleted, trash and restore, in Chromium."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    Lab,
    LiveServer,
    choose_dataset,
    file_row,
    login,
    open_upload,
    random_file,
    upload_and_wait,
)

pytestmark = pytest.mark.browser
MIB = 1024 * 1024


async def test_second_upload_is_version_2_and_each_version_downloads_its_own_bytes(
    page: Any, lab: Lab, tmp_path: Path
) -> None:
    first = random_file(tmp_path / "a", "counts.tsv", 6 * MIB)
    second = random_file(tmp_path / "b", "counts.tsv", 7 * MIB + 123)
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await upload_and_wait(page, first, "counts.tsv", 1)
    await upload_and_wait(page, second, "counts.tsv", 2)

    await page.get_by_role("link", name="Files").click()
    row = file_row(page, "counts.tsv")
    await row.wait_for()
    assert (await row.locator("td").nth(2).inner_text()).strip() == "2"
    await row.get_by_role("button").click()
    drawer = page.get_by_test_id("file-detail")
    await drawer.get_by_test_id("version-row").nth(1).wait_for()
    assert await drawer.get_by_test_id("version-row").count() == 2
    drs = [await b.get_attribute("data-drs") for b in await drawer.get_by_test_id("copy-drs").all()]
    assert len(drs) == 2 and all(uri and uri.startswith("drs://") for uri in drs) and drs[0] != drs[1]

    for version, source in ((1, first), (2, second)):
        await drawer.get_by_role("button", name=f"Download version {version}").click()
        dialog = page.get_by_test_id("download-dialog")
        link = dialog.get_by_test_id("download-link")
        assert await link.get_attribute("data-version") == str(version)
        async with page.expect_download() as started:
            await link.click()
        download = await started.value
        assert download.suggested_filename == "counts.tsv"
        saved = await download.path()
        assert await asyncio.to_thread(Path(saved).read_bytes) == source.read_bytes()
        await dialog.get_by_role("button", name="Close").click()

    await drawer.get_by_test_id("comment-input").click()
    await drawer.get_by_test_id("comment-input").fill("re-run with new adapters")
    await drawer.get_by_test_id("comment-save").click()
    await page.get_by_text("Comment saved.").wait_for()
    await drawer.get_by_role("button", name="Close").first.click()
    await page.get_by_text("re-run with new adapters").wait_for()


async def test_mark_deleted_trash_refused_download_and_restore(
    page: Any, lab: Lab, live_server: LiveServer, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "old_calls.vcf", 1 * MIB)
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await upload_and_wait(page, source, "old_calls.vcf", 1)
    await page.get_by_role("link", name="Files").click()
    row = file_row(page, "old_calls.vcf")
    await row.wait_for()
    with live_server.api(lab.user_token) as api:
        file_id = api.get("/api/files", params={"dataset_id": lab.dataset["id"]}).json()["items"][0]["id"]

    await row.get_by_role("checkbox").check()
    # A link copied from the page before "Mark deleted" works now and is refused after it.
    await page.get_by_test_id("download-selected").click()
    dialog = page.get_by_test_id("download-dialog")
    copied = await dialog.get_by_test_id("download-link").get_attribute("href")
    assert copied and "/api/links/" in copied
    await dialog.get_by_role("button", name="Close").click()
    link_status = "async (url) => (await fetch(url, {redirect: 'manual'})).status"
    assert await page.evaluate(link_status, copied) == 0  # opaque redirect: the service said 302 to S3
    await page.get_by_test_id("delete-selected").click()
    confirm = page.get_by_test_id("confirm-delete")
    assert "old_calls.vcf" in await confirm.inner_text()
    await confirm.get_by_test_id("confirm-delete-button").click()
    await row.wait_for(state="detached")
    await page.get_by_text("moved to the trash").wait_for()

    refused = await page.evaluate(
        """async (id) => {
            const token = JSON.parse(sessionStorage.getItem('omicsdm.session')).accessToken;
            const r = await fetch('/api/files/download-urls', {method: 'POST', headers: {
                'Content-Type': 'application/json', Authorization: 'Bearer ' + token},
                body: JSON.stringify({items: [{file_id: id}]})});
            return {status: r.status, body: await r.json()};
        }""",
        file_id,
    )
    assert refused["status"] in (403, 404, 409, 410), refused
    assert refused["body"]["detail"]
    assert await page.evaluate(link_status, copied) == 404

    await page.get_by_role("link", name="Trash").click()
    trashed = page.locator('[data-testid=trash-row][data-name="old_calls.vcf"]')
    await trashed.wait_for()
    assert lab.user in await trashed.inner_text()
    await trashed.get_by_role("button", name="Restore old_calls.vcf").click()
    await trashed.wait_for(state="detached")

    await page.get_by_role("link", name="Files").click()
    await file_row(page, "old_calls.vcf").wait_for()
    with live_server.api(lab.user_token) as api:
        links = api.post("/api/files/download-urls", json={"items": [{"file_id": file_id}]})
    assert links.status_code == 200, links.text
