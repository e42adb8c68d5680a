"""The signer refuses every request that is not one step of the caller's own upload, each for its reason.

Each case forges one thing in an otherwise legal EvaporateJS request for a bound upload.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from omicsdm.auth.secrets import UploadTokens
from tests.conftest import World, _dsn
from tests.support.evaporate import UNSIGNED, EvaporateClient, Request, string_to_sign
from tests.support.idp import LocalIdP

MIB = 1024 * 1024
MD5 = base64.b64encode(hashlib.md5(b"part").digest()).decode()


@dataclass
class Bound:
    """An upload of 3 parts that has been initiated and bound, plus a second upload of the same user."""

    client: httpx.AsyncClient
    world: World
    e: EvaporateClient
    other: EvaporateClient
    settings: Any
    database_url: str

    def part(self, number: int = 2, **changes: Any) -> Request:
        req = self.e.request(
            "PUT", f"?partNumber={number}&uploadId={self.e.s3_upload_id}", md5=MD5, payload_hash=UNSIGNED
        )
        return replace(req, **changes)

    async def refused(self, req: Request, reason: str, **kwargs: Any) -> None:
        response = await self.e.sign(req, **kwargs)
        await self.assert_refused(response, reason)

    async def refused_query(self, query: dict[str, str], reason: str) -> None:
        await self.assert_refused(await self.client.get("/api/uploads/sign", params=query), reason)

    @staticmethod
    async def assert_refused(response: httpx.Response, reason: str) -> None:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert reason in response.json()["detail"], response.json()["detail"]


async def _start(client: httpx.AsyncClient, world: World, name: str) -> dict[str, Any]:
    body = {"dataset_id": world.dataset["id"], "name": name, "size": 12 * MIB, "part_size": 5 * MIB}
    response = await client.post("/api/uploads", json=body, headers=world.alice.headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def bound(client: httpx.AsyncClient, world: World, settings: Any, database_url: str) -> AsyncIterator[Bound]:
    e = EvaporateClient(api=client, upload=await _start(client, world, "a.bam"))
    other = EvaporateClient(api=client, upload=await _start(client, world, "b.bam"))
    await e.initiate()
    await e.put_part(1, b"x" * 5 * MIB)  # binds the UploadId
    await other.initiate()
    await other.put_part(1, b"y" * 5 * MIB)
    yield Bound(client, world, e, other, settings, database_url)
    await e.aclose()
    await other.aclose()


def _date(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y%m%dT%H%M%SZ")


async def case_delete_object(b: Bound) -> None:
    await b.refused(b.e.request("DELETE", ""), "DELETE with query parameters [none]")


async def case_get_object(b: Bound) -> None:
    await b.refused(b.e.request("GET", ""), "GET with query parameters [none]")


async def case_head_object(b: Bound) -> None:
    await b.refused(b.e.request("HEAD", ""), "HEAD with query parameters [none]")


async def case_put_object(b: Bound) -> None:
    await b.refused(b.e.request("PUT", "", md5=MD5, payload_hash=UNSIGNED), "PUT with query parameters [none]")


async def case_delete_version(b: Bound) -> None:
    await b.refused(b.e.request("DELETE", "?versionId=abc"), "DELETE with query parameters [versionId]")


async def case_put_tagging(b: Bound) -> None:
    await b.refused(b.e.request("PUT", "?tagging"), "PUT with query parameters [tagging]")


async def case_extra_query_parameter(b: Bound) -> None:
    req = b.e.request("POST", f"?uploadId={b.e.s3_upload_id}&x-id=CompleteMultipartUpload")
    await b.refused(req, "POST with query parameters [uploadId,x-id]")


async def case_other_key(b: Bound) -> None:
    await b.refused(
        b.part(path=f"/{b.e.upload['bucket']}/{b.other.upload['object_key']}"), "is not this upload's object"
    )


async def case_other_bucket(b: Bound) -> None:
    await b.refused(b.part(path=f"/another-bucket/{b.e.upload['object_key']}"), "is not this upload's object")


async def case_other_uploads_upload_id(b: Bound) -> None:
    req = b.e.request("PUT", f"?partNumber=2&uploadId={b.other.s3_upload_id}", md5=MD5, payload_hash=UNSIGNED)
    await b.refused(req, "uploadId belongs to another upload")


async def case_abort_other_upload(b: Bound) -> None:
    await b.refused(b.e.request("DELETE", f"?uploadId={b.other.s3_upload_id}"), "uploadId belongs to another upload")


async def case_part_zero(b: Bound) -> None:
    await b.refused(b.part(0), "partNumber 0 is outside 1..3")


async def case_part_10001(b: Bound) -> None:
    await b.refused(b.part(10001), "partNumber 10001 is outside")


async def case_part_beyond_size(b: Bound) -> None:
    await b.refused(b.part(4), "partNumber 4 is outside 1..3 for this upload's size")


async def case_copy_source(b: Bound) -> None:
    req = b.part()
    await b.refused(replace(req, headers={**req.headers, "x-amz-copy-source": "/omicsdm/secret"}), "copying")


async def case_acl_header(b: Bound) -> None:
    req = b.part()
    await b.refused(replace(req, headers={**req.headers, "x-amz-acl": "public-read"}), "'x-amz-acl' may not be signed")


async def case_wrong_host(b: Bound) -> None:
    req = b.part()
    port = b.e.host.rsplit(":", 1)[1]
    await b.refused(replace(req, headers={**req.headers, "host": f"evil.example:{port}"}), "is not the configured S3")


async def case_wrong_port(b: Bound) -> None:
    req = b.part()
    await b.refused(replace(req, headers={**req.headers, "host": "127.0.0.1"}), "'127.0.0.1' is not the configured S3")


async def case_stale_date(b: Bound) -> None:
    date = _date(timedelta(minutes=-20))
    req = b.part()
    await b.refused(replace(req, headers={**req.headers, "x-amz-date": date}), "more than 15 minutes")


async def case_future_date(b: Bound) -> None:
    date = _date(timedelta(minutes=16))
    req = b.part()
    await b.refused(replace(req, headers={**req.headers, "x-amz-date": date}), "more than 15 minutes")


async def case_malformed_date(b: Bound) -> None:
    query = b.e.signer_query(b.part())
    await b.refused_query({**query, "datetime": "yesterday"}, "datetime must look like")


async def case_date_header_differs(b: Bound) -> None:
    req = b.part()
    query = b.e.signer_query(req)
    other_date = _date(timedelta(minutes=1))
    query["datetime"] = other_date
    query["to_sign"] = string_to_sign(other_date, b.e.upload["region"], query["canonical_request"])
    await b.refused_query(query, "x-amz-date header differs from datetime")


async def case_to_sign_date_differs(b: Bound) -> None:
    query = b.e.signer_query(b.part())
    query["datetime"] = _date(timedelta(minutes=1))
    await b.refused_query(query, "to_sign's date differs from datetime")


async def case_to_sign_for_another_request(b: Bound) -> None:
    """The oracle attack: an honest-looking canonical request, but to_sign hashes a DELETE."""
    query = b.e.signer_query(b.part())
    evil = b.e.request("DELETE", "").canonical()
    query["to_sign"] = string_to_sign(query["datetime"], b.e.upload["region"], evil)
    await b.refused_query(query, "to_sign does not match the canonical request")


async def case_other_region(b: Bound) -> None:
    await b.refused(b.part(), "credential scope", region="eu-west-1")


async def case_initiate_twice(b: Bound) -> None:
    await b.refused(b.e.request("POST", "?uploads"), "already initiated")


async def case_part_without_md5(b: Bound) -> None:
    req = b.part()
    headers = {k: v for k, v in req.headers.items() if k != "content-md5"}
    await b.refused(replace(req, headers=headers), "signed Content-MD5")


async def case_complete_unsigned_payload(b: Bound) -> None:
    req = b.e.request("POST", f"?uploadId={b.e.s3_upload_id}", payload_hash=UNSIGNED)
    await b.refused(req, "payload hash must be the SHA-256")


async def case_bad_marker(b: Bound) -> None:
    req = b.e.request("GET", f"?uploadId={b.e.s3_upload_id}&part-number-marker=x")
    await b.refused(req, "part-number-marker must be a number")


async def case_malformed_canonical(b: Bound) -> None:
    query = b.e.signer_query(b.part())
    canonical = query["canonical_request"].replace("\n\n", "\n")
    query["canonical_request"] = canonical
    query["to_sign"] = string_to_sign(query["datetime"], b.e.upload["region"], canonical)
    await b.refused_query(query, "SigV4 layout")


async def case_signed_headers_mismatch(b: Bound) -> None:
    query = b.e.signer_query(b.part())
    lines = query["canonical_request"].split("\n")
    lines[-2] = "host;x-amz-date"  # claims fewer signed headers than listed
    canonical = "\n".join(lines)
    query["canonical_request"] = canonical
    query["to_sign"] = string_to_sign(query["datetime"], b.e.upload["region"], canonical)
    await b.refused_query(query, "signed headers do not match")


async def case_forged_token(b: Bound) -> None:
    token = b.e.upload["sign_params"]["upload_token"]
    await b.refused(b.part(), "upload token is invalid or expired", token=token[:-4] + "AAAA")


async def case_expired_token(b: Bound) -> None:
    tokens = UploadTokens(b.settings.secret_key.get_secret_value())
    expired = tokens.issue(uuid.UUID(b.e.upload["id"]), -10)
    await b.refused(b.part(), "upload token is invalid or expired", token=expired)


async def case_token_of_another_server(b: Bound) -> None:
    foreign = UploadTokens("a-different-server-secret-of-sufficient-length").issue(uuid.UUID(b.e.upload["id"]), 600)
    await b.refused(b.part(), "upload token is invalid or expired", token=foreign)


async def case_other_uploads_token(b: Bound) -> None:
    """A valid token of upload B cannot sign for upload A's key."""
    await b.refused(b.part(), "is not this upload's object", token=b.other.upload["sign_params"]["upload_token"])


