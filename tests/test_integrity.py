"""Integrity on real PostgreSQL and SeaweedFS: fixity re-reads stored bytes, reconciliation finds drift,
a corrupt version is never served silently, and uploads finished in S3 but never recorded can be adopted."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from omicsdm.services.fixity import verify
from omicsdm.services.reconcile import reconcile
from omicsdm.settings import Settings
from tests.conftest import Actor, World, _dsn, app_client, create_atlas, make_settings
from tests.support.evaporate import EvaporateClient, part_md5s
from tests.support.idp import LocalIdP
from tests.support.live import truncate
from tests.support.uploading import upload_file

MIB = 1024 * 1024


async def put(client: httpx.AsyncClient, world: World, name: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return await upload_file(client, world.alice.headers, world.dataset["id"], name, data, **extra)


async def sql(database_url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def repoint(database_url: str, version_id: str, object_key: str, s3_version_id: str | None) -> None:
    """Point a version at other bytes behind the service's back (the trigger forbids it; switch it off)."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE file_versions DISABLE TRIGGER file_versions_immutable")
            await conn.execute(
                "UPDATE file_versions SET object_key = $2, s3_version_id = $3 WHERE id = $1",
                uuid.UUID(version_id),
                object_key,
                s3_version_id,
            )
            await conn.execute("ALTER TABLE file_versions ENABLE TRIGGER file_versions_immutable")
    finally:
        await conn.close()


async def test_fixity_verifies_records_and_finds_corruption(
    app: FastAPI, client: httpx.AsyncClient, world: World, database_url: str, s3_admin: Any
) -> None:
    declared = b"declared " * 100_000
    undeclared = b"undeclared" * 90_000
    a = await put(client, world, "declared.txt", declared, sha256=hashlib.sha256(declared).hexdigest())
    await put(client, world, "undeclared.txt", undeclared)
    c = await put(client, world, "victim.txt", b"v" * len(declared), sha256=hashlib.sha256(b"v" * 900_000).hexdigest())
    d = await put(client, world, "lost.txt", b"lost")
    tampered = f"datasets/tampered/{uuid.uuid4()}"  # other bytes of the same size
    s3_admin.put_object(Bucket=c["bucket"], Key=tampered, Body=b"w" * len(declared))
    await repoint(database_url, c["id"], tampered, None)
    await repoint(database_url, d["id"], "datasets/nowhere/gone", None)

    state = app.state.omicsdm
    report = await verify(state.sessionmaker, state.storage)
    assert report.checked == 4 and report.by_state == {"verified": 1, "recorded": 1, "corrupt": 2}

    rows = {r["name"]: r for r in await sql(
        database_url,
        "SELECT f.name, v.fixity::text, v.sha256, v.fixity_note, v.fixity_checked_at FROM file_versions v "
        "JOIN files f ON f.id = v.file_id",
    )}  # fmt: skip
    assert rows["declared.txt"]["fixity"] == "verified"
    assert rows["undeclared.txt"]["fixity"] == "recorded"
    assert rows["undeclared.txt"]["sha256"] == hashlib.sha256(undeclared).hexdigest()
    assert rows["victim.txt"]["fixity"] == "corrupt" and "hash to" in rows["victim.txt"]["fixity_note"]
    assert rows["lost.txt"]["fixity"] == "corrupt" and "missing" in rows["lost.txt"]["fixity_note"]
    assert all(r["fixity_checked_at"] is not None for r in rows.values())

    # A corrupt version is refused for download (with its code), shown in the history and the audit log.
    links = await client.post(
        "/api/files/download-urls", json={"items": [{"file_id": c["file_id"]}]}, headers=world.alice.headers
    )
    assert links.status_code == 409 and links.json()["code"] == "version-corrupt", links.text
    redirect = await client.get(f"/api/files/{c['file_id']}/download", headers=world.alice.headers)
    assert redirect.status_code == 409
    inspect = await client.post(
        "/api/files/download-urls",
        json={"items": [{"file_id": c["file_id"]}], "allow_corrupt": True},
        headers=world.admin.headers,
    )
    assert inspect.status_code == 200 and inspect.json()["items"][0]["fixity"] == "corrupt"
    not_admin = await client.post(
        "/api/files/download-urls",
        json={"items": [{"file_id": c["file_id"]}], "allow_corrupt": True},
        headers=world.alice.headers,
    )
    assert not_admin.status_code == 409
    detail = (await client.get(f"/api/files/{c['file_id']}", headers=world.alice.headers)).json()
    assert detail["fixity"] == "corrupt" and detail["integrity"].startswith("Corrupt")
    good = (await client.get(f"/api/files/{a['file_id']}", headers=world.alice.headers)).json()
    assert good["versions"][0]["integrity"].startswith("SHA-256 verified")
    page = (await client.get("/api/files", params={"name": "undeclared"}, headers=world.alice.headers)).json()
    assert page["items"][0]["fixity"] == "recorded"
    tsv = await client.post(
        "/api/files/manifest?format=tsv", json={"items": [{"file_id": a["file_id"]}]}, headers=world.alice.headers
    )
    assert "SHA-256 verified" in tsv.text
    trail = (await client.get(f"/api/admin/files/{c['file_id']}/audit", headers=world.admin.headers)).json()
    assert any(event["action"] == "version.corrupt" for event in trail)

    # Nothing is due again before `recheck_after`; an admin request queues the dataset again.
    assert (await verify(state.sessionmaker, state.storage)).checked == 0
    assert (await verify(state.sessionmaker, state.storage, recheck_after=timedelta(0))).checked == 4
    queued = await client.post(
        "/api/admin/verify", json={"dataset_id": world.dataset["id"]}, headers=world.admin.headers
    )
    assert queued.status_code == 202 and queued.json() == {"queued": 4}
    refused = await client.post(
        "/api/admin/verify", json={"dataset_id": world.dataset["id"]}, headers=world.alice.headers
    )
    assert refused.status_code == 403
    summary = (await client.get("/api/admin/integrity", headers=world.admin.headers)).json()
    # the recorded digest is the reference now: its re-check verified it
    assert summary == {"unchecked": 0, "verified": 2, "recorded": 0, "corrupt": 2, "queued": 4}
    assert (await verify(state.sessionmaker, state.storage, max_versions=1)).checked == 1


