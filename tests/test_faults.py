"""Outages of PostgreSQL and S3 while requests run: every answer is 2xx or 503, never 500.

The servers are the test's own (tests.support.faults): a private embedded PostgreSQL and a private SeaweedFS,
stopped and started again on the same directory and address, never the machine's shared PostgreSQL nor the
session's SeaweedFS. The app is made once per test and called in-process; it is never recreated, so
"works again afterwards" means without a restart. During an outage a request that needs the missing part
answers 503 application/problem+json with Retry-After and `code` naming the part (database-unavailable,
storage-unavailable), and records nothing half-done (checked with SQL).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from omicsdm.app import create_app
from omicsdm.settings import Settings
from tests.conftest import Actor, make_settings
from tests.support.evaporate import UNSIGNED, EvaporateClient, part_md5s
from tests.support.faults import PrivatePostgres, PrivateS3, Probe, outage_violation
from tests.support.idp import LocalIdP
from tests.support.live import api_token
from tests.support.uploading import upload_file

# Long enough for rounds of every request to fall inside the outage, short enough for CI.
OUTAGE_SECONDS = 2.0
RECOVERY_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def private_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres(tmp_path_factory.mktemp("faults-pg"))
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def private_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateS3]:
    s3 = PrivateS3(tmp_path_factory.mktemp("faults-s3"))
    s3.start()
    try:
        yield s3
    finally:
        s3.stop()


@dataclass
class Setup:
    app: FastAPI
    settings: Settings
    client: httpx.AsyncClient
    alice: Actor
    alice_api_token: str
    dataset_id: str
    file_id: str
    drs_id: str

    @property
    def headers(self) -> dict[str, str]:
        return self.alice.headers

    async def start_upload(self, name: str, size: int = 1024) -> httpx.Response:
        body = {"dataset_id": self.dataset_id, "name": name, "size": size}
        return await self.client.post("/api/uploads", json=body, headers=self.headers)

    async def pending_upload(self, name: str, size: int = 1024) -> dict[str, Any]:
        response = await self.start_upload(name, size)
        assert response.status_code in (200, 201), response.text
        upload: dict[str, Any] = response.json()
        return upload


@pytest.fixture
async def setup(private_pg: PrivatePostgres, private_s3: PrivateS3, idp: LocalIdP) -> AsyncIterator[Setup]:
    # A test that failed half-way may have left a server stopped.
    await asyncio.to_thread(private_pg.start)
    endpoint = await asyncio.to_thread(private_s3.start)
    settings = make_settings(private_pg.url, endpoint, idp, f"omicsdm-faults-{secrets.token_hex(4)}")
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a crash must show as the 500 it is
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client,
    ):
        admin = Actor("root", ["admin"], idp.token("root", ["admin"], lifetime=3600))
        alice = Actor("alice", ["lab-a"], idp.token("alice", ["lab-a"], lifetime=3600))
        code = f"faults-{secrets.token_hex(3)}"
        project = await client.post(
            "/api/projects", json={"code": code, "name": "Faults", "owner_groups": ["lab-a"]}, headers=admin.headers
        )
        assert project.status_code == 201, project.text
        dataset = await client.post(
            "/api/datasets",
            json={"project_id": project.json()["id"], "code": "reads", "name": "Reads", "owner_group": "lab-a"},
            headers=alice.headers,
        )
        assert dataset.status_code == 201, dataset.text
        version = await upload_file(client, alice.headers, dataset.json()["id"], "before.fastq.gz", b"@r\nACGT\n")
        yield Setup(
            app,
            settings,
            client,
            alice,
            await api_token(client, alice),
            dataset.json()["id"],
            version["file_id"],
            version["drs_id"],
        )


def sign_initiate(s: Setup, upload: dict[str, Any]) -> Any:
    """The signer asked for this upload's Initiate, as if its 5 s cache entry had expired: it reads the database."""
    e = EvaporateClient(api=s.client, upload=upload)
    upload_id = uuid.UUID(upload["id"])

    async def call() -> httpx.Response:
        s.app.state.omicsdm.signer.cache.invalidate(upload_id)
        return await e.sign(e.request("POST", "?uploads"))

    return call