async def case_unknown_upload_id(b: Bound) -> None:
    fresh = EvaporateClient(api=b.client, upload=await _start(b.client, b.world, "c.bam"))
    req = fresh.request("PUT", "?partNumber=1&uploadId=never-initiated", md5=MD5, payload_hash=UNSIGNED)
    await b.refused(
        req, "not a multipart upload of this upload's key", token=fresh.upload["sign_params"]["upload_token"]
    )
    await fresh.aclose()


async def case_content_type_changed(b: Bound) -> None:
    fresh = EvaporateClient(api=b.client, upload=await _start(b.client, b.world, "d.bam"))
    req = fresh.request("POST", "?uploads")
    req = replace(req, headers={**req.headers, "content-type": "text/html"})
    await b.refused(req, "content-type differs", token=fresh.upload["sign_params"]["upload_token"])
    await fresh.aclose()


async def case_cancelled_upload(b: Bound) -> None:
    assert (
        await b.client.post(f"/api/uploads/{b.e.upload['id']}/cancel", headers=b.world.alice.headers)
    ).status_code == 204
    await b.refused(b.part(), "upload is cancelled")


async def case_completed_upload(b: Bound) -> None:
    data = b"z" * 100
    body = {"dataset_id": b.world.dataset["id"], "name": "small.txt", "size": len(data)}
    small = EvaporateClient(
        api=b.client, upload=(await b.client.post("/api/uploads", json=body, headers=b.world.alice.headers)).json()
    )
    await small.upload_bytes(data)
    assert (
        await b.client.post(f"/api/uploads/{small.upload['id']}/complete", headers=b.world.alice.headers)
    ).status_code == 200
    await b.refused(
        small.request("GET", f"?uploadId={small.s3_upload_id}&part-number-marker=0"),
        "upload is completed",
        token=small.upload["sign_params"]["upload_token"],
    )
    await small.aclose()


