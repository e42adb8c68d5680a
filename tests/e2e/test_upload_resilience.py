"""Uploads survive the network: an S3 outage longer than the stall time halts the upload and retries it with
backoff, keeping every finished part; Pause is prompt and says what S3 holds; Pause all / Resume all; a Cancel
while the upload is still starting stays cancelled.

The stall time and the backoff base are shortened through localStorage (6 s and 1 s) so the tests take seconds.
This module's app signs for a TCP proxy in front of SeaweedFS (tests/support/tcp_proxy.py) as the S3 address
browsers use: the outage test cuts S3 only, at the proxy (connections refused and reset), while the page still
reaches the service and the service still reaches S3; the proxy counts every request per part number. (Playwright
routes on S3 made DevTools copy every 16 MiB body and froze the page under load; the proxy intercepts nothing in
the browser.) The Pause all test holds parts with a Playwright route, opened before the parts are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import (
    Lab,
    LiveServer,
    choose_dataset,
    login,
    objects_of,
    random_file,
    transfer,
)
from tests.support.tcp_proxy import Seen, TcpProxy

pytestmark = pytest.mark.browser
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def s3_reachable(s3_proxy: TcpProxy) -> Iterator[None]:
    """Each test starts and ends with S3 reachable through the proxy, nothing held (a failed test may not)."""
    yield
    s3_proxy.release()
    s3_proxy.restore()


@pytest.fixture(scope="module")
def live_server(proxied_server: LiveServer) -> LiveServer:
    """This module's app: browsers reach S3 through `s3_proxy` (tests/e2e/conftest.py)."""
    return proxied_server


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


def part_put(seen: Seen) -> bool:
    return seen.method == "PUT" and "partNumber" in seen.query


async def test_s3_unreachable_longer_than_the_stall_resumes_the_same_upload_without_resending_parts(
    page: Any, lab: Lab, live_server: LiveServer, s3_proxy: TcpProxy, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "run7.bam", 64 * MIB)  # 4 parts of the service's 16 MiB
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await fast_retries(page)  # halted after 6 s without progress, retried after 1, 2, 4 … s
    first = len(s3_proxy.requests)
    s3_proxy.hold_when(lambda seen: part_put(seen) and int(seen.query["partNumber"]) >= 3)  # a slow uplink

    async with page.expect_response(lambda r: r.url.endswith("/api/uploads") and r.request.method == "POST") as started:
        await page.get_by_test_id("file-input").set_input_files(source)
    upload = await (await started.value).json()

    def puts() -> list[Seen]:
        return [s for s in s3_proxy.seen()[first:] if part_put(s)]

    def stored_parts() -> set[int]:
        ids = {s.query["uploadId"] for s in puts()}
        if len(ids) != 1:
            return set()
        answer = s3_client.list_parts(Bucket=live_server.bucket, Key=upload["object_key"], UploadId=ids.pop())
        return {p["PartNumber"] for p in answer.get("Parts", [])}

    def trail() -> str:
        return " ".join(f"{s.method} {s.query.get('partNumber', '-')}{'' if s.complete else '…'}" for s in puts())

    for _ in range(600):
        if stored_parts() == {1, 2} and any(int(s.query["partNumber"]) >= 3 for s in puts()):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"parts 1 and 2 were not stored: {trail()}")

    # S3 becomes unreachable, for the browser only: the proxy refuses and resets its connections. The page still
    # reaches the service, and the service still reaches S3.
    s3_proxy.cut()
    row = transfer(page, "run7.bam")
    # Polled until one reading holds both: with retries after 1, 2, 4 ... s the row is back at "Uploading…" for
    # a moment at each attempt, and a second read after the first wait could land there (seen under CI load).
    await expect(row.get_by_test_id("transfer-message")).to_have_text(
        re.compile(r"\u2013 retrying in \d+ s \(32\.0 MiB of 64\.0 MiB stored\)"), timeout=30_000
    )
    assert "32.0 MiB / 64.0 MiB" in await row.inner_text(), "the row shows what S3 holds"
    with live_server.api(lab.user_token) as api:
        assert api.get("/api/uploads", params={"state": "pending"}).status_code == 200, "only S3 is blocked"
    await asyncio.sleep(7)  # longer than the stall time again: the retries fail too, the wait grows
    assert await row.get_attribute("data-status") in ("retrying", "uploading")
    assert stored_parts() == {1, 2}

    s3_proxy.release()
    s3_proxy.restore()
    await transfer(page, "run7.bam", "done").wait_for(timeout=90_000)

    seen = s3_proxy.seen()[first:]
    assert len({s.query["uploadId"] for s in puts()}) == 1, "the same S3 multipart upload went on"
    sent = Counter(int(s.query["partNumber"]) for s in puts())
    assert sent[1] == 1 and sent[2] == 1, f"a stored part was sent again: {trail()}"
    assert sent[3] >= 2 and sent[4] >= 1, f"part 3 was sent again once S3 was back: {trail()}"
    assert {3, 4} <= {int(s.query["partNumber"]) for s in puts() if s.complete}, trail()
    assert not [s for s in seen if s.method == "DELETE"], "nothing aborted the multipart upload"

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
