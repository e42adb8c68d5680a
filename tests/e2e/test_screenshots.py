"""Screenshots of the main screens for the README (docs/screenshots/*.png), and cancelling a running upload."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    SCREENSHOTS,
    Lab,
    LiveServer,
    choose_dataset,
    file_row,
    objects_of,
    open_upload,
    random_file,
    transfer,
)

pytestmark = pytest.mark.browser
MIB = 1024 * 1024


async def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(250)  # let transitions settle
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def test_main_screens_and_cancel(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    await page.goto("/")
    await page.get_by_label("User name").fill(lab.user)
    await page.get_by_label("Groups").fill(lab.group)
    await shot(page, "login")
    await page.get_by_role("button", name="Sign in (dev)").click()
    await page.get_by_test_id("user-chip").wait_for()
    await choose_dataset(page, lab)

    # A folder of a sequencing run: relative paths are kept.
    run = tmp_path / "run_2024_05"
    for name, size in (
        ("sample_A_R1.fastq.gz", 3 * MIB),
        ("sample_A_R2.fastq.gz", 3 * MIB + 17),
        ("sample_B_R1.fastq.gz", 2 * MIB),
        ("qc/multiqc_report.html", 300_000),
    ):
        random_file(run, name, size)
    random_file(tmp_path, "counts_matrix.h5ad", 5 * MIB)
    await open_upload(page)
    await page.get_by_label("Comment for the next files (optional)").fill("NovaSeq run 2024-05, lane 1")
    await page.get_by_test_id("folder-input").set_input_files(run)
    await transfer(page, "run_2024_05/qc/multiqc_report.html", "done").wait_for(timeout=40_000)
    for name in ("sample_A_R1.fastq.gz", "sample_A_R2.fastq.gz", "sample_B_R1.fastq.gz"):
        await transfer(page, f"run_2024_05/{name}", "done").wait_for(timeout=40_000)
    await page.get_by_label("Comment for the next files (optional)").fill("")
    await page.get_by_test_id("file-input").set_input_files(tmp_path / "counts_matrix.h5ad")
    await transfer(page, "counts_matrix.h5ad", "done").wait_for(timeout=40_000)

    # A large upload caught mid-way: hold its last parts so the screenshot shows it running.
    big = random_file(tmp_path, "tumour_WGS.bam", 64 * MIB)
    held: list[Any] = []

    async def hold(route: Any) -> None:
        held.append(route)

    def late(url: str) -> bool:
        return "partNumber=" in url and int(url.split("partNumber=")[1].split("&")[0]) >= 3

    await page.route(late, hold)
    await page.get_by_test_id("file-input").set_input_files(big)
    for _ in range(300):
        if len(held) >= 2 and "32.0 MiB" in await transfer(page, "tumour_WGS.bam").inner_text():
            break
        await asyncio.sleep(0.1)
    await shot(page, "upload", full_page=True)

    # Cancel: the transfer stops, the service forgets the upload, nothing is stored for it.
    await transfer(page, "tumour_WGS.bam").get_by_role("button", name="Cancel tumour_WGS.bam").click()
    await transfer(page, "tumour_WGS.bam", "cancelled").wait_for()
    for route in held:  # the browser may have dropped them already
        with contextlib.suppress(Exception):
            await route.abort()
    await page.unroute(late)
    assert len(objects_of(s3_client, live_server.bucket, lab.dataset["id"])) == 5

    # The connection drops after the first part: the upload keeps what S3 holds and retries by itself.
    s3_url = live_server.s3.url + "/"
    outage: dict[str, Any] = {"blocked": False, "held": [], "stored": 0}

    def to_s3(url: str) -> bool:
        return url.startswith(s3_url) and (outage["blocked"] or ("partNumber=" in url and "partNumber=1&" not in url))

    async def cut(route: Any) -> None:
        if outage["blocked"]:
            await route.abort("internetdisconnected")
        else:
            outage["held"].append(route)

    def part_stored(response: Any) -> None:
        if response.request.method == "PUT" and "partNumber=1&" in response.url and response.status == 200:
            outage["stored"] += 1

    await page.route(to_s3, cut)
    page.on("response", part_stored)
    await page.get_by_test_id("file-input").set_input_files(random_file(tmp_path, "tumour_RNA.bam", 48 * MIB))
    for _ in range(900):
        if outage["held"] and outage["stored"]:
            break
        await asyncio.sleep(0.1)
    outage["blocked"] = True
    for route in outage["held"]:
        with contextlib.suppress(Exception):
            await route.abort("internetdisconnected")
    await page.evaluate(  # halted after 2 s without progress (the default is 30 s), retried after 4, 8 … s
        "localStorage.setItem('omicsdm.stallSeconds', '2'); localStorage.setItem('omicsdm.retryBaseSeconds', '4')"
    )
    await transfer(page, "tumour_RNA.bam", "retrying").wait_for(timeout=30_000)
    await page.get_by_text("16.0 MiB of 48.0 MiB stored").first.wait_for()
    await shot(page, "upload-retrying", full_page=True)
    await page.unroute(to_s3)
    await transfer(page, "tumour_RNA.bam", "done").wait_for(timeout=90_000)

    await page.get_by_role("link", name="Files").click()
    await file_row(page, "run_2024_05/sample_B_R1.fastq.gz").wait_for()
    await shot(page, "files")

    # The folder view: breadcrumbs over the relative paths.
    await page.get_by_test_id("layout-folders").click()
    await page.locator('[data-testid=folder-row][data-name="run_2024_05"]').get_by_role("button").click()
    await page.get_by_test_id("folder-current").wait_for()
    await file_row(page, "run_2024_05/sample_B_R1.fastq.gz").wait_for()
    await shot(page, "folders")
    await page.get_by_test_id("layout-list").click()

    await file_row(page, "run_2024_05/sample_A_R1.fastq.gz").get_by_role("button").click()
    drawer = page.get_by_test_id("file-detail")
    await drawer.get_by_test_id("version-row").first.wait_for()
    await shot(page, "file-detail")
    await drawer.get_by_role("button", name="Close").first.click()

    for name in ("run_2024_05/sample_A_R1.fastq.gz", "run_2024_05/sample_A_R2.fastq.gz", "counts_matrix.h5ad"):
        await file_row(page, name).get_by_role("checkbox").check()
    await page.get_by_test_id("download-selected").click()
    await page.get_by_test_id("download-dialog").get_by_test_id("download-link").nth(2).wait_for()
    await shot(page, "download")
    await page.get_by_test_id("download-dialog").get_by_role("button", name="Close").click()

    await page.get_by_test_id("delete-selected").click()
    await shot(page, "confirm-delete")
    await page.get_by_test_id("confirm-delete-button").click()
    await file_row(page, "counts_matrix.h5ad").wait_for(state="detached")
    await page.get_by_role("link", name="Trash").click()
    await page.get_by_test_id("trash-row").nth(2).wait_for()
    await shot(page, "trash")

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.get_by_role("link", name="Files").click()
    await file_row(page, "run_2024_05/sample_B_R1.fastq.gz").wait_for()
    await shot(page, "narrow-files")
    await file_row(page, "run_2024_05/sample_B_R1.fastq.gz").get_by_role("button").click()
    await page.get_by_test_id("file-detail").get_by_test_id("version-row").first.wait_for()
    await shot(page, "narrow-file-detail")
    await page.get_by_test_id("file-detail").get_by_role("button", name="Close").first.click()
    await open_upload(page)
    # The whole page (the transfer list starts below the fold at 390 px), once the delete's toast is gone.
    await page.locator(".toast").first.wait_for(state="detached", timeout=15_000)
    await shot(page, "narrow-upload", full_page=True)
