"""`omicsdm login` approved on the web page (RFC 8628 device authorization grant), against real PostgreSQL:
pending, approve, deny, expiry, single use, the wrong user, polling too fast, the token's name and lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from omicsdm.embedded.seaweedfs import S3Endpoint
from tests.conftest import TABLES, _dsn, app_client, make_settings
from tests.support.idp import LocalIdP

MACHINE = {"client_name": "omicsdm-cli 0.1.0", "hostname": "login01.hpc.example.org"}
PROBLEM = "application/problem+json"


@pytest.fixture
async def device_client(
    database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        s3,
        idp,
        bucket,
        auth={"device_poll_seconds": 2, "device_token_days": 30, "device_code_seconds": 600},
    )
    async with app_client(settings) as client:
        yield client
    await sql(database_url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def start(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/device/authorize", json={**MACHINE, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def poll(client: httpx.AsyncClient, device_code: str) -> httpx.Response:
    return await client.post("/api/device/token", json={"device_code": device_code})


def refused(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == body["error"] == code, body
    return body


async def sql(database_url: str, statement: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        return await conn.fetch(statement)
    finally:
        await conn.close()


async def time_passes(database_url: str) -> None:
    """As if the command had waited its interval (instead of sleeping in the test)."""
    await sql(database_url, "UPDATE device_authorizations SET last_polled_at = last_polled_at - interval '1 minute'")


async def test_approved_login_gets_one_token_named_for_the_machine(
    device_client: httpx.AsyncClient, idp: LocalIdP, database_url: str
) -> None:
    client, alice = device_client, idp.token("alice", ["lab-a"])
    grant = await start(client)
    code = grant["user_code"]
    assert len(code) == 9 and code[4] == "-" and code.replace("-", "").isalpha() and code.isupper()
    assert grant["verification_uri"] == "http://127.0.0.1:8000/#/device"
    assert grant["verification_uri_complete"] == f"http://127.0.0.1:8000/#/device?code={code}"
    assert grant["interval"] == 2 and grant["expires_in"] == 600

    refused(await poll(client, grant["device_code"]), "authorization_pending")
    shown = await client.get(f"/api/device/requests/{code.lower().replace('-', ' ')}", headers=bearer(alice))
    assert shown.status_code == 200, shown.text
    page = shown.json()
    assert (page["hostname"], page["client_name"], page["state"]) == (
        MACHINE["hostname"],
        MACHINE["client_name"],
        "pending",
    )
    assert page["client_ip"] == "127.0.0.1"
    assert page["token_name"] == "login01.hpc.example.org (omicsdm-cli 0.1.0)"
    assert page["token_expires_in_days"] == 30

    approved = await client.post(f"/api/device/requests/{code}/approve", headers=bearer(alice))
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    await time_passes(database_url)
    issued = await poll(client, grant["device_code"])
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    token = issued.json()
    assert token["access_token"].startswith("odm_") and token["token_type"] == "bearer"
    assert token["username"] == "alice" and token["name"] == page["token_name"]
    assert 29 * 86400 < token["expires_in"] <= 30 * 86400

    me = await client.get("/api/auth/me", headers=bearer(token["access_token"]))
    assert me.json()["username"] == "alice" and me.json()["via"] == "api-token"
    listed = (await client.get("/api/auth/tokens", headers=bearer(alice))).json()
    assert [(t["id"], t["name"]) for t in listed] == [(token["token_id"], page["token_name"])]

    # Single use: the device code is spent, even when polled again later.
    await time_passes(database_url)
    refused(await poll(client, grant["device_code"]), "invalid_grant")
    # Only hashes are stored: neither code appears in the table.
    rows = await sql(database_url, "SELECT * FROM device_authorizations")
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert grant["device_code"] not in stored and code.replace("-", "") not in stored
    events = await sql(database_url, "SELECT action, actor_name FROM audit_events ORDER BY id")
    assert [tuple(e) for e in events][-2:] == [("device_login.approved", "alice"), ("api_token.created", "alice")]


async def test_denied_login_gets_access_denied(
    device_client: httpx.AsyncClient, idp: LocalIdP, database_url: str
) -> None:
    client, alice = device_client, idp.token("alice", ["lab-a"])
    grant = await start(client)
    denied = await client.post(f"/api/device/requests/{grant['user_code']}/deny", headers=bearer(alice))
    assert denied.status_code == 200 and denied.json()["state"] == "denied"
    refused(await poll(client, grant["device_code"]), "access_denied")
    again = await client.post(f"/api/device/requests/{grant['user_code']}/approve", headers=bearer(alice))
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    await time_passes(database_url)
    refused(await poll(client, grant["device_code"]), "access_denied")
    assert (await client.get("/api/auth/tokens", headers=bearer(alice))).json() == []


async def test_expired_code_cannot_be_approved_or_redeemed(
    device_client: httpx.AsyncClient, idp: LocalIdP, database_url: str
) -> None:
    client, alice = device_client, idp.token("alice", ["lab-a"])
    grant = await start(client)
    approved = await client.post(f"/api/device/requests/{grant['user_code']}/approve", headers=bearer(alice))
    assert approved.status_code == 200
    await sql(database_url, "UPDATE device_authorizations SET expires_at = now() - interval '1 second'")
    refused(await poll(client, grant["device_code"]), "expired_token")
    late = await start(client)
    await sql(database_url, "UPDATE device_authorizations SET expires_at = now() - interval '1 second'")
    gone = await client.post(f"/api/device/requests/{late['user_code']}/approve", headers=bearer(alice))
    assert gone.status_code == 404 and gone.json()["code"] == "not-found"
    assert (await client.get("/api/auth/tokens", headers=bearer(alice))).json() == []


async def test_polling_faster_than_the_interval_is_slowed_down(
    device_client: httpx.AsyncClient, database_url: str
) -> None:
    client = device_client
    grant = await start(client)
    refused(await poll(client, grant["device_code"]), "authorization_pending")
    assert refused(await poll(client, grant["device_code"]), "slow_down")["interval"] == 7
    assert refused(await poll(client, grant["device_code"]), "slow_down")["interval"] == 12  # stored, per code
    await time_passes(database_url)
    assert refused(await poll(client, grant["device_code"]), "authorization_pending")["interval"] == 12
    other = await start(client)  # another machine's code has its own pace
    refused(await poll(client, other["device_code"]), "authorization_pending")


async def test_the_wrong_user_or_credential_cannot_see_or_decide(
    device_client: httpx.AsyncClient, idp: LocalIdP, database_url: str
) -> None:
    client = device_client
    alice, bob = idp.token("alice", ["lab-a"]), idp.token("bob", ["lab-b"])
    grant = await start(client)
    code = grant["user_code"]
    assert (await client.post(f"/api/device/requests/{code}/approve")).status_code == 401
    assert (await client.get(f"/api/device/requests/{code}")).status_code == 401
    # An API token cannot approve logins (it could otherwise mint itself successors).
    created = await client.post("/api/auth/tokens", json={"name": "script"}, headers=bearer(alice))
    script = created.json()["token"]
    refusal = await client.post(f"/api/device/requests/{code}/approve", headers=bearer(script))
    assert refusal.status_code == 403 and refusal.json()["code"] == "forbidden"

    assert (await client.post(f"/api/device/requests/{code}/approve", headers=bearer(alice))).status_code == 200
    # Bob cannot see, approve or deny what Alice decided: to him the code does not exist.
    for method, path in (("GET", ""), ("POST", "/approve"), ("POST", "/deny")):
        response = await client.request(method, f"/api/device/requests/{code}{path}", headers=bearer(bob))
        assert response.status_code == 404, response.text
    issued = await poll(client, grant["device_code"])
    assert issued.json()["username"] == "alice"
    assert (await client.get("/api/auth/tokens", headers=bearer(bob))).json() == []
    # Codes nobody was given.
    assert (await client.get("/api/device/requests/BBBB-BBBB", headers=bearer(bob))).status_code == 404
    assert (await client.get("/api/device/requests/x", headers=bearer(bob))).status_code == 404
    refused(await poll(client, "not-a-device-code"), "invalid_grant")


async def test_token_name_and_lifetime_bounded_by_the_setting(
    device_client: httpx.AsyncClient, idp: LocalIdP, database_url: str
) -> None:
    client, alice = device_client, idp.token("alice", ["lab-a"])
    grant = await start(client, token_name="nightly pipeline", expires_in_days=365)
    await client.post(f"/api/device/requests/{grant['user_code']}/approve", headers=bearer(alice))
    token = (await poll(client, grant["device_code"])).json()
    assert token["name"] == "nightly pipeline"
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)  # capped at the setting


@pytest.mark.parametrize(
    "body",
    [{}, {"hostname": ""}, {"hostname": "h", "expires_in_days": 0}, {"hostname": "h\x00"}, {"hostname": "h", "x": 1}],
)
async def test_bad_requests_are_422(device_client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await device_client.post("/api/device/authorize", json=body)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert (await device_client.post("/api/device/token", json={"device_code": ""})).status_code == 422


async def test_tokens_never_expire_when_the_setting_is_0(
    database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str
) -> None:
    settings = make_settings(database_url, s3, idp, bucket, auth={"device_token_days": 0})
    async with app_client(settings) as client:
        grant = await start(client)
        await client.post(f"/api/device/requests/{grant['user_code']}/approve", headers=bearer(idp.token("al", [])))
        token = (await poll(client, grant["device_code"])).json()
    await sql(database_url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    assert token["expires_at"] is None and token["expires_in"] is None


async def test_starting_logins_is_rate_limited_per_address(device_client: httpx.AsyncClient, database_url: str) -> None:
    for _ in range(30):
        await start(device_client)
    refused = await device_client.post("/api/device/authorize", json=MACHINE)
    assert refused.status_code == 429 and refused.json()["code"] == "too-many-requests"
    assert len(await sql(database_url, "SELECT id FROM device_authorizations")) == 30  # nothing recorded
    await sql(database_url, "UPDATE device_authorizations SET created_at = created_at - interval '2 minutes'")
    await start(device_client)  # a minute later it works again
