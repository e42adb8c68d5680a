"""Projects and datasets: who creates them and who sees them."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import World


async def codes(client: httpx.AsyncClient, headers: dict[str, str], path: str = "/api/datasets") -> list[str]:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(item["code"] for item in response.json())


async def test_dataset_visibility_matrix(client: httpx.AsyncClient, world: World) -> None:
    ds = world.dataset["id"]
    for actor, visible in ((world.alice, True), (world.bob, True), (world.admin, True), (world.carol, False)):
        listed = await codes(client, actor.headers)
        one = await client.get(f"/api/datasets/{ds}", headers=actor.headers)
        assert (listed == ["rnaseq"]) is visible, actor.name
        assert one.status_code == (200 if visible else 404), actor.name
    # a stranger cannot tell a hidden dataset from a missing one
    hidden = await client.get(f"/api/datasets/{ds}", headers=world.carol.headers)
    missing = await client.get(f"/api/datasets/{uuid.uuid4()}", headers=world.carol.headers)
    # indistinguishable but for the request's own id
    assert {**hidden.json(), "request_id": None} == {**missing.json(), "request_id": None}


async def test_permissions_reported_per_dataset(client: httpx.AsyncClient, world: World) -> None:
    alice = (await client.get(f"/api/datasets/{world.dataset['id']}", headers=world.alice.headers)).json()
    bob = (await client.get(f"/api/datasets/{world.dataset['id']}", headers=world.bob.headers)).json()
    assert alice["permissions"] == {"upload": True, "manage": True, "download": True}
    assert bob["permissions"] == {"upload": False, "manage": False, "download": True}
    assert alice["owner_group"] == "lab-a"
    assert alice["shared_with"] == ["lab-b"]


async def test_public_dataset_visible_to_everyone(client: httpx.AsyncClient, world: World) -> None:
    ds = world.dataset["id"]
    assert (await client.get(f"/api/datasets/{ds}", headers=world.carol.headers)).status_code == 404
    update = await client.patch(f"/api/datasets/{ds}", json={"public": True}, headers=world.alice.headers)
    assert update.status_code == 200
    assert (await client.get(f"/api/datasets/{ds}", headers=world.carol.headers)).status_code == 200
    assert await codes(client, world.carol.headers, "/api/projects") == ["atlas"]


async def test_sharing_changes_visibility(client: httpx.AsyncClient, world: World) -> None:
    ds = world.dataset["id"]
    response = await client.patch(f"/api/datasets/{ds}", json={"shared_with": ["lab-c"]}, headers=world.alice.headers)
    assert response.json()["shared_with"] == ["lab-c"]
    assert await codes(client, world.carol.headers) == ["rnaseq"]
    assert await codes(client, world.bob.headers) == []


async def test_only_owner_group_or_admin_changes_a_dataset(client: httpx.AsyncClient, world: World) -> None:
    ds = world.dataset["id"]
    assert (
        await client.patch(f"/api/datasets/{ds}", json={"public": True}, headers=world.bob.headers)
    ).status_code == 403
    assert (
        await client.patch(f"/api/datasets/{ds}", json={"public": True}, headers=world.carol.headers)
    ).status_code == 404
    assert (
        await client.patch(f"/api/datasets/{ds}", json={"name": "R"}, headers=world.admin.headers)
    ).status_code == 200


async def test_only_admins_create_projects(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/api/projects", json={"code": "p2", "name": "P2"}, headers=world.alice.headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    dup = await client.post("/api/projects", json={"code": "atlas", "name": "again"}, headers=world.admin.headers)
    assert dup.status_code == 409


async def test_project_visibility(client: httpx.AsyncClient, world: World) -> None:
    assert await codes(client, world.alice.headers, "/api/projects") == ["atlas"]  # owner group
    assert await codes(client, world.bob.headers, "/api/projects") == ["atlas"]  # via the shared dataset
    assert await codes(client, world.carol.headers, "/api/projects") == []
    pid = world.project["id"]
    assert (await client.get(f"/api/projects/{pid}", headers=world.carol.headers)).status_code == 404
    assert (await client.get(f"/api/projects/{pid}", headers=world.bob.headers)).status_code == 200


async def test_dataset_creation_rules(client: httpx.AsyncClient, world: World) -> None:
    pid = world.project["id"]
    body = {"project_id": pid, "code": "wgs", "name": "WGS", "owner_group": "lab-b"}
    # bob's group does not own the project
    assert (await client.post("/api/datasets", json=body, headers=world.bob.headers)).status_code == 403
    # alice may not hand ownership to a group she is not in: a permission, not a malformed request
    response = await client.post("/api/datasets", json=body, headers=world.alice.headers)
    assert response.status_code == 403 and "owner_group" in response.json()["detail"]
    # a stranger cannot learn the project exists
    assert (await client.post("/api/datasets", json=body, headers=world.carol.headers)).status_code == 404
    # the same code twice in one project conflicts
    dup = {**body, "code": "rnaseq", "owner_group": "lab-a"}
    assert (await client.post("/api/datasets", json=dup, headers=world.alice.headers)).status_code == 409
    # admins may create for any group
    assert (await client.post("/api/datasets", json=body, headers=world.admin.headers)).status_code == 201
    assert await codes(client, world.bob.headers) == ["rnaseq", "wgs"]


async def test_filter_datasets_by_project(client: httpx.AsyncClient, world: World) -> None:
    other = await client.post(
        "/api/projects", json={"code": "other", "name": "O", "owner_groups": ["lab-a"]}, headers=world.admin.headers
    )
    await client.post(
        "/api/datasets",
        json={"project_id": other.json()["id"], "code": "x", "name": "X", "owner_group": "lab-a"},
        headers=world.alice.headers,
    )
    assert await codes(client, world.alice.headers) == ["rnaseq", "x"]
    assert await codes(client, world.alice.headers, f"/api/datasets?project_id={other.json()['id']}") == ["x"]
