"""GA4GH DRS: every response checked against the official DRS OpenAPI documents (vendored in tests/data/drs),
every access URL fetched and its bytes compared, the error paths, and the same in DRS 1.2.0 mode."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from omicsdm.db.models import ChecksumState, Fixity
from omicsdm.embedded.seaweedfs import S3Endpoint
from omicsdm.services.drs import ObjectRow, _checksums
from omicsdm.settings import Settings
from tests.conftest import Actor, World, app_client, make_settings
from tests.support.idp import LocalIdP
from tests.support.uploading import upload_file

DATA = Path(__file__).resolve().parent / "data" / "drs"
BASE = "https://vendored.invalid/"  # where the vendored files "live", so relative $refs resolve among them
SERVICE_INFO_URL = "https://raw.githubusercontent.com/ga4gh-discovery/ga4gh-service-info/v1.0.0/service-info.yaml"
DRS = "/ga4gh/drs/v1"
CONTENT = b"@read1\nACGTACGTNN\n+\nIIIIIIIIII\n" * 200
# What DRS 1.3-1.5 added; a 1.2.0 client must not see any of it.
NEWER_ACCESS_METHOD_KEYS = {"cloud", "available", "authorizations"}
NEWER_SERVICE_INFO_KEYS = {"maxBulkRequestLength", "drs"}


# ---- the official schemas ----------------------------------------------------------------------------


def _string_keys(node: Any) -> Any:
    """YAML reads `200:` as an int; JSON pointers (and JSON) have string keys."""
    if isinstance(node, dict):
        return {str(k): _string_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_string_keys(v) for v in node]
    return node


def _load(path: Path) -> Any:
    return _string_keys(yaml.safe_load(path.read_text(encoding="utf-8")))


@cache
def _registry(version: str) -> Registry[Any]:
    root = DATA / version / "openapi"
    resources = [
        (f"{BASE}{version}/{path.relative_to(root).as_posix()}", Resource.from_contents(_load(path), DRAFT4))
        for path in root.rglob("*.yaml")
    ]
    service_info = _load(DATA / "service-info-1.0.0" / "service-info.yaml")
    resources.append((SERVICE_INFO_URL, Resource.from_contents(service_info, DRAFT4)))
    return Registry().with_resources(resources)


def validate(version: str, path: str, method: str, response: httpx.Response) -> Any:
    """The response's JSON body against the official schema for this operation and status."""
    registry = _registry(version)
    main_uri = f"{BASE}{version}/data_repository_service.openapi.yaml"
    path_uri = urljoin(main_uri, registry.contents(main_uri)["paths"][path]["$ref"])
    operation = registry.contents(path_uri)[method]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"DRS {version} declares no {response.status_code} for {method} {path}"
    if "$ref" in declared:
        schema_ref = urljoin(path_uri, declared["$ref"]) + "#/content/application~1json/schema"
    else:
        schema_ref = f"{path_uri}#/{method}/responses/{response.status_code}/content/application~1json/schema"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    jsonschema.Draft4Validator({"$ref": schema_ref}, registry=registry).validate(body)
    return body


def test_the_vendored_documents_are_the_official_ones() -> None:
    assert _load(DATA / "1.5.0" / "openapi" / "data_repository_service.openapi.yaml")["info"]["version"] == "1.5.0"
    assert _load(DATA / "1.2.0" / "openapi" / "data_repository_service.openapi.yaml")["info"]["version"] == "1.2.0"
    assert "Apache License" in (DATA / "LICENSE").read_text()
    # the validator really checks: a DRS object without checksums is refused
    bad = httpx.Response(
        200, json={"id": "x", "self_uri": "drs://h/x", "size": 1, "created_time": "2024-01-01T00:00:00Z"}
    )
    with pytest.raises(jsonschema.ValidationError):
        validate("1.5.0", "/objects/{object_id}", "get", bad)


# ---- helpers -----------------------------------------------------------------------------------------


async def put(client: httpx.AsyncClient, actor: Actor, dataset_id: str, name: str, data: bytes, **extra: Any) -> Any:
    return await upload_file(client, actor.headers, dataset_id, name, data, **extra)


