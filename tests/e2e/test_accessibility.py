"""axe-core on every view of the web page, at 1280x800 and at 390x844 (a phone), and one <h1> per view.

axe-core comes from frontend/node_modules (a dev dependency) and is evaluated through DevTools, so the page keeps
its Content-Security-Policy while it is checked.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FRONTEND, Lab, LiveServer, file_row, login, transfer
from tests.support.uploading import upload_file

pytestmark = pytest.mark.browser
AXE = FRONTEND / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = ({"width": 1280, "height": 800}, {"width": 390, "height": 844})

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} -- ` +
    v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
}"""


async def check(page: Any, view: str, found: dict[str, list[str]]) -> None:
    await page.wait_for_timeout(150)  # transitions settle (contrast is measured on what is painted)
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text())
    violations = await page.evaluate(RUN_AXE)
    headings = await page.locator("h1").count()
    if headings != 1:
        violations.append(f"{headings} <h1> elements, not one")
    if violations:
        found[view] = violations


async def seed(live_server: LiveServer, lab: Lab) -> dict[str, Any]:
    """Three files (two in folders) in the lab's dataset, and a second dataset with none."""
    headers = {"Authorization": f"Bearer {lab.user_token}"}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        for name in (
            "run_2024_05/sample_A_R1.fastq.gz",
            "run_2024_05/qc/multiqc_report.html",
            "tumour_whole_genome_sequencing_lane_1_with_a_name_long_enough_to_be_cut.vcf",
        ):
            await upload_file(client, headers, lab.dataset["id"], name, os.urandom(2048))
        empty = await client.post(
            "/api/datasets",
            headers=headers,
            json={
                "project_id": lab.project["id"],
                "code": f"{lab.dataset['code']}-e",
                "name": "Empty",
                "owner_group": lab.group,
            },
        )
        assert empty.status_code == 201, empty.text
        return dict(empty.json())


async def test_axe_finds_no_violation_on_any_view_wide_and_narrow(page: Any, lab: Lab, live_server: LiveServer) -> None:
    empty = await seed(live_server, lab)
    found: dict[str, list[str]] = {}
    for viewport in VIEWPORTS:
        size = f"{viewport['width']}x{viewport['height']}"
        narrow = viewport["width"] < 900
        await page.set_viewport_size(viewport)
        await page.goto("/")
        await page.evaluate("sessionStorage.clear()")
        await page.reload()
        await page.get_by_label("User name").wait_for()
        await check(page, f"login {size}", found)

        await login(page, lab.user, [lab.group])
        await page.get_by_test_id("project-select").select_option(lab.project["id"])
        await page.get_by_test_id("dataset-select").select_option(empty["id"])
        await page.get_by_test_id("empty-upload").wait_for()
        await check(page, f"empty overview {size}", found)

        await page.get_by_test_id("dataset-select").select_option(lab.dataset["id"])
        await file_row(page, "run_2024_05/sample_A_R1.fastq.gz").wait_for()
        await check(page, f"files {size}", found)
        if narrow:
            await page.get_by_test_id("filters-toggle").click()
            await page.get_by_test_id("filter-name").wait_for()
            await check(page, f"files with filters open {size}", found)
            await page.get_by_test_id("filters-toggle").click()

        await page.get_by_test_id("layout-folders").click()
        await page.locator('[data-testid=folder-row][data-name="run_2024_05"]').get_by_role("button").click()
        await page.get_by_test_id("folder-current").wait_for()
        await file_row(page, "run_2024_05/sample_A_R1.fastq.gz").wait_for()
        await check(page, f"folder view {size}", found)
        await page.get_by_test_id("layout-list").click()

        row = file_row(page, "run_2024_05/sample_A_R1.fastq.gz")
        await row.get_by_role("button").click()
        drawer = page.get_by_test_id("file-detail")
        await drawer.get_by_test_id("version-row").first.wait_for()
        await check(page, f"file drawer {size}", found)
        await drawer.get_by_role("button", name="Close").first.click()

        await row.get_by_role("checkbox").check()
        await page.get_by_test_id("download-selected").click()
        await page.get_by_test_id("download-dialog").get_by_test_id("download-link").wait_for()
        await check(page, f"download dialog {size}", found)
        await page.get_by_test_id("download-dialog").get_by_role("button", name="Close").click()
        await page.get_by_test_id("delete-selected").click()
        await page.get_by_test_id("confirm-delete-button").wait_for()
        await check(page, f"confirm delete {size}", found)
        await page.get_by_test_id("confirm-delete").get_by_role("button", name="Keep").click()

        await page.get_by_role("link", name="Upload").click()
        await page.get_by_test_id("dropzone").wait_for()
        await check(page, f"upload {size}", found)
        await page.get_by_role("link", name="Trash").click()
        await page.get_by_test_id("trash-table").wait_for()
        await check(page, f"trash {size}", found)
        await page.evaluate("location.hash = '#/tokens'")
        await page.get_by_role("heading", name="API tokens", level=1).wait_for()
        await check(page, f"API tokens {size}", found)
        await page.evaluate("location.hash = '#/device'")
        await page.get_by_test_id("device-code").wait_for()
        await check(page, f"command-line login approval {size}", found)
    assert not found, "axe-core found violations:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())