def loop_requests(s: Setup, started: dict[str, int], signing: dict[str, Any]) -> dict[str, Any]:
    """Requests that can be repeated: each round starts a new upload under a new name."""
    counter = itertools.count()

    async def start() -> httpx.Response:
        name = f"during-{next(counter)}.bam"
        response = await s.start_upload(name)
        started[name] = response.status_code
        return response

    token_headers = {"Authorization": f"Bearer {s.alice_api_token}"}
    return {
        "GET /api/files": lambda: s.client.get("/api/files", headers=s.headers),
        "GET /api/files/{id}": lambda: s.client.get(f"/api/files/{s.file_id}", headers=s.headers),
        "GET /api/trash": lambda: s.client.get("/api/trash", headers=s.headers),
        "GET /ga4gh/drs/v1/objects/{id}": lambda: s.client.get(f"/ga4gh/drs/v1/objects/{s.drs_id}", headers=s.headers),
        "GET /api/auth/me (JWT)": lambda: s.client.get("/api/auth/me", headers=s.headers),
        "GET /api/auth/me (API token)": lambda: s.client.get("/api/auth/me", headers=token_headers),
        "POST /api/files/download-urls": lambda: s.client.post(
            "/api/files/download-urls", json={"items": [{"file_id": s.file_id}]}, headers=s.headers
        ),
        "POST /api/uploads": start,
        "GET /api/uploads/sign (Initiate, uncached)": sign_initiate(s, signing),
        "GET /readyz": lambda: s.client.get("/readyz"),
    }


@asynccontextmanager
async def app_started(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another app on the same settings, its lifespan run now (used while a part is down)."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client,
    ):
        yield client


def report(probe: Probe) -> str:
    counts: dict[tuple[str, str, int], int] = {}
    for a in probe.answers:
        counts[(a.phase, a.label, a.status)] = counts.get((a.phase, a.label, a.status), 0) + 1
    return "\n".join(f"  {phase:5} {label}: {status} x{n}" for (phase, label, status), n in sorted(counts.items()))


@dataclass
class Prepared:
    """Uploads readied while everything is up, for one-shot requests during an outage: one initiated in S3 whose
    UploadId the signer has not bound yet; one sent whole to S3, waiting for /complete; one to cancel."""

    s: Setup
    to_bind: dict[str, Any]
    binder: EvaporateClient
    to_complete: dict[str, Any]
    data: bytes
    to_cancel: dict[str, Any]
    bind_label = "GET /api/uploads/sign (UploadPart, binds the UploadId)"
    complete_label = "POST /api/uploads/{id}/complete"
    cancel_label = "POST /api/uploads/{id}/cancel"

    @classmethod
    async def make(cls, s: Setup) -> Prepared:
        to_bind = await s.pending_upload("bind.bam")
        binder = EvaporateClient(api=s.client, upload=to_bind)
        await binder.initiate()
        data = secrets.token_bytes(4096)
        to_complete = await s.pending_upload("complete.bam", len(data))
        finisher = EvaporateClient(api=s.client, upload=to_complete)
        await finisher.upload_bytes(data)
        to_cancel = await s.pending_upload("cancel.bam")
        canceller = EvaporateClient(api=s.client, upload=to_cancel)
        await canceller.initiate()
        for e in (binder, finisher, canceller):
            await e.aclose()
        return cls(s, to_bind, binder, to_complete, data, to_cancel)

    async def sign_bind(self) -> httpx.Response:
        """The first UploadPart: binding its UploadId needs S3's word and a database write."""
        self.s.app.state.omicsdm.signer.cache.invalidate(uuid.UUID(self.to_bind["id"]))
        part_md5 = base64.b64encode(hashlib.md5(b"part one").digest()).decode()
        query = f"?partNumber=1&uploadId={self.binder.s3_upload_id}"
        return await self.binder.sign(self.binder.request("PUT", query, md5=part_md5, payload_hash=UNSIGNED))

    async def complete(self) -> httpx.Response:
        body = {"part_md5s": part_md5s(self.data, self.to_complete["part_size"])}
        path = f"/api/uploads/{self.to_complete['id']}/complete"
        return await self.s.client.post(path, json=body, headers=self.s.headers)

    async def cancel(self) -> httpx.Response:
        return await self.s.client.post(f"/api/uploads/{self.to_cancel['id']}/cancel", headers=self.s.headers)

    def one_shots(self) -> Probe:
        return Probe({self.complete_label: self.complete, self.cancel_label: self.cancel})

    async def state(self, pg: PrivatePostgres) -> dict[str, Any]:
        """Each prepared upload's (state, s3_upload_id), and whether a version was recorded from `to_complete`."""
        ids = [self.to_bind["id"], self.to_complete["id"], self.to_cancel["id"]]
        rows = await pg.fetch(
            "SELECT id::text, state::text, s3_upload_id FROM upload_sessions WHERE id = ANY($1::uuid[])", ids
        )
        versions = await pg.fetch("SELECT 1 FROM file_versions WHERE upload_id = $1::uuid", self.to_complete["id"])
        state: dict[str, Any] = {r["id"]: (r["state"], r["s3_upload_id"]) for r in rows}
        state["versions recorded"] = len(versions)
        return state

    def assert_untouched(self, state: dict[str, Any]) -> None:
        """Nothing half-done: both uploads still pending, no version, no UploadId bound."""
        assert state[self.to_complete["id"]][0] == "pending", state
        assert state[self.to_cancel["id"]][0] == "pending", state
        assert state[self.to_bind["id"]][1] is None, f"UploadId bound during the outage: {state}"
        assert state["versions recorded"] == 0, f"a version was recorded by a /complete that failed: {state}"

    async def assert_work_again(self, pg: PrivatePostgres, one_shots: Probe) -> None:
        one_shots.phase = "back"
        done = await one_shots.round()
        assert done[self.complete_label].status == 200, done[self.complete_label].describe()
        assert done[self.cancel_label].status == 204, done[self.cancel_label].describe()
        bound = await self.sign_bind()
        assert bound.status_code == 200, bound.text
        final = await self.state(pg)
        assert final[self.to_complete["id"]][0] == "completed", final
        assert final[self.to_cancel["id"]][0] == "cancelled", final
        assert final[self.to_bind["id"]][1] == self.binder.s3_upload_id, final
        assert final["versions recorded"] == 1, final