async def fetch(url: str) -> bytes:
    async with httpx.AsyncClient() as s3:
        got = await s3.get(url)
    assert got.status_code == 200, got.text
    return got.content


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def check_object(
    client: httpx.AsyncClient, version: str, headers: dict[str, str], object_id: str, data: bytes
) -> dict[str, Any]:
    """GET the object and its access URL (both validated), fetch the bytes and compare them."""
    response = await client.get(f"{DRS}/objects/{object_id}", headers=headers)
    assert response.status_code == 200, response.text
    obj = validate(version, "/objects/{object_id}", "get", response)
    assert obj["id"] == object_id and obj["size"] == len(data)
    (method,) = obj["access_methods"]
    access = await client.get(f"{DRS}/objects/{object_id}/access/{method['access_id']}", headers=headers)
    assert access.status_code == 200, access.text
    url = validate(version, "/objects/{object_id}/access/{access_id}", "get", access)
    got = await fetch(url["url"])
    assert len(got) == obj["size"]
    assert sha256(got) == sha256(data)
    sums = {c["type"]: c["checksum"] for c in obj["checksums"]}
    if "sha-256" in sums:
        assert sums["sha-256"] == sha256(got)
    return obj


# ---- DRS 1.5.0 -----------------------------------------------------------------------------------------


async def test_service_info(client: httpx.AsyncClient, world: World) -> None:
    await put(client, world.alice, world.dataset["id"], "a.fastq", CONTENT)
    await put(client, world.alice, world.dataset["id"], "a.fastq", CONTENT + b"more")
    response = await client.get(f"{DRS}/service-info")
    info = validate("1.5.0", "/service-info", "get", response)
    assert info["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"}
    assert info["drs"] == {"maxBulkRequestLength": 1000, "objectCount": 2, "totalObjectSize": 2 * len(CONTENT) + 4}
    assert info["maxBulkRequestLength"] == 1000
    assert {"id", "name", "organization", "version"} <= info.keys()


async def test_object_access_and_bytes(client: httpx.AsyncClient, world: World, settings: Settings) -> None:
    ds = world.dataset["id"]
    v1 = await put(client, world.alice, ds, "runs/r1.fastq", CONTENT, sha256=sha256(CONTENT), comment="lane 1")
    v2 = await put(client, world.alice, ds, "runs/r1.fastq", CONTENT[::-1])
    assert v1["drs_id"] == v1["id"] and v1["drs_uri"] == f"drs://127.0.0.1:8000/{v1['id']}"

    obj = await check_object(client, "1.5.0", world.bob.headers, v1["id"], CONTENT)
    assert obj["self_uri"] == f"drs://127.0.0.1:8000/{v1['id']}"
    assert obj["name"] == "r1.fastq" and obj["version"] == "1" and obj["description"] == "lane 1"
    assert obj["aliases"] == ["atlas/rnaseq/runs/r1.fastq", "runs/r1.fastq@1"]
    assert obj["checksums"] == [{"type": "sha-256", "checksum": sha256(CONTENT)}]  # multipart ETag: no md5
    assert obj["created_time"] == obj["updated_time"]
    (method,) = obj["access_methods"]
    assert method["type"] == "https" and method["available"] is True
    assert method["authorizations"]["supported_types"] == ["BearerAuth"]
    assert method["authorizations"]["bearer_auth_issuers"] == [settings.auth.oidc_issuer]

    # the second version is another object, with its own bytes; without a SHA-256 the ETag is the checksum
    other = await check_object(client, "1.5.0", world.alice.headers, v2["id"], CONTENT[::-1])
    if v2["sha256"] is None:
        assert [c["type"] for c in other["checksums"]] == ["etag"]

    # the API names every version's DRS URI: history, manifests, download links
    detail = (await client.get(f"/api/files/{v1['file_id']}", headers=world.bob.headers)).json()
    assert {v["drs_uri"] for v in detail["versions"]} == {f"drs://127.0.0.1:8000/{v['id']}" for v in (v1, v2)}
    selection = {"items": [{"file_id": v1["file_id"], "version": 1}]}
    manifest = await client.post("/api/files/manifest", json=selection, headers=world.bob.headers)
    assert manifest.json()["items"][0]["drs_uri"] == obj["self_uri"]
    tsv = await client.post("/api/files/manifest?format=tsv", json=selection, headers=world.bob.headers)
    header, row = (line.split("\t") for line in tsv.text.splitlines())
    assert header[-2:] == ["drs_uri", "url"] and row[-2] == obj["self_uri"]


