"""A folder dragged from the desktop and dropped onto the Files view: every file in it, nested folders included,
is uploaded under its relative path.

The drop is Chromium's own (CDP Input.dispatchDragEvent with the folder's path, as the desktop hands it over), so
the page reads it as it would a user's: DataTransferItem.webkitGetAsEntry() and directory readers walking the real
folder on disk. (A DataTransfer built in the page can only hold File objects, never a directory entry.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.e2e.conftest import CSP_LISTENER, Lab, LiveServer, random_file
from tests.support.detached_chromium import DetachedChromium, Tab, open_upload_view

pytestmark = pytest.mark.browser
KIB = 1024


async def drop_paths(tab: Tab, selector: str, paths: list[Path]) -> None:
    """Drags `paths` from outside the browser onto the middle of `selector` and drops them there."""
    box = await tab.evaluate(
        f"(r => ({{x: r.x + r.width / 2, y: r.y + Math.min(r.height / 2, 200)}}))"
        f"(document.querySelector({selector!r}).getBoundingClientRect())"
    )
    data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}  # copy
    for kind in ("dragEnter", "dragOver", "drop"):
        await tab.send("Input.dispatchDragEvent", {"type": kind, "x": box["x"], "y": box["y"], "data": data})


async def test_a_folder_dropped_on_the_files_view_arrives_with_its_relative_paths(
    lab: Lab, live_server: LiveServer, tmp_path: Path
) -> None:
    folder = tmp_path / "run_2024_07"
    made = {
        "run_2024_07/sample_C_R1.fastq.gz": random_file(folder, "sample_C_R1.fastq.gz", 300 * KIB),
        "run_2024_07/sample_C_R2.fastq.gz": random_file(folder, "sample_C_R2.fastq.gz", 200 * KIB),
        "run_2024_07/qc/multiqc_report.html": random_file(folder / "qc", "multiqc_report.html", 20 * KIB),
        "run_2024_07/qc/fastqc/sample_C_R1_fastqc.zip": random_file(folder / "qc/fastqc", "sample_C_R1_fastqc.zip", 1),
    }
    with DetachedChromium() as chromium:
        async with chromium.tab() as tab:
            await tab.add_init_script(CSP_LISTENER)
            token = live_server.token(lab.user, [lab.group])
            await open_upload_view(tab, live_server.url, token, "dev", lab.project["id"], lab.dataset["id"])
            await tab.evaluate("location.hash = '#/files'")
            await tab.wait_for("!!document.querySelector('[data-testid=files-page]')", what="the Files view")

            await drop_paths(tab, "[data-testid=files-page]", [folder])
            await tab.wait_for("location.hash === '#/upload'", what="the Upload view with the dropped files")
            names = await tab.wait_for(
                "(rows => rows.length === 4 && rows.every(r => r.dataset.status === 'done')"
                " && rows.map(r => r.dataset.name).sort())"
                "([...document.querySelectorAll('[data-testid=transfer]')])",
                seconds=60,
                what="four finished transfers",
            )
            assert names == sorted(made)
            assert await tab.evaluate("window.__cspViolations") == []

    with live_server.api(lab.user_token) as api:
        files = api.get("/api/files", params={"dataset_id": lab.dataset["id"]}).json()["items"]
    assert sorted((f["name"], f["version"], f["size"]) for f in files) == sorted(
        (name, 1, path.stat().st_size) for name, path in made.items()
    )
    for f in files:
        assert f["sha256"] == hashlib.sha256(made[f["name"]].read_bytes()).hexdigest(), f["name"]
