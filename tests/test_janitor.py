"""The janitor expires stale uploads and aborts their multipart uploads, also when run twice at once, past
records S3 refuses to abort, and as the `omicsdm janitor` command."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from omicsdm.services.janitor import expire_stale
from omicsdm.settings import Settings
from omicsdm.storage import Storage, StorageError
from tests.conftest import World, _dsn
from tests.support.evaporate import EvaporateClient

MIB = 1024 * 1024


async def test_janitor_expires_stale_uploads(
    app: FastAPI, client: httpx.AsyncClient, world: World, database_url: str, s3_admin: Any
) -> None:
    uploads = []
    for name in ("old-1.bam", "old-2.bam", "fresh.bam"):
        body = {"dataset_id": world.dataset["id"], "name": name, "size": 6 * MIB, "part_size": 5 * MIB}
        upload = (await client.post("/api/uploads", json=body, headers=world.alice.headers)).json()
        e = EvaporateClient(api=client, upload=upload)
        await e.upload_bytes(b"a" * 6 * MIB, stop_after=1)
        await e.aclose()
        uploads.append(upload)
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE upload_sessions SET created_at = now() - interval '10 days' WHERE id = ANY($1::uuid[])",
            [uuid.UUID(u["id"]) for u in uploads[:2]],
        )
        state = app.state.omicsdm
        reports = await asyncio.gather(
            expire_stale(state.sessionmaker, state.storage, timedelta(hours=24)),
            expire_stale(state.sessionmaker, state.storage, timedelta(hours=24)),
        )
        assert sum(r.expired_sessions for r in reports) == 2  # each stale upload taken exactly once
        states = dict(await conn.fetch("SELECT name, state::text FROM upload_sessions"))
        assert states == {"old-1.bam": "expired", "old-2.bam": "expired", "fresh.bam": "pending"}
        audited = await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'upload.expired'")
        assert audited == 2
    finally:
        await conn.close()
    bucket = uploads[0]["bucket"]
    for upload, alive in zip(uploads, (False, False, True), strict=True):
        pending = s3_admin.list_multipart_uploads(Bucket=bucket, Prefix=upload["object_key"]).get("Uploads", [])
        assert bool(pending) is alive


class AbortFailsFor(Storage):
    """The real storage, except that S3 refuses to abort multipart uploads on some keys."""

    def __init__(self, real: Storage, failing_keys: set[str]) -> None:
        super().__init__(real._client, real.settings)
        self.failing_keys = failing_keys

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        if key in self.failing_keys:
            raise StorageError(f"AccessDenied: abort refused on {key}")
        await super().abort_multipart_upload(key, upload_id)


async def _pending_uploads(client: httpx.AsyncClient, world: World, names: list[str]) -> list[dict[str, Any]]:
    """Uploads started a moment ago, one part sent, not completed."""
    started = []
    for name in names:
        body = {"dataset_id": world.dataset["id"], "name": name, "size": 6 * MIB, "part_size": 5 * MIB}
        upload = (await client.post("/api/uploads", json=body, headers=world.alice.headers)).json()
        e = EvaporateClient(api=client, upload=upload)
        await e.upload_bytes(b"a" * 6 * MIB, stop_after=1)
        await e.aclose()
        started.append(upload)
    return started


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _multipart_alive(s3_admin: Any, bucket: str, key: str) -> bool:
    return bool(s3_admin.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []))


async def test_one_failing_record_does_not_block_the_others(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,
    database_url: str,
    s3_admin: Any,
) -> None:
    uploads = await _pending_uploads(client, world, ["a.bam", "refused.bam", "c.bam"])
    bucket = uploads[0]["bucket"]
    orphans = [f"datasets/{uuid.uuid4()}/{uuid.uuid4()}" for _ in range(2)]  # no session owns these
    for key in orphans:
        s3_admin.create_multipart_upload(Bucket=bucket, Key=key)
    state = app.state.omicsdm
    failing = AbortFailsFor(state.storage, {uploads[1]["object_key"], orphans[1]})
    janitor_log, lines = logging.getLogger("omicsdm.janitor"), Lines()
    janitor_log.addHandler(lines)
    try:
        report = await expire_stale(state.sessionmaker, failing, timedelta(0))
    finally:
        janitor_log.removeHandler(lines)
    assert (report.expired_sessions, report.failed) == (2, 2)
    assert report.aborted_orphans >= 1  # and any leftovers of earlier tests in the bucket
    warnings = lines.messages
    assert len(warnings) == 2
    assert uploads[1]["id"] in warnings[0]
    assert orphans[1] in warnings[1]
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        states = dict(await conn.fetch("SELECT name, state::text FROM upload_sessions"))
        assert states == {"a.bam": "expired", "refused.bam": "pending", "c.bam": "expired"}
        assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'upload.expired'") == 2
    finally:
        await conn.close()
    alive = [_multipart_alive(s3_admin, bucket, key) for key in [u["object_key"] for u in uploads] + orphans]
    assert alive == [False, True, False, False, True]

    # the next run, with S3 willing again, takes what was left
    report = await expire_stale(state.sessionmaker, state.storage, timedelta(0))
    assert (report.expired_sessions, report.failed) == (1, 0)
    assert not _multipart_alive(s3_admin, bucket, uploads[1]["object_key"])
    assert not _multipart_alive(s3_admin, bucket, orphans[1])


async def test_janitor_command_honours_max_age_zero(
    client: httpx.AsyncClient, world: World, settings: Settings, database_url: str, s3_admin: Any
) -> None:
    [upload] = await _pending_uploads(client, world, ["just-started.bam"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMICSDM_")}
    env |= {
        "OMICSDM_DEV_MODE": "true",
        "OMICSDM_DATABASE__URL": settings.database.url,
        "OMICSDM_S3__ENDPOINT_URL": settings.s3.endpoint_url,
        "OMICSDM_S3__BUCKET": settings.s3.bucket,
        "OMICSDM_S3__ACCESS_KEY_ID": settings.s3.access_key_id,
        "OMICSDM_S3__SECRET_ACCESS_KEY": settings.s3.secret_access_key.get_secret_value(),
    }
    command = [sys.executable, "-m", "omicsdm", "janitor", "--max-age-hours", "0"]
    result = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("expired 1 upload(s); aborted "), result.stderr
    assert result.stderr.rstrip().endswith("; 0 failed")
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT state::text FROM upload_sessions") == "expired"
    finally:
        await conn.close()
    assert not _multipart_alive(s3_admin, upload["bucket"], upload["object_key"])