async def test_options_say_how_to_authorize(client: httpx.AsyncClient, world: World, settings: Settings) -> None:
    v = await put(client, world.alice, world.dataset["id"], "o.bam", CONTENT)
    response = await client.options(f"{DRS}/objects/{v['id']}", headers=world.bob.headers)
    auth = validate("1.5.0", "/objects/{object_id}", "options", response)
    assert auth == {
        "drs_object_id": v["id"],
        "supported_types": ["BearerAuth"],
        "bearer_auth_issuers": [settings.auth.oidc_issuer],
    }
    # without credentials, any id gets the same answer: it tells nobody what exists
    anonymous = await client.options(f"{DRS}/objects/{v['id']}")
    unknown = await client.options(f"{DRS}/objects/{uuid.uuid4()}")
    assert anonymous.json()["supported_types"] == unknown.json()["supported_types"] == ["BearerAuth"]
    assert (await client.options(f"{DRS}/objects/{uuid.uuid4()}", headers=world.carol.headers)).status_code == 404

    bulk = await client.request(
        "OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": [v["id"], "nope"]}, headers=world.bob.headers
    )
    body = validate("1.5.0", "/objects", "options", bulk)
    assert body["summary"] == {"requested": 2, "resolved": 1, "unresolved": 1}
    assert body["unresolved_drs_objects"] == [{"error_code": 404, "object_ids": ["nope"]}]


async def test_bulk_objects_and_access(client: httpx.AsyncClient, world: World) -> None:
    ds = world.dataset["id"]
    a = await put(client, world.alice, ds, "a.vcf", CONTENT)
    b = await put(client, world.alice, ds, "b.vcf", CONTENT * 2)
    missing = str(uuid.uuid4())
    response = await client.post(
        f"{DRS}/objects", json={"bulk_object_ids": [a["id"], b["id"], missing, a["id"]]}, headers=world.bob.headers
    )
    body = validate("1.5.0", "/objects", "post", response)
    assert body["summary"] == {"requested": 3, "resolved": 2, "unresolved": 1}
    assert [o["id"] for o in body["resolved_drs_object"]] == [a["id"], b["id"]]
    assert body["unresolved_drs_objects"] == [{"error_code": 404, "object_ids": [missing]}]

    request = {
        "bulk_object_access_ids": [
            {"bulk_object_id": a["id"], "bulk_access_ids": ["s3"]},
            {"bulk_object_id": b["id"], "bulk_access_ids": ["s3", "ftp"]},
            {"bulk_object_id": missing, "bulk_access_ids": ["s3"]},
        ]
    }
    response = await client.post(f"{DRS}/objects/access", json=request, headers=world.bob.headers)
    body = validate("1.5.0", "/objects/access", "post", response)
    assert body["summary"] == {"requested": 4, "resolved": 2, "unresolved": 2}
    assert body["unresolved_drs_objects"] == [{"error_code": 404, "object_ids": [b["id"], missing]}]
    urls = {u["drs_object_id"]: u for u in body["resolved_drs_object_access_urls"]}
    assert sha256(await fetch(urls[a["id"]]["url"])) == sha256(CONTENT)
    assert sha256(await fetch(urls[b["id"]]["url"])) == sha256(CONTENT * 2)

    # over the advertised limit: 413, for both bulk operations
    too_many = [str(uuid.uuid4()) for _ in range(1001)]
    response = await client.post(f"{DRS}/objects", json={"bulk_object_ids": too_many}, headers=world.bob.headers)
    assert response.status_code == 413
    assert validate("1.5.0", "/objects", "post", response)["status_code"] == 413
    pairs = [{"bulk_object_id": i, "bulk_access_ids": ["s3"]} for i in too_many]
    response = await client.post(
        f"{DRS}/objects/access", json={"bulk_object_access_ids": pairs}, headers=world.bob.headers
    )
    assert validate("1.5.0", "/objects/access", "post", response)["status_code"] == 413


