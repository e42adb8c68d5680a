"""The janitor expires stale uploads and aborts their multipart uploads, also when run twice at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from omicsdm.services.janitor import expire_stale
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