async def case_expired_upload(b: Bound) -> None:
    fresh = EvaporateClient(api=b.client, upload=await _start(b.client, b.world, "e.bam"))
    conn = await asyncpg.connect(_dsn(b.database_url))
    await conn.execute(
        "UPDATE upload_sessions SET expires_at = now() - interval '1 minute' WHERE id = $1",
        uuid.UUID(fresh.upload["id"]),
    )
    await conn.close()
    await b.refused(
        fresh.request("POST", "?uploads"), "upload has expired", token=fresh.upload["sign_params"]["upload_token"]
    )
    await fresh.aclose()


async def case_uploader_lost_write_access(b: Bound) -> None:
    fresh = EvaporateClient(api=b.client, upload=await _start(b.client, b.world, "f.bam"))
    idp: LocalIdP = b.world.alice.idp  # type: ignore[attr-defined]
    # alice leaves lab-a: her next login carries no groups
    me = await b.client.get("/api/auth/me", headers={"Authorization": f"Bearer {idp.token('alice', [])}"})
    assert me.json()["groups"] == []
    await b.refused(
        fresh.request("POST", "?uploads"), "may no longer write", token=fresh.upload["sign_params"]["upload_token"]
    )
    await fresh.aclose()


async def case_duplicate_header_line(b: Bound) -> None:
    query = b.e.signer_query(b.part())
    lines = query["canonical_request"].split("\n")
    lines.insert(3, lines[3])
    canonical = "\n".join(lines)
    query["canonical_request"] = canonical
    query["to_sign"] = string_to_sign(query["datetime"], b.e.upload["region"], canonical)
    await b.refused_query(query, "appears twice")