async def run_outage(
    probe: Probe, stop_server: Any, start_server: Any, while_down: Callable[[], Awaitable[None]] | None = None
) -> None:
    """A loop of requests; the server stopped under it, kept down OUTAGE_SECONDS (running `while_down` meanwhile,
    beside the loop), started again."""
    first = await probe.round()
    broken = [a.describe() for a in first.values() if not 200 <= a.status < 300]
    assert not broken, "requests fail before any outage:\n" + "\n".join(broken)
    done = asyncio.Event()
    task = asyncio.create_task(probe.loop(done))
    try:
        await asyncio.sleep(0.3)
        probe.phase = "stopping"
        await asyncio.to_thread(stop_server)  # requests keep running while the server shuts down
        probe.phase = "down"
        down_since = time.monotonic()
        if while_down is not None:
            await while_down()
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))
        probe.phase = "restarting"
        await asyncio.to_thread(start_server)
        probe.phase = "back"
        await asyncio.sleep(0.5)
    finally:
        done.set()
        await task


async def test_database_outage_while_requests_run(setup: Setup, private_pg: PrivatePostgres) -> None:
    s = setup
    prepared = await Prepared.make(s)
    started: dict[str, int] = {}
    probe = Probe(loop_requests(s, started, await s.pending_upload("signing.bam")))
    one_shots = prepared.one_shots()

    # Not in the loop: whether the outage left the UploadId unbound can only be read once the database is back.
    one_shots.requests[prepared.bind_label] = prepared.sign_bind

    async def while_down() -> None:
        # A login token's principal is reused for PRINCIPAL_CACHE_SECONDS (auth/principal.py), longer than
        # this outage: forget it, so that /api/auth/me (JWT) must read the database like the first request
        # after the cache expires would. Nothing is cached meanwhile: only a resolution the database
        # answered is kept.
        s.app.state.omicsdm.verifier.principals.clear()
        one_shots.phase = "down"
        await one_shots.round()

    await run_outage(probe, private_pg.stop, private_pg.start, while_down)
    # Afterwards, the same requests work, with the same app.
    await probe.until_all_succeed(RECOVERY_TIMEOUT)
    state = await prepared.state(private_pg)

    everything = probe.answers + one_shots.answers
    violations = [f"{a.describe()}\n    -> {why}" for a in everything if (why := outage_violation(a, "database"))]
    assert not violations, "answers that are neither 2xx nor a proper 503:\n" + "\n".join(violations[:40])
    down = [a for a in everything if a.phase == "down"]
    # Every one of them needs the database (/api/auth/me with a JWT too, once its cached principal is gone).
    # A JWT's principal may still answer /api/auth/me from the 10 s principal cache (an answer in flight
    # when while_down cleared it); once cleared, nothing refills it without the database: 503s must follow.
    cached = "GET /api/auth/me (JWT)"
    assert any(a.label == cached and a.status == 503 for a in down), f"{cached} never needed the database"
    not_503 = [a.describe() for a in down if a.status != 503 and not (a.label == cached and a.status == 200)]
    assert not not_503, "answered without the database:\n" + "\n".join(not_503) + f"\n{report(probe)}"
    labels = set(probe.requests) | set(one_shots.requests)
    assert {a.label for a in down} == labels, f"not every request ran during the outage:\n{report(probe)}"
    for a in down:
        if a.label == "GET /readyz":
            checks = a.json().get("checks")
            assert isinstance(checks, dict) and checks.get("database") != "ok", a.describe()

    # Nothing half-done: an upload answered 503 left no row; one answered 201 left exactly one.
    rows = await private_pg.fetch("SELECT name FROM upload_sessions WHERE name LIKE 'during-%'")
    recorded = {r["name"] for r in rows}
    assert len(rows) == len(recorded)
    refused = {name for name, status in started.items() if status == 503}
    accepted = {name for name, status in started.items() if 200 <= status < 300}
    assert refused, "no upload start was refused during the outage"
    assert not refused & recorded, f"uploads answered 503 but recorded: {sorted(refused & recorded)}"
    assert accepted <= recorded, f"uploads answered 201 but not recorded: {sorted(accepted - recorded)}"
    prepared.assert_untouched(state)
    await prepared.assert_work_again(private_pg, one_shots)