async def test_two_workers_check_each_version_once(
    app: FastAPI, client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    for i in range(8):
        await put(client, world, f"f{i}.bin", secrets.token_bytes(300_000))
    state = app.state.omicsdm
    first, second = await asyncio.gather(
        verify(state.sessionmaker, state.storage, recheck_after=timedelta(0)),
        verify(state.sessionmaker, state.storage, recheck_after=timedelta(0)),
    )
    assert first.checked + second.checked == 8
    events = await sql(database_url, "SELECT target_id, detail FROM audit_events WHERE action = 'version.recorded'")
    assert len(events) == 8 and len({(e["target_id"]) for e in events}) == 8


async def test_reconcile_finds_every_injected_drift(database_url: str, s3: Any, idp: LocalIdP, s3_admin: Any) -> None:
    await truncate(database_url)
    bucket = f"reconcile-{secrets.token_hex(3)}"
    settings = make_settings(database_url, s3, idp, bucket)
    admin = Actor("root", ["admin"], idp.token("root", ["admin"], lifetime=600))
    alice = Actor("alice", ["lab-a"], idp.token("alice", ["lab-a"], lifetime=600))
    try:
        async with app_client(settings) as client:
            world = World(admin, alice, alice, alice, *await create_atlas(client, admin, alice))
            files = [await put(client, world, f"r{i}.txt", f"content {i}".encode()) for i in range(4)]
            # An upload running right now (parts sent, not complete) is no drift.
            running = await _start(client, world, "running.bin", 6 * MIB)
            e = EvaporateClient(api=client, upload=running)
            await e.upload_bytes(b"r" * 6 * MIB, stop_after=1)
            await e.aclose()
            clean = await _reconcile(settings, client)
            assert clean.counts == {}, clean.findings
            assert clean.versions_seen == 4 and clean.objects_seen == 4

            await repoint(database_url, files[0]["id"], "datasets/gone/missing", None)
            await sql(database_url, "ALTER TABLE file_versions DISABLE TRIGGER file_versions_immutable")
            await sql(database_url, "UPDATE file_versions SET size = size + 1 WHERE id = $1", uuid.UUID(files[1]["id"]))
            await sql(database_url, "ALTER TABLE file_versions ENABLE TRIGGER file_versions_immutable")
            s3_admin.put_object(Bucket=bucket, Key="datasets/stray/object", Body=b"nobody's")
            await sql(
                database_url,
                "UPDATE upload_sessions SET created_at = now() - interval '30 days' WHERE id = $1",
                uuid.UUID(running["id"]),
            )
            drift = await _reconcile(settings, client, stale_after=timedelta(0))
            kinds = {f.kind: f for f in drift.findings}
            assert drift.counts == {
                "missing-object": 1,
                "size-drift": 1,
                "untracked-object": 2,  # the stray object, and r0's object that no version points to now
                "stale-multipart": 1,
                "stuck-upload": 1,
            }, drift.findings
            assert kinds["missing-object"].object_key == "datasets/gone/missing"
            assert kinds["stuck-upload"].upload_id == uuid.UUID(running["id"])
            by_key = {f.object_key: f for f in drift.findings if f.kind == "untracked-object"}
            assert by_key[files[0]["object_key"]].upload_id is not None  # its upload is named
            assert s3_admin.get_object(Bucket=bucket, Key="datasets/stray/object")["Body"].read() == b"nobody's"
            via_api = await client.post("/api/admin/reconcile", headers=world.admin.headers)
            assert via_api.status_code == 200 and via_api.json()["counts"]["missing-object"] == 1
            assert (await client.post("/api/admin/reconcile", headers=world.alice.headers)).status_code == 403
    finally:
        await truncate(database_url)


async def _start(client: httpx.AsyncClient, world: World, name: str, size: int) -> dict[str, Any]:
    body = {"dataset_id": world.dataset["id"], "name": name, "size": size, "part_size": 5 * MIB}
    response = await client.post("/api/uploads", json=body, headers=world.alice.headers)
    assert response.status_code in (200, 201), response.text
    upload: dict[str, Any] = response.json()
    return upload


async def _reconcile(settings: Settings, client: httpx.AsyncClient, stale_after: timedelta | None = None) -> Any:
    from omicsdm.db.engine import make_engine, make_sessionmaker
    from omicsdm.storage import open_storage

    engine = make_engine(settings.database)
    try:
        async with open_storage(settings.s3) as storage, make_sessionmaker(engine)() as session:
            return await reconcile(session, storage, settings, grace=timedelta(0), stale_after=stale_after)
    finally:
        await engine.dispose()


async def test_finished_but_unrecorded_upload_is_adopted_after_expiry(
    app: FastAPI, client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    """The tab closed between S3's Complete and POST /complete, and the janitor expired the session."""
    data = b"adopt me " * 1000
    upload = await _start(client, world, "adopted.txt", len(data))
    e = EvaporateClient(api=client, upload=upload)
    await e.upload_bytes(data)
    await e.aclose()
    await sql(database_url, "UPDATE upload_sessions SET state = 'expired' WHERE id = $1", uuid.UUID(upload["id"]))
    done = await client.post(
        f"/api/uploads/{upload['id']}/complete",
        json={"part_md5s": part_md5s(data, upload["part_size"])},
        headers=world.alice.headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 1 and done.json()["checksum_state"] == "verified"


async def test_starting_again_after_s3_lost_the_upload_gives_a_fresh_one(
    client: httpx.AsyncClient, world: World, s3_admin: Any
) -> None:
    """Resume never dead-ends: S3 aborted the multipart upload, or completed it without a record."""
    size = 6 * MIB
    first = await _start(client, world, "lost.bin", size)
    e = EvaporateClient(api=client, upload=first)
    await e.upload_bytes(b"x" * size, stop_after=1)
    s3_admin.abort_multipart_upload(Bucket=first["bucket"], Key=first["object_key"], UploadId=e.s3_upload_id)
    await e.aclose()
    again = await _start(client, world, "lost.bin", size)
    assert again["id"] != first["id"] and not again["resumed"] and again["object_key"] != first["object_key"]
    old = await client.get(f"/api/uploads/{first['id']}", headers=world.alice.headers)
    assert old.json()["state"] == "cancelled"

    data = b"y" * size
    e = EvaporateClient(api=client, upload=again)
    await e.upload_bytes(data)  # completed in S3, never recorded
    await e.aclose()
    resumed = await _start(client, world, "lost.bin", size)
    assert resumed["id"] == again["id"] and resumed["resumed"] and resumed["stored"]
    done = await client.post(
        f"/api/uploads/{again['id']}/complete",
        json={"part_md5s": part_md5s(data, again["part_size"])},
        headers=world.alice.headers,
    )
    assert done.status_code == 200 and done.json()["version"] == 1


async def test_a_service_link_stops_working_when_the_file_is_marked_deleted(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    data = b"shared with a colleague"
    version = await put(client, world, "shared.txt", data)
    answer = await client.post(
        "/api/files/manifest?format=tsv", json={"items": [{"file_id": version["file_id"]}]}, headers=world.bob.headers
    )
    link = answer.text.splitlines()[1].split("\t")[-1]
    assert "/api/links/" in link
    path = link[link.index("/api/links/") :]
    followed = await client.get(path)  # no Authorization: the link is the credential
    assert followed.status_code == 302 and followed.headers["cache-control"] == "no-store"
    async with httpx.AsyncClient() as s3:
        assert (await s3.get(followed.headers["location"])).content == data

    deleted = await client.post(f"/api/files/{version['file_id']}/delete", headers=world.alice.headers)
    assert deleted.status_code == 200
    refused = await client.get(path)
    assert refused.status_code == 404 and refused.json()["code"] == "not-found"
    await client.post(f"/api/files/{version['file_id']}/restore", headers=world.alice.headers)
    assert (await client.get(path)).status_code == 302

    token = path.rsplit("/", 1)[1]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    bad = await client.get(f"/api/links/{forged}")
    assert bad.status_code == 403 and bad.json()["code"] == "invalid-link"
    tokens = app.state.omicsdm.link_tokens
    file_id, number, user_id, _ = tokens.verify(token)
    expired = tokens.issue(file_id, number, user_id, 1)
    gone = await client.get(f"/api/links/{expired}")
    assert gone.status_code == 410 and gone.json()["code"] == "link-expired"
