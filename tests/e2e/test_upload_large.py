"""A 1 TiB file in the web page: the plan comes from the service (<= 10,000 parts), the first parts reach S3, a
reload and a resume send only the parts S3 lacks, and Cancel aborts the multipart upload. The whole TiB is never
sent: the file is sparse (no disk), and the parts a step does not need are held at the S3 proxy.

Chromium runs as a plain process driven over one raw DevTools connection for the whole test
(tests/support/detached_chromium.py): the file is picked by its path (DOM.setFileInputFiles), so it is never read
to be picked, and no DevTools client watches the network. (Playwright cannot be attached here: it serialises
every request body into a DevTools event, and Chromium drops its session at the first 105 MiB parts.) Browsers
reach S3 through the TCP proxy of tests/e2e/conftest.py, which records every S3 request with its part number
and holds the bodies of the parts a step does not need (they never reach SeaweedFS).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from omicsdm.services.upload_rules import MIB, choose_part_size
from tests.e2e.conftest import CSP_LISTENER, Lab, LiveServer
from tests.support.detached_chromium import DetachedChromium, Tab, open_upload, open_upload_view
from tests.support.tcp_proxy import Seen, TcpProxy

pytestmark = pytest.mark.browser
TIB = 1024**4
NAME = "tumour_WGS_1tib.bam"
ROW = f'[data-testid=transfer][data-name="{NAME}"]'


@pytest.fixture(scope="module")
def live_server(proxied_server: LiveServer) -> LiveServer:
    """This module's app: browsers reach S3 through `s3_proxy`."""
    return proxied_server


@pytest.fixture(autouse=True)
def s3_reachable(s3_proxy: TcpProxy) -> Iterator[None]:
    yield
    s3_proxy.release()
    s3_proxy.restore()


def part_put(seen: Seen) -> bool:
    return seen.method == "PUT" and "partNumber" in seen.query


def parts_from(first: int) -> Callable[[Seen], bool]:
    return lambda seen: part_put(seen) and int(seen.query["partNumber"]) >= first


async def until(condition: Callable[[], bool], seconds: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what()}")
        await asyncio.sleep(0.2)


async def row_status(tab: Tab) -> str | None:
    return await tab.evaluate(f"document.querySelector({ROW!r})?.dataset.status ?? null")  # type: ignore[no-any-return]


