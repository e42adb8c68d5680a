"""What the page offers follows what the user may do: a reader sees no delete and no upload; and on a phone
(390x844) the primary actions stay in view while the filters fold away."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Lab, LiveServer, choose_dataset, file_row, login
from tests.support.uploading import upload_file

pytestmark = pytest.mark.browser


async def seed(live_server: LiveServer, lab: Lab, *names: str) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        for name in names:
            await upload_file(
                client, {"Authorization": f"Bearer {lab.user_token}"}, lab.dataset["id"], name, os.urandom(1024)
            )


async def test_a_reader_is_offered_no_delete_and_no_upload(page: Any, lab: Lab, live_server: LiveServer) -> None:
    await seed(live_server, lab, "calls/sample_1.vcf")
    await login(page, lab.reader, [lab.reader_group])
    await choose_dataset(page, lab)
    row = file_row(page, "calls/sample_1.vcf")
    await row.wait_for()
    assert await page.get_by_role("link", name="Upload").count() == 0
    assert await page.get_by_role("link", name="Trash").count() == 0  # a reader's trash is always empty
    await row.get_by_role("checkbox").check()
    assert await page.get_by_test_id("download-selected").is_enabled()  # reading is allowed
    assert await page.get_by_test_id("delete-selected").count() == 0
    assert await page.get_by_role("button", name="Mark deleted…").count() == 0

    await row.get_by_role("button").click()
    drawer = page.get_by_test_id("file-detail")
    await drawer.get_by_test_id("version-row").first.wait_for()
    assert await drawer.get_by_role("button", name="Download version 1").is_enabled()
    assert await drawer.get_by_test_id("delete-file").count() == 0
    assert await drawer.get_by_test_id("comment-save").count() == 0
    assert await drawer.get_by_test_id("comment-text").is_visible()
    await drawer.get_by_role("button", name="Close").first.click()

    # Dropping files on the overview is refused before anything is sent.
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "/api/uploads" in r.url else None)
    drop = await page.evaluate_handle(
        "() => { const dt = new DataTransfer(); dt.items.add(new File(['x'], 'sneaky.vcf')); return dt; }"
    )
    await page.get_by_test_id("files-page").dispatch_event("drop", {"dataTransfer": drop})
    await page.get_by_text("You may not upload to").wait_for()
    assert posts == []

    # The owner of the same dataset is offered both.
    await page.get_by_role("button", name="Log out").click()
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await file_row(page, "calls/sample_1.vcf").get_by_role("checkbox").check()
    assert await page.get_by_test_id("delete-selected").is_enabled()
    assert await page.get_by_role("link", name="Upload").count() == 1
    assert await page.get_by_role("link", name="Trash").count() == 1


async def test_on_a_phone_filters_fold_away_and_every_download_button_is_in_view(
    page: Any, lab: Lab, live_server: LiveServer
) -> None:
    name = "run_2024_05/tumour_whole_genome_sequencing_lane_1_sample_B_R1.fastq.gz"
    await seed(live_server, lab, name, name)  # two versions
    await page.set_viewport_size({"width": 390, "height": 844})
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    row = file_row(page, name)
    await row.wait_for()

    filters = page.get_by_test_id("filter-name")
    assert not await filters.is_visible()  # folded away: the first screen is files, not filters
    toggle = page.get_by_test_id("filters-toggle")
    assert await toggle.get_attribute("aria-expanded") == "false"
    await toggle.click()
    assert await filters.is_visible()
    await filters.fill("tumour")
    await toggle.click()
    assert "(1)" in await toggle.inner_text()  # folded, it still says a filter is on

    await row.get_by_role("checkbox").check()
    for action in ("download-selected", "delete-selected"):
        box = await page.get_by_test_id(action).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (action, box)

    # The full name: the button clips it with an ellipsis, its title carries it all.
    button = row.get_by_role("button")
    assert await button.get_attribute("title") == name
    assert await button.evaluate("b => getComputedStyle(b).textOverflow") == "ellipsis"

    await button.click()
    drawer = page.get_by_test_id("file-detail")
    await drawer.get_by_test_id("version-row").nth(1).wait_for()
    for version in (1, 2):
        download = drawer.get_by_role("button", name=f"Download version {version}")
        box = await download.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (version, box)
    assert await drawer.evaluate("d => d.scrollWidth <= d.clientWidth")  # nothing sticks out sideways
