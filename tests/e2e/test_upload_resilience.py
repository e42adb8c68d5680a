"""Uploads survive the network: an S3 outage longer than the stall time halts the upload and retries it with
backoff, keeping every finished part; Pause is prompt and says what S3 holds; Pause all / Resume all; a Cancel
while the upload is still starting stays cancelled.

The stall time and the backoff base are shortened through localStorage (6 s and 1 s) so the tests take seconds.
S3 is "blocked" by aborting the page's requests to the S3 endpoint at the network layer (Playwright routes), as
a dropped Wi-Fi would; every request that does reach S3 is counted per part number.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Lab, LiveServer, choose_dataset, login, objects_of, random_file, transfer

pytestmark = pytest.mark.browser
MIB = 1024 * 1024


def part_of(url: str) -> tuple[str, int] | None:
    """(S3 upload id, part number) of an UploadPart URL."""
    if "partNumber=" not in url:
        return None
    query = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&") if "=" in p)
    return query["uploadId"], int(query["partNumber"])


class S3Gate:
    """Stands between the page and S3: blocks every request (aborted like a lost connection) or holds some part
    requests (a slow uplink); all others go straight to S3, not intercepted.

    Counts, per (S3 upload id, part number), the UploadPart requests that reached S3 and the 200s S3 answered."""

    def __init__(self, s3_url: str) -> None:
        self.s3_url = s3_url.rstrip("/")
        self.blocked = False
        self.hold: Callable[[int], bool] = lambda part: False
        self.held: list[Any] = []
        self.issued: Counter[tuple[str, int]] = Counter()
        self.stopped: Counter[tuple[str, int]] = Counter()
        self.stored: Counter[tuple[str, int]] = Counter()
        self.methods: list[str] = []
        self.events: list[str] = []  # in order, for a failure's message

    def intercepts(self, url: str) -> bool:
        if not url.startswith(self.s3_url + "/"):
            return False
        part = part_of(url)
        return self.blocked or bool(part and self.hold(part[1]))

    async def handle(self, route: Any) -> None:
        part = part_of(route.request.url)
        if part:
            self.stopped[part] += 1
        if self.blocked:
            await route.abort("internetdisconnected")
        else:
            self.held.append(route)

    def on_request(self, request: Any) -> None:
        if request.url.startswith(self.s3_url + "/"):
            self.methods.append(request.method)
            part = part_of(request.url)
            if part and request.method == "PUT":
                self.issued[part] += 1
                self.events.append(f"PUT {part[1]}")

    def on_response(self, response: Any) -> None:
        part = part_of(response.url)
        if part and response.request.method == "PUT" and response.status == 200:
            self.stored[part] += 1
            self.events.append(f"200 {part[1]}")

    def reached_s3(self, part: tuple[str, int]) -> int:
        return self.issued[part] - self.stopped[part]

    async def drop_held(self) -> None:
        held, self.held = self.held, []
        for route in held:
            with contextlib.suppress(Exception):  # the page may have aborted it already (Pause)
                await route.abort("internetdisconnected")

    async def install(self, page: Any) -> None:
        await page.route(self.intercepts, self.handle)
        page.on("request", self.on_request)
        page.on("response", self.on_response)

    async def open(self, page: Any) -> None:
        """Nothing is intercepted any more (a predicate route intercepts every request to ask it, and DevTools
        then copies each 16 MiB body: seconds per part on a loaded machine); the counting goes on."""
        await self.drop_held()
        await page.unroute(self.intercepts, self.handle)

    def parts_stored(self) -> set[int]:
        return {n for (_, n), count in self.stored.items() if count}


async def open_upload(page: Any) -> None:
    await page.get_by_role("link", name="Upload", exact=True).click()
    await page.get_by_test_id("dropzone").wait_for()


async def until(condition: Callable[[], bool], seconds: float, what: str, gate: S3Gate | None = None) -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    state = f" (issued {dict(gate.issued)}, stopped {dict(gate.stopped)}, stored {dict(gate.stored)})" if gate else ""
    raise AssertionError(f"timed out waiting for {what}{state}")


async def fast_retries(page: Any) -> None:
    await page.evaluate(
        "localStorage.setItem('omicsdm.stallSeconds', '6'); localStorage.setItem('omicsdm.retryBaseSeconds', '1')"
    )


def versions_of(live_server: LiveServer, lab: Lab) -> list[dict[str, Any]]:
    with live_server.api(lab.user_token) as api:
        answer = api.get("/api/files", params={"dataset_id": lab.dataset["id"]})
        answer.raise_for_status()
        return list(answer.json()["items"])


async def test_connection_lost_longer_than_the_stall_resumes_the_same_upload_without_resending_parts(
    page: Any, context: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "run7.bam", 64 * MIB)  # 4 parts of the service's 16 MiB
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    gate = S3Gate(live_server.s3.url)
    gate.hold = lambda part: part >= 3  # parts 1 and 2 finish, then the connection drops
    await gate.install(page)

    async with page.expect_response(lambda r: r.url.endswith("/api/uploads") and r.request.method == "POST") as started:
        await page.get_by_test_id("file-input").set_input_files(source)
    upload = await (await started.value).json()
    await until(lambda: gate.parts_stored() == {1, 2} and len(gate.held) >= 1, 60, "parts 1 and 2", gate)

    # The connection drops: S3 (and the service) cannot be reached. The browser's own offline mode rather than
    # aborting each request in a Playwright route: a route makes DevTools copy every 16 MiB retry body, which
    # froze the renderer for seconds per retry on a loaded machine.
    await context.set_offline(True)
    await gate.open(page)
    await fast_retries(page)  # from now on: halted after 6 s without progress, retried after 1, 2, 4 … s
    row = transfer(page, "run7.bam")
    await transfer(page, "run7.bam", "retrying").wait_for(timeout=20_000)
    message = await row.get_by_test_id("transfer-message").inner_text()
    assert "retrying in" in message and "32.0 MiB of 64.0 MiB stored" in message, message
    assert "32.0 MiB / 64.0 MiB" in await row.inner_text(), "the row shows what S3 holds"
    # Longer than the stall time again: the first retry fails too, the wait grows.
    await asyncio.sleep(5)
    assert await row.get_attribute("data-status") in ("retrying", "uploading")

    await context.set_offline(False)
    await transfer(page, "run7.bam", "done").wait_for(timeout=90_000)

    s3_upload_ids = {u for (u, _) in gate.issued}
    assert len(s3_upload_ids) == 1, "the same S3 multipart upload went on"
    s3_upload_id = next(iter(s3_upload_ids))
    events = " ".join(gate.events)
    assert gate.parts_stored() == {1, 2, 3, 4}, events
    # The parts S3 held when the connection dropped were never sent again. (A part in flight when the upload is
    # halted is aborted and sent again, as the issue allows: on a loaded machine DevTools can freeze the page
    # long enough for a part S3 was still receiving to be aborted after all its bytes left.)
    assert gate.issued[(s3_upload_id, 1)] == 1 and gate.issued[(s3_upload_id, 2)] == 1, events
    assert gate.stored[(s3_upload_id, 1)] == 1 and gate.stored[(s3_upload_id, 2)] == 1, events
    assert gate.issued[(s3_upload_id, 3)] >= 2, "part 3 was tried again after the connection came back"
    assert "DELETE" not in gate.methods, "nothing aborted the multipart upload"

    files = versions_of(live_server, lab)
    assert [(f["name"], f["version"]) for f in files] == [("run7.bam", 1)]
    stored = objects_of(s3_client, live_server.bucket, lab.dataset["id"])
    assert [o["Key"] for o in stored] == [upload["object_key"]]
    body = s3_client.get_object(Bucket=live_server.bucket, Key=upload["object_key"])["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(source.read_bytes()).digest()


async def test_pause_all_is_prompt_shows_what_is_stored_and_resume_all_sends_only_the_rest(
    page: Any, lab: Lab, live_server: LiveServer, tmp_path: Path
) -> None:
    sources = [random_file(tmp_path, name, 48 * MIB) for name in ("a.vcf", "b.vcf")]  # 3 parts each
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    title = await page.title()
    gate = S3Gate(live_server.s3.url)
    gate.hold = lambda part: part >= 2  # parts 2 and 3 hang in the network (a slow uplink)
    await gate.install(page)

    await page.get_by_test_id("file-input").set_input_files(sources)
    await until(
        lambda: len(gate.parts_stored()) == 1 and len(gate.stored) == 2 and len(gate.held) >= 2, 60, "part 1s", gate
    )
    assert "%" in await page.title(), "the tab title shows the progress"

    await page.get_by_role("button", name="Pause all").click()
    for name in ("a.vcf", "b.vcf"):
        row = transfer(page, name, "paused")
        await row.wait_for(timeout=3_000)  # prompt: the parts in flight are aborted, not waited for
        message = await row.get_by_test_id("transfer-message").inner_text()
        assert message == "Paused \u2013 16.0 MiB of 48.0 MiB stored", message
        assert "16.0 MiB / 48.0 MiB" in await row.inner_text()
    await gate.open(page)

    await page.get_by_role("button", name="Resume all").click()
    for name in ("a.vcf", "b.vcf"):
        await transfer(page, name, "done").wait_for(timeout=60_000)
    assert sorted(gate.stored.values()) == [1] * 6, gate.stored
    first_parts = [key for key in gate.issued if key[1] == 1]
    assert len(first_parts) == 2 and all(gate.issued[key] == 1 for key in first_parts), "a finished part was sent again"
    assert sorted((f["name"], f["version"]) for f in versions_of(live_server, lab)) == [("a.vcf", 1), ("b.vcf", 1)]
    await until(lambda: True, 0.2, "")
    assert await page.title() == title, "the title is given back once nothing runs"


async def test_cancel_while_starting_stays_cancelled(
    page: Any, lab: Lab, live_server: LiveServer, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "slow.bed", 1 * MIB)
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    answered = asyncio.Event()
    release = asyncio.Event()

    async def slow_start(route: Any) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        response = await route.fetch()  # the service has created the upload …
        answered.set()
        await release.wait()  # … but the page hears of it only after the user cancelled
        await route.fulfill(response=response)

    await page.route("**/api/uploads", slow_start)
    await page.get_by_test_id("file-input").set_input_files(source)
    await transfer(page, "slow.bed", "starting").wait_for()
    await asyncio.wait_for(answered.wait(), 20)
    await page.get_by_role("button", name="Cancel slow.bed").click()
    await transfer(page, "slow.bed", "cancelled").wait_for()
    release.set()
    await asyncio.sleep(1.5)  # the answer arrives, the watchdog ticks
    assert await transfer(page, "slow.bed").get_attribute("data-status") == "cancelled"
    with live_server.api(lab.user_token) as api:
        for _ in range(50):
            pending = api.get("/api/uploads", params={"state": "pending"}).json()
            if not [u for u in pending if u["name"] == "slow.bed"]:
                break
            await asyncio.sleep(0.1)
        assert not [u for u in pending if u["name"] == "slow.bed"], "the upload was cancelled on the service too"
    assert versions_of(live_server, lab) == []
