"""One complete browser upload of a large file from disk (default 5 GiB): the web page's real Upload view in
Chromium, the file picked by its path (never copied), with the renderer's memory sampled throughout, as a ratio to
a boto3 multipart upload of the same file to the same SeaweedFS bucket (same part size and parts in flight),
measured before and after the page in the same run.

Chromium runs as a plain process driven over one raw DevTools connection that watches no network
(tests/support/detached_chromium.py); the page does what it does for a user: the SHA-256 and part MD5s in a Web
Worker while EvaporateJS sends the parts through the signer, then POST .../complete with them. Production settings
(DESIGN.md): dev mode off (the page signs in with an OIDC token of a local key server), access log on.

The figures: MiB/s from the pick to "Stored as version 1" (the service's check included), peak RSS per Chromium
process role (sampled every 0.5 s; the checksum worker runs in the renderer), the app's peak RSS. The recorded
SHA-256 is checked against hashlib's of the file. The file is deleted at the end.

Run: OMICSDM_TEST_DATABASE_URL=... .venv/bin/python -m benchmarks.browser_large_upload [--size-gib 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from boto3.s3.transfer import TransferConfig
from tests.support.detached_chromium import DetachedChromium, open_upload_view
from tests.support.idp import LocalIdP

from benchmarks.browser_upload import ensure_frontend_built, seaweedfs_process
from benchmarks.harness import app_process, bench_dataset, boto3_s3, free_port, peak_rss_mib, services, settings_for
from omicsdm.embedded.seaweedfs import S3Endpoint
from omicsdm.services.upload_rules import choose_part_size
from omicsdm.settings import Settings

MIB = 1024 * 1024
GIB = 1024 * MIB
PARTS_IN_FLIGHT = 4  # the page's (frontend/src/upload/manager.ts MAX_CONCURRENT_PARTS)


def production_settings(url: str, s3: S3Endpoint, port: int, idp: LocalIdP) -> Settings:
    """Dev mode off; tokens from the local OIDC key server."""
    dev = settings_for(url, s3, port)
    data = dev.model_dump(mode="json")
    data["secret_key"] = dev.secret_key.get_secret_value()
    data["s3"]["secret_access_key"] = dev.s3.secret_access_key.get_secret_value()
    data["auth"].update(oidc_issuer=idp.issuer, oidc_audience=idp.audience)
    return Settings.model_validate({**data, "dev_mode": False})


def write_random_file(path: Path, size: int) -> str:
    """`size` random bytes; returns their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 8 * MIB))
            digest.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def boto3_seconds(s3c: Any, path: Path, part_size: int, key: str) -> float:
    config = TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=PARTS_IN_FLIGHT,
        use_threads=True,
    )
    start = time.perf_counter()
    s3c.upload_file(str(path), "bench", key, Config=config)
    return time.perf_counter() - start


class RssSampler:
    """Peak RSS per Chromium process role, sampled in a thread."""

    def __init__(self, chromium: DetachedChromium, every: float = 0.5) -> None:
        self.chromium = chromium
        self.every = every
        self.peak: dict[str, float] = {}
        self.peak_total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            roles = self.chromium.rss_by_role_mib()
            for role, mib in roles.items():
                self.peak[role] = max(self.peak.get(role, 0.0), mib)
            self.peak_total = max(self.peak_total, sum(roles.values()))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# Marks the time (s since the pick) at which the row first shows each status.
MARKS = """
window.__marks = {}; window.__t0 = performance.now();
new MutationObserver(() => {
  const row = document.querySelector('[data-testid=transfer]');
  if (row) window.__marks[row.dataset.status] ??= (performance.now() - window.__t0) / 1000;
}).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"]});
"""