async def focused(page: Any) -> str:
    return str(
        await page.evaluate(
            "document.activeElement.getAttribute('data-testid') || document.activeElement.id || document.activeElement.textContent"
        )
    )


async def test_skip_link_folder_view_by_keyboard_and_files_dropped_on_the_overview(
    page: Any, lab: Lab, live_server: LiveServer
) -> None:
    await seed(live_server, lab)
    await login(page, lab.user, [lab.group])
    await page.get_by_test_id("project-select").select_option(lab.project["id"])
    await page.get_by_test_id("dataset-select").select_option(lab.dataset["id"])
    await file_row(page, "run_2024_05/sample_A_R1.fastq.gz").wait_for()

    # The first Tab stop skips the header and the tabs.
    await page.evaluate("document.activeElement.blur()")
    await page.keyboard.press("Tab")
    assert await focused(page) == "Skip to content"
    await page.keyboard.press("Enter")
    assert await focused(page) == "main"

    # The folder view, by keyboard only: Enter opens, arrows move, Backspace goes up.
    await page.get_by_test_id("layout-folders").focus()
    await page.keyboard.press("Enter")
    await page.locator('[data-testid=folder-row][data-name="run_2024_05"]').get_by_role("button").focus()
    await page.keyboard.press("Enter")
    await page.get_by_test_id("folder-current").wait_for()
    assert await focused(page) == "folder-current"
    await page.get_by_test_id("folder-up").focus()
    await page.keyboard.press("ArrowDown")
    assert "qc" in await focused(page)
    await page.keyboard.press("ArrowDown")
    assert await focused(page) == "sample_A_R1.fastq.gz"
    await page.keyboard.press("Backspace")
    await page.locator('[data-testid=folder-row][data-name="run_2024_05"]').wait_for()
    assert await page.get_by_test_id("folder-current").count() == 0  # back at the top
    await page.get_by_test_id("layout-list").click()

    # Files dropped on the overview go to the upload manager, and the page shows their transfer.
    drop = await page.evaluate_handle(
        "() => { const dt = new DataTransfer(); dt.items.add(new File(['chr1 1 2'], 'dropped.bed')); return dt; }"
    )
    await page.get_by_test_id("files-page").dispatch_event("dragenter", {"dataTransfer": drop})
    await page.get_by_text("Drop files or folders to upload them into").wait_for()
    await page.get_by_test_id("files-page").dispatch_event("drop", {"dataTransfer": drop})
    await page.wait_for_url("**/#/upload")
    await transfer(page, "dropped.bed", "done").wait_for(timeout=30_000)