async def test_not_found_is_indistinguishable(client: httpx.AsyncClient, world: World) -> None:
    ds = world.dataset["id"]
    v = await put(client, world.alice, ds, "secret.bam", CONTENT)
    gone = await put(client, world.alice, ds, "gone.bam", CONTENT)
    assert (await client.post(f"/api/files/{gone['file_id']}/delete", headers=world.alice.headers)).status_code == 200

    bodies = []
    for object_id, actor in [
        (str(uuid.uuid4()), world.carol),  # unknown
        ("not-a-uuid", world.carol),
        (v["id"].upper(), world.alice),  # only the canonical spelling names an object
        (v["id"], world.carol),  # another group's
        (gone["id"], world.alice),  # a deleted file's version, even for its owner
        (gone["id"], world.admin),
    ]:
        for path, template in [
            (f"{DRS}/objects/{object_id}", "/objects/{object_id}"),
            (f"{DRS}/objects/{object_id}/access/s3", "/objects/{object_id}/access/{access_id}"),
        ]:
            response = await client.get(path, headers=actor.headers)
            assert response.status_code == 404, (object_id, actor.name, response.text)
            bodies.append(validate("1.5.0", template, "get", response))
    assert {b["msg"] for b in bodies[::2]} == {"no such DRS object"}
    assert all(b["status_code"] == 404 for b in bodies)
    # an unknown access id of a readable object
    response = await client.get(f"{DRS}/objects/{v['id']}/access/ftp", headers=world.alice.headers)
    assert validate("1.5.0", "/objects/{object_id}/access/{access_id}", "get", response)["status_code"] == 404


async def test_credentials(client: httpx.AsyncClient, world: World) -> None:
    v = await put(client, world.alice, world.dataset["id"], "p.bam", CONTENT)
    for path, template in [
        (f"{DRS}/objects/{v['id']}", "/objects/{object_id}"),
        (f"{DRS}/objects/{uuid.uuid4()}", "/objects/{object_id}"),
        (f"{DRS}/objects/{v['id']}/access/s3", "/objects/{object_id}/access/{access_id}"),
    ]:
        response = await client.get(path)
        assert response.status_code == 401, response.text
        assert validate("1.5.0", template, "get", response)["status_code"] == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    bad = await client.get(f"{DRS}/objects/{v['id']}", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "msg" in bad.json()
    response = await client.post(f"{DRS}/objects", json={"bulk_object_ids": [v["id"]]})
    assert validate("1.5.0", "/objects", "post", response)["unresolved_drs_objects"] == [
        {"error_code": 401, "object_ids": [v["id"]]}
    ]
    # a malformed request is a DRS 400, not a problem+json 422
    response = await client.post(f"{DRS}/objects", json={"bulk_object_ids": "x"}, headers=world.bob.headers)
    assert response.status_code == 400 and validate("1.5.0", "/objects", "post", response)["status_code"] == 400
    # a method DRS does not have: 405 with Allow, as a DRS error
    response = await client.delete(f"{DRS}/objects/{v['id']}", headers=world.bob.headers)
    assert response.status_code == 405 and response.json()["status_code"] == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "OPTIONS"}


async def test_public_objects_need_no_credentials(client: httpx.AsyncClient, world: World) -> None:
    v = await put(client, world.alice, world.dataset["id"], "open.vcf", CONTENT)
    update = await client.patch(
        f"/api/datasets/{world.dataset['id']}", json={"public": True}, headers=world.alice.headers
    )
    assert update.status_code == 200, update.text
    obj = await check_object(client, "1.5.0", {}, v["id"], CONTENT)
    assert obj["access_methods"][0]["authorizations"]["supported_types"] == ["None", "BearerAuth"]
    assert (await client.get(f"{DRS}/objects/{uuid.uuid4()}")).status_code == 401  # unknown: still 401
    assert (await check_object(client, "1.5.0", world.carol.headers, v["id"], CONTENT))["id"] == v["id"]


async def test_download_rule_is_the_apis(client: httpx.AsyncClient, world: World) -> None:
    """A project that lets only owner groups download: readers see the object, get no bytes (403)."""
    project = await client.post(
        "/api/projects",
        json={"code": "closed", "name": "Closed", "owner_groups": ["lab-a"], "file_download_allowed": False},
        headers=world.admin.headers,
    )
    assert project.status_code == 201, project.text
    dataset = await client.post(
        "/api/datasets",
        json={
            "project_id": project.json()["id"],
            "code": "wgs",
            "name": "WGS",
            "owner_group": "lab-a",
            "shared_with": ["lab-b"],
        },
        headers=world.alice.headers,
    )
    assert dataset.status_code == 201, dataset.text
    v = await put(client, world.alice, dataset.json()["id"], "x.cram", CONTENT)
    assert (await client.get(f"{DRS}/objects/{v['id']}", headers=world.bob.headers)).status_code == 200
    response = await client.get(f"{DRS}/objects/{v['id']}/access/s3", headers=world.bob.headers)
    assert validate("1.5.0", "/objects/{object_id}/access/{access_id}", "get", response)["status_code"] == 403
    request = {"bulk_object_access_ids": [{"bulk_object_id": v["id"], "bulk_access_ids": ["s3"]}]}
    response = await client.post(f"{DRS}/objects/access", json=request, headers=world.bob.headers)
    assert response.json()["unresolved_drs_objects"] == [{"error_code": 403, "object_ids": [v["id"]]}]
    await check_object(client, "1.5.0", world.alice.headers, v["id"], CONTENT)