CASES: list[Callable[[Bound], Any]] = [v for k, v in dict(globals()).items() if k.startswith("case_")]


def test_there_are_at_least_25_distinct_forgeries() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
async def test_forged_request_refused(bound: Bound, case: Callable[[Bound], Any], idp: LocalIdP) -> None:
    bound.world.alice.idp = idp  # type: ignore[attr-defined]
    await case(bound)
    conn = await asyncpg.connect(_dsn(bound.database_url))
    try:
        refusals = await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'upload.sign_refused'")
    finally:
        await conn.close()
    assert refusals >= 1  # every refusal is audited


async def test_legal_steps_are_signed_and_accepted_by_s3(bound: Bound) -> None:
    """The same upload's legal requests: ListParts, a part, abort; S3 accepts each signature."""
    assert set(await bound.e.list_parts()) == {1}
    await bound.e.put_part(2, b"q" * 5 * MIB)
    assert set(await bound.e.list_parts()) == {1, 2}
    aborted = await bound.e.abort()
    assert aborted.status_code == 204


async def test_missing_or_oversized_parameters_are_problems(bound: Bound) -> None:
    query = bound.e.signer_query(bound.part())
    for name in ("to_sign", "datetime", "canonical_request"):
        partial = {k: v for k, v in query.items() if k != name}
        response = await bound.client.get("/api/uploads/sign", params=partial)
        assert response.status_code == 422, name
        assert response.headers["content-type"] == "application/problem+json"
        assert name in response.json()["detail"]
    response = await bound.client.get("/api/uploads/sign", params={**query, "to_sign": "x" * 5000})
    assert response.status_code == 422
    response = await bound.client.get("/api/uploads/sign", params={**query, "canonical_request": "é"})
    assert response.status_code == 422
    without_token = {k: v for k, v in query.items() if k != "upload_token"}
    response = await bound.client.get("/api/uploads/sign", params=without_token)
    assert response.status_code == 403 and response.json()["code"] == "signing-refused"


async def test_forged_tokens_cannot_flood_the_audit_table(bound: Bound) -> None:
    """Refusals without a valid upload token are audited at a bounded rate; every one is still a 403."""
    query = bound.e.signer_query(bound.part())
    for i in range(40):
        response = await bound.client.get("/api/uploads/sign", params={**query, "upload_token": f"forged-{i}"})
        assert response.status_code == 403
    conn = await asyncpg.connect(_dsn(bound.database_url))
    try:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE action = 'upload.sign_refused' AND target_id IS NULL"
        )
    finally:
        await conn.close()
    assert 1 <= audited <= 10
