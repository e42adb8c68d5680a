"""Bad input gets a 4xx problem+json body, never a 500, and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import World

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/datasets/not-a-uuid", None),
        ("GET", "/api/datasets?project_id=42", None),
        ("POST", "/api/projects", {"code": "has space", "name": "x"}),
        ("POST", "/api/projects", {"code": "ok", "name": ""}),
        ("POST", "/api/projects", {"code": "ok", "name": "x", "unknown": 1}),
        ("POST", "/api/projects", {"code": "ok"}),
        ("POST", "/api/projects", [1, 2]),
        ("POST", "/api/datasets", {"project_id": "nope", "code": "c", "name": "n", "owner_group": "g"}),
        ("PATCH", "/api/datasets/00000000-0000-0000-0000-000000000000", {"public": "maybe"}),
        ("POST", "/api/auth/tokens", {"name": "x", "expires_in_days": 0}),
    ],
)
async def test_validation_problems(
    client: httpx.AsyncClient, world: World, method: str, path: str, body: object
) -> None:
    response = await client.request(method, path, json=body, headers=world.admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    assert problem["title"] == "Unprocessable Entity"
    assert problem["errors"]


async def test_broken_json(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/api/projects", content=b"{not json", headers={**world.admin.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    wrong = await client.delete("/api/projects")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM


async def test_failed_request_records_nothing(client: httpx.AsyncClient, world: World) -> None:
    before = (await client.get("/api/projects", headers=world.admin.headers)).json()
    bad = await client.post("/api/projects", json={"code": "atlas", "name": "dup"}, headers=world.admin.headers)
    assert bad.status_code == 409
    after = (await client.get("/api/projects", headers=world.admin.headers)).json()
    assert before == after