async def test_storage_outage_while_requests_run(
    setup: Setup, private_s3: PrivateS3, private_pg: PrivatePostgres
) -> None:
    s = setup
    prepared = await Prepared.make(s)
    started: dict[str, int] = {}
    probe = Probe(loop_requests(s, started, await s.pending_upload("signing.bam")))
    one_shots = prepared.one_shots()
    late = Probe({})
    during: dict[str, Any] = {}

    async def while_down() -> None:
        probe.requests[prepared.bind_label] = prepared.sign_bind
        one_shots.phase = late.phase = "down"
        await one_shots.round()
        # An app started while S3 is down starts, serves what needs no S3, and says it is not ready.
        async with app_started(s.settings) as fresh:
            late.requests = {
                "GET /readyz (app started during the outage)": lambda: fresh.get("/readyz"),
                "GET /api/files (app started during the outage)": lambda: fresh.get("/api/files", headers=s.headers),
            }
            await late.round()
        await asyncio.sleep(0.5)  # a few more rounds of the loop, the bind included
        # The bind waits for S3's connection attempts (and their retries) before it answers: keep S3 down
        # until it has answered at least once, however slow the machine is today.
        for _ in range(200):  # at most 20 s
            if any(a.label == prepared.bind_label and a.phase == "down" for a in probe.answers):
                break
            await asyncio.sleep(0.1)
        during.update(await prepared.state(private_pg))

    await run_outage(probe, private_s3.stop, private_s3.start, while_down)
    # Afterwards, the same requests work, with the same app.
    await probe.until_all_succeed(RECOVERY_TIMEOUT)

    everything = probe.answers + one_shots.answers + late.answers
    violations = [f"{a.describe()}\n    -> {why}" for a in everything if (why := outage_violation(a, "storage"))]
    assert not violations, "answers that are neither 2xx nor a proper 503:\n" + "\n".join(violations[:40])
    down = [a for a in everything if a.phase == "down"]
    needs_s3 = {"GET /readyz", "GET /readyz (app started during the outage)", prepared.bind_label}
    needs_s3 |= set(one_shots.requests)
    # Presigning is local: download URLs need no S3, nor does starting an upload.
    needs_no_s3 = (set(probe.requests) | set(late.requests)) - needs_s3
    wrong = [a.describe() for a in down if a.label in needs_s3 and a.status != 503]
    wrong += [a.describe() for a in down if a.label in needs_no_s3 and not 200 <= a.status < 300]
    assert not wrong, "wrong answers while S3 was down:\n" + "\n".join(wrong) + f"\n{report(probe)}"
    assert {a.label for a in down} == needs_s3 | needs_no_s3, report(probe)
    for a in down:
        if a.label.startswith("GET /readyz"):
            checks = a.json().get("checks")
            assert isinstance(checks, dict) and checks.get("storage") != "ok", a.describe()

    prepared.assert_untouched(during)
    await prepared.assert_work_again(private_pg, one_shots)