def _row(sha: str | None, etag: str) -> ObjectRow:
    now = datetime.now(UTC)
    return ObjectRow(
        uuid.uuid4(), 1, "k", None, 1, sha, etag, "text/plain", ChecksumState.VERIFIED, Fixity.UNCHECKED, now, None, now,
        uuid.uuid4(), "n", "", "d", 1, False, "p", True,
    )  # fmt: skip


def test_checksums() -> None:
    md5 = hashlib.md5(b"x").hexdigest()
    sha = sha256(b"x")
    pairs = lambda row: [(c.type, c.checksum) for c in _checksums(row)]  # noqa: E731
    assert pairs(_row(sha, f'"{md5}"')) == [("sha-256", sha), ("md5", md5)]  # single part: the ETag is the MD5
    assert pairs(_row(None, f'"{md5}"')) == [("md5", md5), ("etag", md5)]
    assert pairs(_row(sha, f'"{md5}-3"')) == [("sha-256", sha)]
    assert pairs(_row(None, f"{md5}-3")) == [("etag", f"{md5}-3")]


# ---- DRS 1.2.0 ---------------------------------------------------------------------------------------


@pytest.fixture
def settings_120(database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str) -> Settings:
    return make_settings(database_url, s3, idp, bucket, drs={"spec_version": "1.2.0"})


async def test_drs_1_2_0_mode(client: httpx.AsyncClient, world: World, settings_120: Settings) -> None:
    ds = world.dataset["id"]
    v = await put(client, world.alice, ds, "old.fastq", CONTENT, sha256=sha256(CONTENT))
    async with app_client(settings_120) as old:
        info = validate("1.2.0", "/service-info", "get", await old.get(f"{DRS}/service-info"))
        assert info["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"}
        assert not NEWER_SERVICE_INFO_KEYS & info.keys()

        obj = await check_object(old, "1.2.0", world.bob.headers, v["id"], CONTENT)
        (method,) = obj["access_methods"]
        assert set(method) == {"type", "access_id", "region"} and not NEWER_ACCESS_METHOD_KEYS & method.keys()
        access = await old.get(f"{DRS}/objects/{v['id']}/access/s3", headers=world.bob.headers)
        assert set(access.json()) <= {"url", "headers"}
        assert all(set(c) == {"checksum", "type"} for c in obj["checksums"])
        assert set(obj) <= {
            "id", "name", "self_uri", "size", "created_time", "updated_time", "version", "mime_type",
            "checksums", "access_methods", "contents", "description", "aliases",
        }  # fmt: skip

        for response, template in [
            (await old.get(f"{DRS}/objects/{uuid.uuid4()}", headers=world.bob.headers), "/objects/{object_id}"),
            (await old.get(f"{DRS}/objects/{v['id']}", headers=world.carol.headers), "/objects/{object_id}"),
            (await old.get(f"{DRS}/objects/{v['id']}"), "/objects/{object_id}"),
            (
                await old.get(f"{DRS}/objects/{v['id']}/access/s3", headers=world.carol.headers),
                "/objects/{object_id}/access/{access_id}",
            ),
        ]:
            assert response.status_code in (401, 404)
            validate("1.2.0", template, "get", response)


async def test_corrupt_versions_are_not_served(client: httpx.AsyncClient, world: World, database_url: str) -> None:
    import asyncpg

    from tests.conftest import _dsn

    v = await put(client, world.alice, world.dataset["id"], "bad.bam", CONTENT)
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute("UPDATE file_versions SET fixity = 'corrupt' WHERE id = $1", uuid.UUID(v["id"]))
    finally:
        await conn.close()
    obj = validate(
        "1.5.0", "/objects/{object_id}", "get", await client.get(f"{DRS}/objects/{v['id']}", headers=world.bob.headers)
    )
    assert obj["access_methods"][0]["available"] is False
    response = await client.get(f"{DRS}/objects/{v['id']}/access/s3", headers=world.bob.headers)
    assert response.status_code == 409 and response.json()["status_code"] == 409