async def page_upload(
    chromium: DetachedChromium, base: str, token: str, project: str, dataset: str, path: Path, seconds: float
) -> dict[str, Any]:
    async with chromium.tab(seconds=60) as tab:
        await open_upload_view(tab, base, token, "oidc", project, dataset)
        await tab.evaluate(MARKS)
        start = time.perf_counter()
        await tab.set_files("[data-testid=file-input]", [path])
        status = await tab.wait_for(
            "(r => r && ['done', 'failed', 'cancelled'].includes(r.dataset.status) && r.dataset.status)"
            "(document.querySelector('[data-testid=transfer]'))",
            seconds=seconds,
            what="the upload to finish",
        )
        seconds = time.perf_counter() - start
        message = await tab.evaluate("document.querySelector('[data-testid=transfer-message]')?.textContent")
        marks = await tab.evaluate("window.__marks")
    if status != "done":
        raise SystemExit(f"the page's upload ended {status}: {message}")
    return {"seconds": seconds, "message": message, "marks": marks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gib", type=float, default=5.0)
    parser.add_argument("--dir", default=None, help="where the file is written (default: the system's temp dir)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    size = int(args.size_gib * GIB)

    ensure_frontend_built()
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    idp = LocalIdP()
    with (
        services() as (url, s3),
        tempfile.TemporaryDirectory(prefix="omicsdm-large-", dir=args.dir) as tmp,
    ):
        path = Path(tmp) / "large_upload.bam"
        started = time.perf_counter()
        sha256 = write_random_file(path, size)
        print(f"wrote {size / GIB:.2f} GiB of random bytes in {time.perf_counter() - started:.0f} s", flush=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        access_log = str(Path(tmp) / "access.log")
        with app_process(production_settings(url, s3, port, idp), port, access_log=access_log) as app:
            token = idp.token("bench", ["admin"], lifetime=8 * 3600)
            auth = {"Authorization": f"Bearer {token}"}
            dataset = bench_dataset(base, auth)
            limits = httpx.get(f"{base}/api/uploads/limits", headers=auth).json()
            s3c = boto3_s3(s3, 10)
            weed = seaweedfs_process(s3.url)
            part_size = choose_part_size(size, None, limits["max_file_size"])
            boto_before = boto3_seconds(s3c, path, part_size, "boto3-before")
            print(f"boto3 (before): {size / MIB / boto_before:7.1f} MiB/s", flush=True)
            with DetachedChromium() as chromium, RssSampler(chromium) as rss:
                page = asyncio.run(
                    page_upload(chromium, base, token, dataset["project_id"], dataset["id"], path, args.timeout)
                )
            print(f"page:           {size / MIB / page['seconds']:7.1f} MiB/s", flush=True)
            boto_after = boto3_seconds(s3c, path, part_size, "boto3-after")
            print(f"boto3 (after):  {size / MIB / boto_after:7.1f} MiB/s", flush=True)
            files = httpx.get(f"{base}/api/files", params={"dataset_id": dataset["id"]}, headers=auth).json()["items"]
            app_rss = peak_rss_mib(app)
            weed_rss = peak_rss_mib(weed) if weed else float("nan")
        with open(access_log, "rb") as log:
            log_lines = sum(1 for _ in log)
    print(f"load average at the end: {os.getloadavg()}", flush=True)

    [recorded] = files
    if recorded["size"] != size or recorded.get("sha256") != sha256:
        raise SystemExit(f"recorded {recorded['size']} bytes, SHA-256 {recorded.get('sha256')}; the file has {sha256}")
    page_mib_s = size / MIB / page["seconds"]
    boto_mib_s = size / MIB / ((boto_before + boto_after) / 2)
    print(
        f"\n{size / GIB:.2f} GiB from disk, part {part_size // MIB} MiB (the service's), {PARTS_IN_FLIGHT} parts in flight"
    )
    print(f"recorded: version {recorded['version']}, SHA-256 {sha256[:16]}… equals hashlib's of the file")
    print(f"page phases (s since the pick): {page['marks']}")
    print(f"page (Upload view, EvaporateJS + checksums): {page_mib_s:7.1f} MiB/s  ({page['seconds']:.1f} s)")
    print(f"boto3 upload_file, same S3 (mean of 2):      {boto_mib_s:7.1f} MiB/s")
    print(f"ratio page/boto3:                            {page_mib_s / boto_mib_s:7.2f}   (target >= 0.8)")
    roles = ", ".join(f"{role} {mib:.0f}" for role, mib in sorted(rss.peak.items(), key=lambda kv: -kv[1]))
    print(f"Chromium peak renderer RSS:                  {rss.peak.get('renderer', 0.0):7.0f} MiB")
    print(f"Chromium peak RSS per role (MiB):            {roles}; all processes {rss.peak_total:.0f}")
    print(f"app peak RSS:                                {app_rss:7.1f} MiB (target < 200)")
    print(f"SeaweedFS peak RSS:                          {weed_rss:7.1f} MiB")
    print(f"access log lines:                            {log_lines}")
    with contextlib.suppress(Exception):
        idp.close()


if __name__ == "__main__":
    main()