async def test_a_1_tib_file_is_planned_by_the_service_resumed_after_a_reload_and_cancelled(
    lab: Lab, live_server: LiveServer, s3_proxy: TcpProxy, s3_client: Any, tmp_path: Path
) -> None:
    source = tmp_path / NAME
    source.touch()
    os.truncate(source, TIB)  # sparse: no disk
    with live_server.api(lab.user_token) as api:
        limits = api.get("/api/uploads/limits").json()
    # The service's own rule: the smallest whole MiB that fits the file in max_parts (the 16 MiB default does not).
    part_size = choose_part_size(TIB, None, limits["max_file_size"])
    parts = math.ceil(TIB / part_size)
    assert parts <= limits["max_parts"] < math.ceil(TIB / (part_size - MIB)), (part_size, parts)
    assert part_size > limits["default_part_size"] and part_size % MIB == 0

    first = len(s3_proxy.requests)

    def puts(after: int = first) -> list[Seen]:
        return [s for s in s3_proxy.seen()[after:] if part_put(s)]

    def trail(after: int = first) -> str:
        return " ".join(f"{s.method} {s.query.get('partNumber', '-')}{'' if s.complete else '…'}" for s in puts(after))

    def pending() -> list[dict[str, Any]]:
        with live_server.api(lab.user_token) as api:
            return [u for u in api.get("/api/uploads", params={"state": "pending"}).json() if u["name"] == NAME]

    def stored_parts(upload: dict[str, Any], s3_upload_id: str) -> dict[int, int]:
        answer = s3_client.list_parts(Bucket=live_server.bucket, Key=upload["object_key"], UploadId=s3_upload_id)
        return {p["PartNumber"]: p["Size"] for p in answer.get("Parts", [])}

    with DetachedChromium() as chromium:
        async with chromium.tab() as tab:  # one connection for the whole test
            await tab.add_init_script(CSP_LISTENER)
            token = live_server.token(lab.user, [lab.group])
            await open_upload_view(tab, live_server.url, token, "dev", lab.project["id"], lab.dataset["id"])

            # Parts 1 and 2 reach S3; parts 3 and on (as many as EvaporateJS has in flight) wait at the proxy.
            s3_proxy.hold_when(parts_from(3))
            await tab.set_files("[data-testid=file-input]", [source])
            await until(lambda: len(pending()) == 1, 30, lambda: "the upload to start")
            [upload] = pending()
            assert upload["size"] == TIB
            assert upload["part_size"] == part_size, "the page asked for no other part size than the service's"

            def s3_upload_ids(after: int = first) -> set[str]:
                return {s.query["uploadId"] for s in puts(after)}

            await until(
                lambda: len(s3_upload_ids()) == 1 and {1, 2, 3} <= {int(s.query["partNumber"]) for s in puts()},
                60,
                lambda: f"parts 1 to 3 to be sent: {trail()}",
            )
            [s3_upload_id] = s3_upload_ids()
            await until(
                lambda: stored_parts(upload, s3_upload_id).keys() == {1, 2},
                90,
                lambda: f"parts 1 and 2 in S3: {trail()}",
            )
            assert stored_parts(upload, s3_upload_id) == {1: part_size, 2: part_size}, "parts of the planned size"
            assert await row_status(tab) == "uploading"

            # A reload loses the page's state and its parts in flight; S3 keeps parts 1 and 2.
            await tab.reload()
            s3_proxy.release()  # the held parts' page is gone: their bodies end short and are never stored
            await tab.wait_for("!!document.querySelector('[data-testid=user-chip]')", what="the page after the reload")
            await open_upload(tab)
            unfinished = await tab.wait_for(
                "document.querySelector('[data-testid=unfinished-upload]')?.textContent", what="Unfinished uploads"
            )
            assert NAME in unfinished and "1.00 TiB" in unfinished, unfinished
            assert stored_parts(upload, s3_upload_id) == {1: part_size, 2: part_size}

            # Picked again: the same upload continues; S3 is asked for its parts and only part 3 on are sent.
            resumed_from = len(s3_proxy.requests)
            s3_proxy.hold_when(parts_from(4))
            await tab.set_files("[data-testid=file-input]", [source])
            await until(
                lambda: stored_parts(upload, s3_upload_id).keys() == {1, 2, 3},
                90,
                lambda: f"part 3 in S3 after the resume: {trail(resumed_from)}",
            )
            after = s3_proxy.seen()[resumed_from:]
            assert any(s.method == "GET" and s.query.get("uploadId") == s3_upload_id for s in after), (
                "the resume listed the parts S3 holds"
            )
            sent = [int(s.query["partNumber"]) for s in puts(resumed_from)]
            assert 3 in sent and not {1, 2} & set(sent), f"stored parts were sent again: {trail(resumed_from)}"
            assert s3_upload_ids(resumed_from) == {s3_upload_id}, "the same S3 multipart upload went on"
            assert [u["id"] for u in pending()] == [upload["id"]], "the same upload on the service"
            assert await row_status(tab) == "uploading"
            assert "resumed" in (await tab.evaluate(f"document.querySelector({ROW!r}).textContent")).lower()

            # Cancel aborts the multipart upload: S3 keeps no part, the service records no version.
            await tab.click(f'button[aria-label="Cancel {NAME}"]')
            await tab.wait_for(f"document.querySelector({ROW!r})?.dataset.status === 'cancelled'", what="cancelled")
            s3_proxy.release()

            def aborted() -> bool:
                try:
                    stored_parts(upload, s3_upload_id)
                except ClientError as exc:
                    return str(exc.response["Error"]["Code"]) == "NoSuchUpload"
                return False

            await until(aborted, 30, lambda: "the multipart upload to be aborted")
            await until(lambda: not pending(), 30, lambda: "the upload to be cancelled on the service")
            assert await tab.evaluate("window.__cspViolations") == []

    with live_server.api(lab.user_token) as api:
        state = api.get(f"/api/uploads/{upload['id']}").json()["state"]
        files = api.get("/api/files", params={"dataset_id": lab.dataset["id"]}).json()["items"]
    assert state == "cancelled"
    assert files == []
    listed = s3_client.list_objects_v2(Bucket=live_server.bucket, Prefix=f"datasets/{lab.dataset['id']}/")
    assert listed.get("KeyCount", 0) == 0
    # Only the first parts ever went out (at most two rounds of parts in flight), nothing near the whole file.
    assert max(int(s.query["partNumber"]) for s in puts()) <= 8, trail()
