"""Uploads end to end: EvaporateJS's request sequence through the signer to a real S3, checked completion,
race-free versions, resume, cancel."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import World, _dsn
from tests.support.evaporate import EvaporateClient, SignerRefused, part_md5s

MIB = 1024 * 1024


async def start(client: httpx.AsyncClient, world: World, name: str, size: int, **extra: Any) -> dict[str, Any]:
    body = {"dataset_id": world.dataset["id"], "name": name, "size": size, "part_size": 5 * MIB, **extra}
    response = await client.post("/api/uploads", json=body, headers=world.alice.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
async def evaporate(client: httpx.AsyncClient) -> AsyncIterator[list[EvaporateClient]]:
    made: list[EvaporateClient] = []
    yield made
    for e in made:
        await e.aclose()


def new_client(client: httpx.AsyncClient, upload: dict[str, Any], made: list[EvaporateClient]) -> EvaporateClient:
    e = EvaporateClient(api=client, upload=upload)
    made.append(e)
    return e


async def test_multipart_upload_through_the_signer(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], s3_admin: Any
) -> None:
    data = os.urandom(12 * MIB + 123)
    upload = await start(client, world, "run1/sample_R1.fastq.gz", len(data), sha256=hashlib.sha256(data).hexdigest())
    assert upload["part_size"] == 5 * MIB
    assert upload["object_key"].startswith(f"datasets/{world.dataset['id']}/")
    assert "sample" not in upload["object_key"]  # the key is allocated, never derived from the name

    e = new_client(client, upload, evaporate)
    await e.upload_bytes(data)
    assert e.sent_parts == [1, 2, 3]

    done = await client.post(
        f"/api/uploads/{upload['id']}/complete",
        json={"part_md5s": part_md5s(data, upload["part_size"])},
        headers=world.alice.headers,
    )
    assert done.status_code == 200, done.text
    version = done.json()
    assert version["version"] == 1
    assert version["name"] == "run1/sample_R1.fastq.gz"
    assert version["size"] == len(data)
    assert version["etag"].endswith("-3")
    assert version["checksum_state"] == "verified"
    assert version["sha256"] == hashlib.sha256(data).hexdigest()

    stored = s3_admin.get_object(Bucket=upload["bucket"], Key=upload["object_key"])["Body"].read()
    assert stored == data

    again = await client.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
    assert again.status_code == 200
    assert again.json()["id"] == version["id"]  # idempotent: no second version

    state = await client.get(f"/api/uploads/{upload['id']}", headers=world.alice.headers)
    assert state.json()["state"] == "completed"
    # a completed upload signs nothing more
    with pytest.raises(SignerRefused, match="completed"):
        await e.list_parts()


async def test_resume_sends_only_missing_parts(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], s3_admin: Any
) -> None:
    data = os.urandom(11 * MIB)
    upload = await start(client, world, "big.bam", len(data))
    first = new_client(client, upload, evaporate)
    await first.upload_bytes(data, stop_after=2)
    assert first.sent_parts == [1, 2]

    # the page reloads: the same file is added again; the service hands back the same upload and key
    again = await start(client, world, "big.bam", len(data))
    assert again["resumed"] is True
    assert again["id"] == upload["id"]
    assert again["object_key"] == upload["object_key"]

    second = new_client(client, again, evaporate)
    second.s3_upload_id = first.s3_upload_id  # evaporate.js keeps it in localStorage
    await second.resume(data)
    assert second.sent_parts == [3]

    done = await client.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
    assert done.status_code == 200, done.text
    assert s3_admin.get_object(Bucket=upload["bucket"], Key=upload["object_key"])["Body"].read() == data


async def test_concurrent_uploads_of_one_name_all_survive(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], s3_admin: Any
) -> None:
    payloads = [f"content of upload {i}\n".encode() * (i + 1) for i in range(20)]

    async def one(data: bytes) -> dict[str, Any]:
        body = {"dataset_id": world.dataset["id"], "name": "counts.tsv", "size": len(data), "sha256": None}
        # distinct sizes, so none of them resumes another
        upload = (await client.post("/api/uploads", json=body, headers=world.alice.headers)).json()
        e = new_client(client, upload, evaporate)
        await e.upload_bytes(data)
        done = await client.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
        assert done.status_code == 200, done.text
        return {**done.json(), "key": upload["object_key"], "bucket": upload["bucket"], "data": data}

    results = await asyncio.gather(*(one(p) for p in payloads))
    assert sorted(r["version"] for r in results) == list(range(1, 21))
    assert len({r["key"] for r in results}) == 20
    assert len({r["file_id"] for r in results}) == 1
    for r in results:
        assert s3_admin.get_object(Bucket=r["bucket"], Key=r["key"])["Body"].read() == r["data"]


async def test_complete_without_s3_object_records_nothing(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], database_url: str
) -> None:
    upload = await start(client, world, "phantom.vcf", 1000)
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "not in S3" in response.json()["detail"]

    e = new_client(client, upload, evaporate)
    await e.upload_bytes(b"x" * 1000, stop_after=0)  # initiated, no parts
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
    assert response.status_code == 409
    assert "0 part(s)" in response.json()["detail"]
    assert await count(database_url, "files") == 0
    assert await count(database_url, "file_versions") == 0


async def test_complete_with_wrong_size_or_checksums_records_nothing(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], database_url: str
) -> None:
    data = os.urandom(6 * MIB)
    liar = await start(client, world, "short.bam", len(data) + 1)  # declares one byte more than it sends
    await new_client(client, liar, evaporate).upload_bytes(data)
    response = await client.post(f"/api/uploads/{liar['id']}/complete", headers=world.alice.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "size-mismatch"

    honest = await start(client, world, "other.bam", len(data))
    await new_client(client, honest, evaporate).upload_bytes(data)
    wrong = part_md5s(data, honest["part_size"])
    wrong[0] = hashlib.md5(b"something else").hexdigest()
    response = await client.post(
        f"/api/uploads/{honest['id']}/complete", json={"part_md5s": wrong}, headers=world.alice.headers
    )
    assert response.status_code == 409
    assert response.json()["code"] == "checksum-mismatch"
    assert await count(database_url, "file_versions") == 0
    # the right checksums then succeed
    ok = await client.post(
        f"/api/uploads/{honest['id']}/complete",
        json={"part_md5s": part_md5s(data, honest["part_size"])},
        headers=world.alice.headers,
    )
    assert ok.status_code == 200
    assert ok.json()["checksum_state"] == "verified"


async def test_sha256_may_be_declared_at_completion(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], database_url: str
) -> None:
    """A client may hash while it sends: the SHA-256 then comes with the completion; one declared at start
    must not be contradicted there."""
    data = os.urandom(6 * MIB)
    digest = hashlib.sha256(data).hexdigest()
    late = await start(client, world, "late.bam", len(data))
    assert late["sha256"] is None
    await new_client(client, late, evaporate).upload_bytes(data)
    bad = await client.post(
        f"/api/uploads/{late['id']}/complete", json={"sha256": "G" * 64}, headers=world.alice.headers
    )
    assert bad.status_code == 422
    ok = await client.post(
        f"/api/uploads/{late['id']}/complete",
        json={"part_md5s": part_md5s(data, late["part_size"]), "sha256": digest},
        headers=world.alice.headers,
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["sha256"], ok.json()["checksum_state"]) == (digest, "verified")

    early = await start(client, world, "early.bam", len(data), sha256=digest)
    await new_client(client, early, evaporate).upload_bytes(data)
    other = hashlib.sha256(b"other bytes").hexdigest()
    refused = await client.post(
        f"/api/uploads/{early['id']}/complete", json={"sha256": other}, headers=world.alice.headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "checksum-mismatch"
    assert await count(database_url, "file_versions") == 1
    same = await client.post(
        f"/api/uploads/{early['id']}/complete", json={"sha256": digest}, headers=world.alice.headers
    )
    assert same.status_code == 200, same.text
    assert same.json()["sha256"] == digest


async def test_cancel_aborts_the_multipart_upload(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], s3_admin: Any
) -> None:
    data = os.urandom(6 * MIB)
    upload = await start(client, world, "cancel-me.h5ad", len(data))
    e = new_client(client, upload, evaporate)
    await e.upload_bytes(data, stop_after=1)
    pending = s3_admin.list_multipart_uploads(Bucket=upload["bucket"], Prefix=upload["object_key"])
    assert len(pending.get("Uploads", [])) == 1

    assert (await client.post(f"/api/uploads/{upload['id']}/cancel", headers=world.bob.headers)).status_code == 404
    assert (await client.post(f"/api/uploads/{upload['id']}/cancel", headers=world.alice.headers)).status_code == 204
    assert (await client.post(f"/api/uploads/{upload['id']}/cancel", headers=world.alice.headers)).status_code == 204
    pending = s3_admin.list_multipart_uploads(Bucket=upload["bucket"], Prefix=upload["object_key"])
    assert pending.get("Uploads", []) == []
    with pytest.raises(SignerRefused, match="cancelled"):
        await e.put_part(2, data[5 * MIB :])
    done = await client.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
    assert done.status_code == 409
    resumed = await start(client, world, "cancel-me.h5ad", len(data))
    assert resumed["resumed"] is False  # a cancelled upload is never resumed


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "at least 1 character"),
        ("/etc/passwd", "relative"),
        ("a/../b.txt", "'..'"),
        ("./b.txt", "'.'"),
        ("a//b.txt", "empty folder"),
        ("dir/", "empty folder"),
        ("bad\x00name", "NUL"),
        ("tab\tname", "control character"),
        ("report\u202efdp.exe", "U+202E"),
        ("win\\path.txt", "backslash"),
        (" leading.txt", "white space"),
        ("x" * 256, "longer than 255"),
        ("/".join(["d" * 200] * 6), "longer than 1024"),
    ],
)
async def test_bad_names_are_refused(
    client: httpx.AsyncClient, world: World, database_url: str, name: str, reason: str
) -> None:
    body = {"dataset_id": world.dataset["id"], "name": name, "size": 10}
    response = await client.post("/api/uploads", json=body, headers=world.alice.headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.text
    assert await count(database_url, "upload_sessions") == 0


async def test_names_are_nfc_normalised(client: httpx.AsyncClient, world: World) -> None:
    decomposed = "cafe\u0301/re\u0301sume\u0301.txt"
    upload = await start(client, world, decomposed, 10)
    assert upload["name"] == "caf\u00e9/r\u00e9sum\u00e9.txt"


@pytest.mark.parametrize(
    ("size", "part_size", "status", "expected_part"),
    [
        (-1, None, 422, None),
        (100, 1024, 422, None),  # below S3's 5 MiB minimum
        (100, 6 * 1024**3, 422, None),  # above 5 GiB
        (6 * 1024**4, None, 413, None),  # above the configured 5 TiB limit
        (100 * 1024**3, 5 * MIB, 201, 16 * MIB),  # 5 MiB x 10,000 is too small: the service picks a fitting size
        (100 * 1024**3, 32 * MIB, 201, 32 * MIB),  # the client's wish fits: kept
        (1024**4, None, 201, 105 * MIB),  # 1 TiB needs parts of at least 104.9 MiB
        (10, None, 201, 16 * MIB),
        (0, None, 201, 16 * MIB),
    ],
)
async def test_sizes_and_part_sizes(
    client: httpx.AsyncClient, world: World, size: int, part_size: int | None, status: int, expected_part: int | None
) -> None:
    body = {"dataset_id": world.dataset["id"], "name": f"f{size}.bin", "size": size, "part_size": part_size}
    response = await client.post("/api/uploads", json=body, headers=world.alice.headers)
    assert response.status_code == status, response.text
    if expected_part:
        assert response.json()["part_size"] == expected_part
        assert size / response.json()["part_size"] <= 10_000


async def test_extension_allow_list(database_url: str, s3: Any, idp: Any, bucket: str) -> None:
    from tests.conftest import app_client, make_settings

    settings = make_settings(database_url, s3, idp, bucket, allowed_extensions="fastq.gz,bam")
    async with app_client(settings) as client:
        headers = {"Authorization": f"Bearer {idp.token('root', ['admin'])}"}
        project = (await client.post("/api/projects", json={"code": "p", "name": "p"}, headers=headers)).json()
        dataset = (
            await client.post(
                "/api/datasets",
                json={"project_id": project["id"], "code": "d", "name": "d", "owner_group": "admin"},
                headers=headers,
            )
        ).json()
        for name, ok in (("a.FASTQ.GZ", True), ("b.bam", True), ("c.txt", False), ("fastq.gz", False)):
            body = {"dataset_id": dataset["id"], "name": name, "size": 1}
            response = await client.post("/api/uploads", json=body, headers=headers)
            assert (response.status_code == 201) is ok, (name, response.text)
        async with asyncpg.create_pool(_dsn(database_url)) as pool:
            await pool.execute(
                "TRUNCATE audit_events, upload_sessions, datasets, project_owners, projects, memberships, users,"
                " groups CASCADE"
            )


async def test_write_permission_to_start(client: httpx.AsyncClient, world: World) -> None:
    body = {"dataset_id": world.dataset["id"], "name": "x.txt", "size": 1}
    assert (await client.post("/api/uploads", json=body, headers=world.bob.headers)).status_code == 403
    assert (await client.post("/api/uploads", json=body, headers=world.carol.headers)).status_code == 404
    assert (await client.post("/api/uploads", json=body, headers=world.admin.headers)).status_code == 201
    assert (await client.post("/api/uploads", json=body)).status_code == 401


async def test_uploads_are_audited(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient], database_url: str
) -> None:
    upload = await start(client, world, "audited.txt", 5)
    await new_client(client, upload, evaporate).upload_bytes(b"hello")
    await client.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT action, actor_name FROM audit_events ORDER BY id")
    finally:
        await conn.close()
    actions = [(r["action"], r["actor_name"]) for r in rows]
    assert ("upload.started", "alice") in actions
    assert ("upload.completed", "alice") in actions


async def count(database_url: str, table: str) -> int:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def test_list_my_uploads_by_state(
    client: httpx.AsyncClient, world: World, evaporate: list[EvaporateClient]
) -> None:
    done = await start(client, world, "done.txt", 4)
    await new_client(client, done, evaporate).upload_bytes(b"done")
    await client.post(f"/api/uploads/{done['id']}/complete", headers=world.alice.headers)
    pending = await start(client, world, "pending.txt", 7)
    mine = await client.get("/api/uploads", headers=world.alice.headers)
    assert [u["name"] for u in mine.json()] == ["pending.txt", "done.txt"]
    only = await client.get("/api/uploads", params={"state": "pending"}, headers=world.alice.headers)
    assert [u["id"] for u in only.json()] == [pending["id"]]
    assert (await client.get("/api/uploads", headers=world.bob.headers)).json() == []  # nobody else's
    bad = await client.get("/api/uploads", params={"state": "sideways"}, headers=world.alice.headers)
    assert bad.status_code == 422
