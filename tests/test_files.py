"""Files: overview, history, presigned downloads, soft deletion with trash and restore, admin view."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Actor, World, app_client, make_settings
from tests.support.idp import LocalIdP
from tests.support.uploading import upload_file

PROBLEM = "application/problem+json"


async def put(
    client: httpx.AsyncClient, world: World, name: str, data: bytes, actor: Actor | None = None
) -> dict[str, Any]:
    return await upload_file(client, (actor or world.alice).headers, world.dataset["id"], name, data)


async def overview(client: httpx.AsyncClient, actor: Actor, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/files", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def links(client: httpx.AsyncClient, actor: Actor, *items: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/files/download-urls", json={"items": list(items)}, headers=actor.headers)


async def test_versions_download_exact_bytes_with_their_name(client: httpx.AsyncClient, world: World) -> None:
    v1 = await put(client, world, "results/counts matrix.tsv", b"gene\tcount\nA\t1\n")
    v2 = await put(client, world, "results/counts matrix.tsv", b"gene\tcount\nA\t2\nB\t3\n")
    assert (v1["file_id"], v1["version"], v2["version"]) == (v2["file_id"], 1, 2)

    detail = (await client.get(f"/api/files/{v1['file_id']}", headers=world.bob.headers)).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["version"] == 2
    assert detail["permissions"] == {"manage": False, "download": True}
    assert all(v["submitted_by"] == "alice" and v["checksum_state"] == "verified" for v in detail["versions"])

    response = await links(client, world.bob, {"file_id": v1["file_id"]}, {"file_id": v1["file_id"], "version": 1})
    assert response.status_code == 200, response.text
    latest, first = response.json()["items"]
    async with httpx.AsyncClient() as s3:
        got_latest = await s3.get(latest["url"])
        got_first = await s3.get(first["url"])
    assert got_latest.content == b"gene\tcount\nA\t2\nB\t3\n"
    assert got_first.content == b"gene\tcount\nA\t1\n"
    assert got_first.headers["content-disposition"].startswith('attachment; filename="counts matrix.tsv"')
    assert (latest["version"], first["version"]) == (2, 1)

    one = await client.get(f"/api/files/{v1['file_id']}/versions/1", headers=world.bob.headers)
    assert one.json()["size"] == len(b"gene\tcount\nA\t1\n")


async def test_presigned_url_expires(database_url: str, s3: Any, idp: LocalIdP, bucket: str) -> None:
    # X-Amz-Date counts whole seconds: a 1 s URL made late in a second lives a fraction of it. 3 s is
    # long enough to fetch once on a busy machine, short enough to wait out.
    settings = make_settings(database_url, s3, idp, bucket, s3={"download_url_expiry_seconds": 3})
    headers = {"Authorization": f"Bearer {idp.token('root', ['admin'])}"}
    async with app_client(settings) as client:
        project = (await client.post("/api/projects", json={"code": "exp", "name": "e"}, headers=headers)).json()
        dataset = (
            await client.post(
                "/api/datasets",
                json={"project_id": project["id"], "code": "d", "name": "d", "owner_group": "admin"},
                headers=headers,
            )
        ).json()
        version = await upload_file(client, headers, dataset["id"], "short-lived.txt", b"now you see me")
        url = await links(client, Actor("root", [], headers["Authorization"][7:]), {"file_id": version["file_id"]})
        target = url.json()["items"][0]["url"]
        async with httpx.AsyncClient() as s3c:
            assert (await s3c.get(target)).content == b"now you see me"
            await asyncio.sleep(4.5)
            assert (await s3c.get(target)).status_code == 403
            tampered = target.replace("X-Amz-Expires=3", "X-Amz-Expires=999")
            assert tampered != target
            assert (await s3c.get(tampered)).status_code == 403


async def test_soft_delete_trash_and_restore(client: httpx.AsyncClient, world: World, s3_admin: Any) -> None:
    v1 = await put(client, world, "tumour.bam", b"v1")
    v2 = await put(client, world, "tumour.bam", b"v2-bytes")
    keep = await put(client, world, "normal.bam", b"n")
    file_id = v1["file_id"]

    assert (await client.post(f"/api/files/{file_id}/delete", headers=world.bob.headers)).status_code == 403
    assert (await client.post(f"/api/files/{file_id}/delete", headers=world.carol.headers)).status_code == 404
    deleted = await client.post(f"/api/files/{file_id}/delete", headers=world.alice.headers)
    assert deleted.status_code == 200
    assert deleted.json()["deleted_by"] == "alice"
    assert deleted.json()["permissions"]["download"] is False

    names = [f["name"] for f in (await overview(client, world.alice))["items"]]
    assert names == ["normal.bam"]
    assert (await overview(client, world.alice, name="tumour"))["items"] == []
    assert (await overview(client, world.alice, name="tumour"))["total"] == 0
    for actor in (world.alice, world.bob, world.admin):
        assert (await links(client, actor, {"file_id": file_id})).status_code == 404
        assert (await links(client, actor, {"file_id": file_id, "version": 1})).status_code == 404
        assert (await client.get(f"/api/files/{file_id}/download", headers=actor.headers)).status_code == 404
        manifest = await client.post(
            "/api/files/manifest", json={"items": [{"file_id": file_id}]}, headers=actor.headers
        )
        assert manifest.status_code == 404
    assert (await client.get(f"/api/files/{file_id}", headers=world.bob.headers)).status_code == 404
    trash = await client.get("/api/trash", headers=world.alice.headers)
    assert [f["name"] for f in trash.json()["items"]] == ["tumour.bam"]
    assert (await client.get("/api/trash", headers=world.bob.headers)).json()["items"] == []

    # the bucket is untouched: every version's object is still there
    for version in (v1, v2):
        assert s3_admin.head_object(Bucket=version["bucket"], Key=version["object_key"])["ContentLength"] > 0

    restored = await client.post(f"/api/files/{file_id}/restore", headers=world.alice.headers)
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert [v["version"] for v in restored.json()["versions"]] == [2, 1]
    response = await links(client, world.bob, {"file_id": file_id, "version": 1})
    async with httpx.AsyncClient() as s3c:
        assert (await s3c.get(response.json()["items"][0]["url"])).content == b"v1"
    assert {f["name"] for f in (await overview(client, world.alice))["items"]} == {"tumour.bam", "normal.bam"}
    assert keep["version"] == 1


async def test_reupload_of_a_deleted_name_restores_it_as_a_new_version(client: httpx.AsyncClient, world: World) -> None:
    v1 = await put(client, world, "sample.vcf", b"old")
    await client.post(f"/api/files/{v1['file_id']}/delete", headers=world.alice.headers)
    v2 = await put(client, world, "sample.vcf", b"new")
    assert v2["file_id"] == v1["file_id"]
    assert v2["version"] == 2
    assert v2["restored"] is True
    row = (await overview(client, world.alice))["items"][0]
    assert (row["name"], row["version"], row["deleted_at"]) == ("sample.vcf", 2, None)


async def test_comment_and_annotations(client: httpx.AsyncClient, world: World) -> None:
    a = await put(client, world, "a.h5ad", b"a")
    await put(client, world, "b.h5ad", b"b")
    body = {"comment": "after QC", "annotations": {"assay": "scRNA-seq", "tissue": "liver"}}
    assert (await client.patch(f"/api/files/{a['file_id']}", json=body, headers=world.bob.headers)).status_code == 403
    response = await client.patch(f"/api/files/{a['file_id']}", json=body, headers=world.alice.headers)
    assert response.status_code == 200
    assert response.json()["comment"] == "after QC"
    found = await overview(client, world.bob, annotation=["assay=scRNA-seq", "tissue=liver"])
    assert [f["name"] for f in found["items"]] == ["a.h5ad"]
    assert (await overview(client, world.bob, annotation="assay=bulk"))["items"] == []
    bad = await client.patch(
        f"/api/files/{a['file_id']}", json={"annotations": {"bad key": "x"}}, headers=world.alice.headers
    )
    assert bad.status_code == 422


async def test_project_can_forbid_downloads_by_non_owners(client: httpx.AsyncClient, world: World) -> None:
    project = await client.post(
        "/api/projects",
        json={"code": "closed", "name": "c", "owner_groups": ["lab-a"], "file_download_allowed": False},
        headers=world.admin.headers,
    )
    dataset = await client.post(
        "/api/datasets",
        json={
            "project_id": project.json()["id"],
            "code": "d",
            "name": "d",
            "owner_group": "lab-a",
            "shared_with": ["lab-b"],
        },
        headers=world.alice.headers,
    )
    version = await upload_file(client, world.alice.headers, dataset.json()["id"], "x.txt", b"x")
    assert (await links(client, world.bob, {"file_id": version["file_id"]})).status_code == 403
    assert (await links(client, world.alice, {"file_id": version["file_id"]})).status_code == 200
    detail = (await client.get(f"/api/files/{version['file_id']}", headers=world.bob.headers)).json()
    assert detail["permissions"]["download"] is False


async def test_manifest_json_and_tsv_and_redirect(client: httpx.AsyncClient, world: World) -> None:
    a = await put(client, world, "m/a.txt", b"alpha")
    b = await put(client, world, "m/b.txt", b"beta")
    body = {"items": [{"file_id": a["file_id"]}, {"file_id": b["file_id"]}]}
    as_json = await client.post("/api/files/manifest", json=body, headers=world.bob.headers)
    assert [i["name"] for i in as_json.json()["items"]] == ["m/a.txt", "m/b.txt"]
    as_tsv = await client.post("/api/files/manifest?format=tsv", json=body, headers=world.bob.headers)
    assert as_tsv.headers["content-type"].startswith("text/tab-separated-values")
    rows = list(csv.DictReader(io.StringIO(as_tsv.text), delimiter="\t"))
    assert [(r["name"], r["size"]) for r in rows] == [("m/a.txt", "5"), ("m/b.txt", "4")]
    # The TSV's url is the service's link (at the public URL): follow it through the app, then S3.
    link = rows[1]["url"]
    assert link.startswith("http://127.0.0.1:8000/api/links/")
    followed = await client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert followed.status_code == 302
    async with httpx.AsyncClient() as s3c:
        assert (await s3c.get(followed.headers["location"])).content == b"beta"

    redirect = await client.get(f"/api/files/{a['file_id']}/download", headers=world.bob.headers)
    assert redirect.status_code == 302
    async with httpx.AsyncClient() as s3c:
        assert (await s3c.get(redirect.headers["location"])).content == b"alpha"
    old = await client.get(f"/api/files/{a['file_id']}/download?version=9", headers=world.bob.headers)
    assert old.status_code == 404


async def test_authorization_matrix(client: httpx.AsyncClient, world: World) -> None:
    """Every endpoint of the files API for anonymous, stranger, shared member, owner, admin, and public."""
    f = (await put(client, world, "matrix.txt", b"m"))["file_id"]
    sel = {"items": [{"file_id": f}]}
    endpoints: list[tuple[str, str, Any]] = [
        ("GET", "/api/files", None),
        ("GET", f"/api/files/{f}", None),
        ("GET", f"/api/files/{f}/versions/1", None),
        ("PATCH", f"/api/files/{f}", {"comment": "c"}),
        ("POST", "/api/files/download-urls", sel),
        ("POST", "/api/files/manifest", sel),
        ("GET", f"/api/files/{f}/download", None),
        ("POST", f"/api/files/{f}/delete", None),
        ("POST", f"/api/files/{f}/restore", None),
        ("GET", "/api/trash", None),
        ("GET", "/api/admin/files", None),
        ("GET", f"/api/admin/files/{f}/audit", None),
    ]
    ok = {200, 302}
    expected = {
        # stranger: the file does not exist for them; listings are empty
        "carol": [200, 404, 404, 404, 404, 404, 404, 404, 404, 200, 403, 403],
        "bob": [200, 200, 200, 403, 200, 200, 302, 403, 403, 200, 403, 403],
        "alice": [200, 200, 200, 200, 200, 200, 302, 200, 200, 200, 403, 403],
        "root": [200, 200, 200, 200, 200, 200, 302, 200, 200, 200, 200, 200],
    }
    for method, path, body in endpoints:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["content-type"] == PROBLEM
    for actor in (world.carol, world.bob, world.alice, world.admin):
        for (method, path, body), status in zip(endpoints, expected[actor.name], strict=True):
            response = await client.request(method, path, json=body, headers=actor.headers)
            assert response.status_code == status, (actor.name, method, path, response.text)
            if status not in ok:
                assert response.headers["content-type"] == PROBLEM
    listed = await overview(client, world.carol)
    assert listed["items"] == [] and listed["total"] == 0
    # once the dataset is public, the stranger reads and downloads like a shared member
    await client.patch(f"/api/datasets/{world.dataset['id']}", json={"public": True}, headers=world.alice.headers)
    for (method, path, body), status in zip(endpoints, expected["bob"], strict=True):
        response = await client.request(method, path, json=body, headers=world.carol.headers)
        assert response.status_code == status, ("public", method, path, response.text)
    assert (await overview(client, world.carol))["items"][0]["visibility"] == "public"


async def test_admin_sees_deleted_files_and_the_audit_trail(client: httpx.AsyncClient, world: World) -> None:
    v = await put(client, world, "audited.bin", b"1")
    await links(client, world.bob, {"file_id": v["file_id"]})
    await client.post(f"/api/files/{v['file_id']}/delete", headers=world.alice.headers)
    await client.post(f"/api/files/{v['file_id']}/restore", headers=world.alice.headers)
    await client.post(f"/api/files/{v['file_id']}/delete", headers=world.alice.headers)
    everything = (await client.get("/api/admin/files", headers=world.admin.headers)).json()
    assert [f["name"] for f in everything["items"]] == ["audited.bin"]
    only_live = (await client.get("/api/admin/files?deleted=false", headers=world.admin.headers)).json()
    assert only_live["items"] == []
    trail = (await client.get(f"/api/admin/files/{v['file_id']}/audit", headers=world.admin.headers)).json()
    actions = [e["action"] for e in trail]
    assert actions == [
        "upload.started",
        "upload.completed",
        "file.download_url",
        "file.deleted",
        "file.restored",
        "file.deleted",
    ]
    assert trail[2]["actor"] == "bob"


async def test_walking_pages_returns_every_file_once_during_uploads(client: httpx.AsyncClient, world: World) -> None:
    before = [await put(client, world, f"batch/f{i:02d}.txt", b"x" * (i + 1)) for i in range(23)]
    expected = {v["file_id"] for v in before}

    async def walk(sort: str) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 5, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = await overview(client, world.bob, **params)
            seen += [f["id"] for f in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen
            await put(client, world, f"late/{uuid.uuid4().hex}.txt", b"new")  # concurrent uploads meanwhile

    for sort in ("-submitted_at", "name", "-size", "submitter", "version", "dataset"):
        seen = await walk(sort)
        assert len(seen) == len(set(seen)), f"duplicates while sorting by {sort}"
        assert expected <= set(seen), f"files lost while sorting by {sort}"


async def test_sorting_and_filters_combine(client: httpx.AsyncClient, world: World) -> None:
    for name, data in (("b.fastq.gz", b"22"), ("a.fastq.gz", b"1"), ("c.bam", b"333"), ("A2.FASTQ.GZ", b"4444")):
        await put(client, world, name, data)
    page = await overview(client, world.bob, extension="fastq.gz", sort="name")
    assert [f["name"] for f in page["items"]] == ["A2.FASTQ.GZ", "a.fastq.gz", "b.fastq.gz"]
    assert page["total"] == 3
    page = await overview(client, world.bob, extension="fastq.gz", sort="-size", limit=2)
    assert [f["size"] for f in page["items"]] == [4, 2]
    page2 = await overview(client, world.bob, extension="fastq.gz", sort="-size", limit=2, cursor=page["next_cursor"])
    assert [f["size"] for f in page2["items"]] == [1]
    assert page2["total"] is None and page2["next_cursor"] is None
    assert (await overview(client, world.bob, name="FASTQ", submitter="alice"))["total"] == 3
    assert (await overview(client, world.bob, submitter="nobody"))["total"] == 0
    assert (await overview(client, world.bob, dataset_id=world.dataset["id"], version=1))["total"] == 4
    assert (await overview(client, world.bob, project_id=world.project["id"], version=2))["total"] == 0
    assert (await overview(client, world.bob, submitted_after="2000-01-01T00:00:00Z"))["total"] == 4
    assert (await overview(client, world.bob, submitted_before="2000-01-01T00:00:00Z"))["total"] == 0
    first = (await overview(client, world.bob, sort="name"))["items"][0]
    assert first["project_code"] == "atlas" and first["dataset_code"] == "rnaseq"
    assert first["visibility"] == "shared"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/api/files/not-a-uuid", ""),
        ("/api/files/00000000-0000-0000-0000-000000000000", "file not found"),
        ("/api/files?sort=password", "cannot sort by"),
        ("/api/files?cursor=%%%", "malformed cursor"),
        ("/api/files?cursor=eyJzIjoibmFtZSJ9", "malformed cursor"),
        ("/api/files?limit=0", ""),
        ("/api/files?limit=100000", ""),
        ("/api/files?version=-1", ""),
        ("/api/files?submitted_after=yesterday", ""),
        ("/api/files?annotation=novalue", "key=value"),
        ("/api/files?project_id=12", ""),
        ("/api/files/00000000-0000-0000-0000-000000000000/versions/0", ""),
    ],
)
async def test_bad_ids_filters_and_cursors(client: httpx.AsyncClient, world: World, path: str, reason: str) -> None:
    response = await client.get(path, headers=world.alice.headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert reason in " ".join([problem["detail"], *(e["msg"] for e in problem.get("errors") or [])])


async def test_cursor_of_another_sort_is_refused(client: httpx.AsyncClient, world: World) -> None:
    for i in range(3):
        await put(client, world, f"c{i}.txt", b"c")
    cursor = (await overview(client, world.bob, limit=1, sort="name"))["next_cursor"]
    response = await client.get("/api/files", params={"cursor": cursor, "sort": "-size"}, headers=world.bob.headers)
    assert response.status_code == 422
    assert "another sort order" in response.json()["detail"]


async def test_bad_download_selections(client: httpx.AsyncClient, world: World) -> None:
    f = (await put(client, world, "sel.txt", b"s"))["file_id"]
    for body in (
        {"items": []},
        {"items": [{"file_id": "x"}]},
        {"items": [{"file_id": f, "version": 0}]},
        {"items": [{"file_id": f}] * 1001},
    ):
        response = await client.post("/api/files/download-urls", json=body, headers=world.alice.headers)
        assert response.status_code == 422, body
    missing = await links(client, world.alice, {"file_id": f}, {"file_id": str(uuid.uuid4())})
    assert missing.status_code == 404
    assert "item 1" in missing.json()["detail"]
