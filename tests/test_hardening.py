"""Odd input is a 4xx problem with a stable `code`, never a 500; the examples come from issue 10."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from tests.conftest import World, _dsn
from tests.support.evaporate import EvaporateClient
from tests.support.uploading import upload_file as _upload_file

PROBLEM = "application/problem+json"
HUGE = 99_999_999_999
MIB = 1024 * 1024


async def upload_file(client: httpx.AsyncClient, world: World, name: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return await _upload_file(client, world.alice.headers, world.dataset["id"], name, data, **extra)


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["code"]
    assert body["type"].endswith("/" + body["code"])
    if code is not None:
        assert body["code"] == code, body
    return body


async def test_integers_beyond_their_column_are_422(client: httpx.AsyncClient, world: World) -> None:
    h = world.admin.headers
    some_file = str(uuid.uuid4())
    for path in ("/api/files", "/api/trash", "/api/admin/files", f"/api/files/{some_file}/download"):
        assert_problem(await client.get(path, params={"version": HUGE}, headers=h), 422, "invalid-input")
    assert_problem(await client.get(f"/api/files/{some_file}/versions/{HUGE}", headers=h), 422)
    body = {"items": [{"file_id": some_file, "version": HUGE}]}
    for path in ("/api/files/download-urls", "/api/files/manifest"):
        assert_problem(await client.post(path, json=body, headers=h), 422, "invalid-input")
    start = {"dataset_id": world.dataset["id"], "name": "big.bin", "size": 2**64}
    assert_problem(await client.post("/api/uploads", json=start, headers=world.alice.headers), 422)


@pytest.mark.parametrize(
    ("size", "accepted"),
    [
        (438, True),
        (438.0, True),
        (0, True),
        (False, False),
        (True, False),
        ("438", False),
        (438.5, False),
        (None, False),
    ],
)
def test_upload_size_is_a_json_integer(size: Any, accepted: bool) -> None:
    # JSON Schema's integer includes 438.0; a boolean, a string or a fraction is no size ({"size": false} once was 0).
    from pydantic import TypeAdapter, ValidationError

    from omicsdm.schemas.common import ByteCount

    adapter = TypeAdapter(ByteCount)
    if accepted:
        for value in (adapter.validate_python(size), adapter.validate_json(json.dumps(size))):
            assert value == int(size) and type(value) is int
    else:
        for validate, raw in ((adapter.validate_python, size), (adapter.validate_json, json.dumps(size))):
            with pytest.raises(ValidationError):
                validate(raw)


async def test_boolean_upload_size_is_422(client: httpx.AsyncClient, world: World) -> None:
    start = {"dataset_id": world.dataset["id"], "name": "bool-size.bin", "size": False}
    body = assert_problem(await client.post("/api/uploads", json=start, headers=world.alice.headers), 422)
    assert body["errors"][0]["loc"] == ["body", "size"]


@pytest.mark.parametrize("field", ["name", "extension", "submitter", "annotation", "sort", "cursor"])
async def test_nul_in_query_filters_is_422(client: httpx.AsyncClient, world: World, field: str) -> None:
    value = "a\x00b" if field != "annotation" else "k=a\x00b"
    for path in ("/api/files", "/api/trash"):
        body = assert_problem(await client.get(path, params={field: value}, headers=world.alice.headers), 422)
        assert "NUL" in body["errors"][0]["msg"]


async def test_nul_in_json_fields_is_422_and_records_nothing(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    a = world.alice.headers
    project_id, dataset_id = world.project["id"], world.dataset["id"]
    cases: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        ("POST", "/api/projects", {"code": "p2", "name": "P", "owner_groups": ["g\x00"]}, world.admin.headers),
        ("POST", "/api/projects", {"code": "p2", "name": "P\x00"}, world.admin.headers),
        ("POST", "/api/projects", {"code": "p2", "name": "P", "description": "\x00"}, world.admin.headers),
        (
            "POST",
            "/api/datasets",
            {"project_id": project_id, "code": "d2", "name": "n", "owner_group": "lab-a", "shared_with": ["x\x00"]},
            a,
        ),
        ("POST", "/api/datasets", {"project_id": project_id, "code": "d2", "name": "n\x00", "owner_group": "lab-a"}, a),
        ("PATCH", f"/api/datasets/{dataset_id}", {"description": "d\x00"}, a),
        ("POST", "/api/auth/tokens", {"name": "cluster\x00"}, a),
        ("POST", "/api/uploads", {"dataset_id": dataset_id, "name": "a.txt", "size": 1, "comment": "\x00"}, a),
    ]
    for method, path, body, headers in cases:
        problem = assert_problem(await client.request(method, path, json=body, headers=headers), 422, "invalid-input")
        assert any("NUL" in e["msg"] for e in problem["errors"]), problem
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM projects") == 1
        assert await conn.fetchval("SELECT count(*) FROM datasets") == 1
        assert await conn.fetchval("SELECT count(*) FROM api_tokens") == 0
        assert await conn.fetchval("SELECT count(*) FROM upload_sessions") == 0
    finally:
        await conn.close()


async def test_nul_in_file_comment_and_annotations(client: httpx.AsyncClient, world: World) -> None:
    version = await upload_file(client, world, "notes.txt", b"hello")
    path = f"/api/files/{version['file_id']}"
    for body in ({"comment": "x\x00"}, {"annotations": {"assay": "RNA\x00"}}):
        assert_problem(await client.patch(path, json=body, headers=world.alice.headers), 422, "invalid-input")
    assert (await client.get(path, headers=world.alice.headers)).json()["comment"] == ""


def _cursor(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "forged"),
    [
        ("size", {"s": "size", "v": "abc", "i": str(uuid.UUID(int=1))}),
        ("-submitted_at", {"s": "-submitted_at", "v": 5, "i": str(uuid.UUID(int=1))}),
        ("size", {"s": "size", "v": 10**30, "i": str(uuid.UUID(int=1))}),
        ("version", {"s": "version", "v": 2**40, "i": str(uuid.UUID(int=1))}),
        ("name", {"s": "name", "v": ["x"], "i": str(uuid.UUID(int=1))}),
        ("name", {"s": "name", "v": "x", "i": "not-a-uuid"}),
        ("-submitted_at", {"s": "-submitted_at", "v": {"t": "yesterday"}, "i": str(uuid.UUID(int=1))}),
        ("name", [1, 2]),
    ],
)
async def test_forged_cursors_are_422(client: httpx.AsyncClient, world: World, sort: str, forged: Any) -> None:
    await upload_file(client, world, "a.txt", b"a")
    for path in ("/api/files", "/api/trash", "/api/admin/files"):
        params = {"sort": sort, "cursor": _cursor(forged)}
        assert_problem(await client.get(path, params=params, headers=world.admin.headers), 422, "invalid-input")


async def test_admin_pages_by_deletion_time_across_live_files(client: httpx.AsyncClient, world: World) -> None:
    """Live files have no deletion time; paging by it must still walk every file once."""
    for i in range(3):
        await upload_file(client, world, f"f{i}.txt", b"x")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "deleted_at", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = await client.get("/api/admin/files", params=params, headers=world.admin.headers)
        assert page.status_code == 200, page.text
        seen += [item["name"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["f0.txt", "f1.txt", "f2.txt"]


async def test_non_ascii_upload_token_is_refused_not_500(client: httpx.AsyncClient) -> None:
    query = {"to_sign": "x", "datetime": "20260101T000000Z", "canonical_request": "y", "upload_token": "a.1.é"}
    assert_problem(await client.get("/api/uploads/sign", params=query), 403, "signing-refused")
    del query["upload_token"]
    response = await client.get("/api/uploads/sign", params=query, headers={"X-Upload-Token": "a.1.%C3%A9"})
    assert_problem(response, 403, "signing-refused")


async def test_unknown_fields_in_download_items_are_422(client: httpx.AsyncClient, world: World) -> None:
    body = {"items": [{"file_id": str(uuid.uuid4()), "versoin": 2}]}
    problem = assert_problem(await client.post("/api/files/download-urls", json=body, headers=world.alice.headers), 422)
    assert problem["errors"][0]["type"] == "extra_forbidden"


async def test_unsupported_method_is_405_with_allow(client: httpx.AsyncClient, world: World) -> None:
    for method in ("TRACE", "PUT"):
        response = await client.request(method, "/api/projects", headers=world.admin.headers)
        assert_problem(response, 405, "method-not-allowed")
        assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


async def test_unparseable_bodies_are_4xx_problems(client: httpx.AsyncClient, world: World) -> None:
    for content in (b"{not json", b"\xff\xfe\x00", b""):
        response = await client.post(
            "/api/projects", content=content, headers={**world.admin.headers, "Content-Type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text
        assert_problem(response, response.status_code)


async def test_the_token_travels_as_a_header(client: httpx.AsyncClient, world: World) -> None:
    body = {"dataset_id": world.dataset["id"], "name": "header.bin", "size": 6 * MIB, "part_size": 5 * MIB}
    upload = (await client.post("/api/uploads", json=body, headers=world.alice.headers)).json()
    token = upload["sign_params"]["upload_token"]
    assert upload["sign_headers"] == {"X-Upload-Token": token}
    e = EvaporateClient(api=client, upload=upload)
    query = e.signer_query(e.request("POST", "?uploads"))
    del query["upload_token"]
    signed = await client.get("/api/uploads/sign", params=query, headers=upload["sign_headers"])
    assert signed.status_code == 200, signed.text
    missing = await client.get("/api/uploads/sign", params=query)
    assert_problem(missing, 403, "signing-refused")
    await e.aclose()


async def test_completion_refuses_headers_the_upload_did_not_declare(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    """An unsigned Content-Encoding at Initiate would make browsers save other bytes than recorded."""
    data = b"z" * 100
    body = {"dataset_id": world.dataset["id"], "name": "sneaky.txt", "size": len(data), "content_type": "text/plain"}
    upload = (await client.post("/api/uploads", json=body, headers=world.alice.headers)).json()
    e = EvaporateClient(api=client, upload=upload)
    await e.initiate(unsigned_headers={"Content-Encoding": "gzip"})
    await e.upload_bytes(data)
    await e.aclose()
    md5 = [hashlib.md5(data).hexdigest()]
    done = await client.post(
        f"/api/uploads/{upload['id']}/complete", json={"part_md5s": md5}, headers=world.alice.headers
    )
    problem = assert_problem(done, 409, "metadata-mismatch")
    assert "Content-Encoding" in problem["detail"]
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM file_versions") == 0
        assert await conn.fetchval("SELECT state::text FROM upload_sessions") == "pending"
    finally:
        await conn.close()


async def test_download_urls_pin_the_recorded_content_type(client: httpx.AsyncClient, world: World) -> None:
    version = await upload_file(client, world, "table.tsv", b"a\tb\n", content_type="text/tab-separated-values")
    links = await client.post(
        "/api/files/download-urls", json={"items": [{"file_id": version["file_id"]}]}, headers=world.alice.headers
    )
    query = parse_qs(urlsplit(links.json()["items"][0]["url"]).query)
    assert query["response-content-type"] == ["text/tab-separated-values"]
    async with httpx.AsyncClient() as s3:
        got = await s3.get(links.json()["items"][0]["url"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/tab-separated-values"
    assert got.content == b"a\tb\n"
