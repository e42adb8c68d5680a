"""Token checks: OIDC JWTs against a real JWKS endpoint, API tokens, dev logins."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import asyncpg
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from omicsdm.auth.jwt import TokenVerifier
from omicsdm.embedded.seaweedfs import S3Endpoint
from omicsdm.settings import Settings
from tests.conftest import _dsn, app_client, make_settings
from tests.support.idp import LocalIdP

PROBLEM = "application/problem+json"


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


async def assert_refused(client: httpx.AsyncClient, token: str, reason: str) -> None:
    response = await me(client, token)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 401
    assert reason in body["detail"]


async def test_valid_token_gives_user_and_groups(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    response = await me(client, idp.token("alice", ["lab-a", "lab-b"]))
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["groups"] == ["lab-a", "lab-b"]  # Keycloak's leading '/' removed
    assert body["is_admin"] is False


async def test_admin_group(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    assert (await me(client, idp.token("root", ["admin"]))).json()["is_admin"] is True


async def test_groups_follow_the_latest_token(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    await me(client, idp.token("dora", ["lab-a", "lab-b"]))
    body = (await me(client, idp.token("dora", ["lab-c"]))).json()
    assert body["groups"] == ["lab-c"]


async def test_missing_and_malformed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    await assert_refused(client, "not-a-jwt", "malformed")
    await assert_refused(client, "a.b.c", "")


async def test_expired_token_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    await assert_refused(client, idp.token("alice", exp=int(time.time()) - 120), "expired")


async def test_not_yet_valid_token_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    await assert_refused(client, idp.token("alice", nbf=int(time.time()) + 600), "")


async def test_wrong_issuer_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    await assert_refused(client, idp.token("alice", iss="http://evil.example/realms/test"), "iss")


async def test_wrong_audience_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    await assert_refused(client, idp.token("alice", aud="another-app"), "aud")


async def test_missing_exp_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    key = idp.keys[0]
    claims = {"iss": idp.issuer, "aud": idp.audience, "sub": "alice"}
    await assert_refused(client, jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key), "exp")


async def test_wrong_key_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "key-1"})  # same kid, other key
    await assert_refused(client, idp.token("alice", key=stranger), "")


async def test_alg_none_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {
        "iss": idp.issuer,
        "aud": idp.audience,
        "sub": "root",
        "groups": ["/admin"],
        "exp": int(time.time()) + 300,
    }
    await assert_refused(client, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.", "")


async def test_hs256_with_public_key_as_secret_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the published RSA key."""
    public = json.dumps(idp.keys[0].as_dict(private=False)).encode()
    forged = jwt.encode(
        {"alg": "HS256", "kid": idp.keys[0].kid},
        {"iss": idp.issuer, "aud": idp.audience, "sub": "root", "exp": int(time.time()) + 300},
        OctKey.import_key(public),
    )
    await assert_refused(client, forged, "")


async def test_rotated_key_is_fetched_on_unknown_kid(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    assert (await me(client, idp.token("alice"))).status_code == 200  # JWKS now cached
    fetched = idp.jwks_requests
    new_key = idp.rotate()
    await asyncio.sleep(1.1)  # unknown-kid refetches are rate-limited to one a second
    response = await me(client, idp.token("alice", key=new_key))
    assert response.status_code == 200, response.text
    assert idp.jwks_requests == fetched + 1
    idp.keys.remove(new_key)


async def test_unknown_kid_refused(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    ghost = RSAKey.generate_key(2048, parameters={"kid": "ghost"})
    await assert_refused(client, idp.token("alice", key=ghost), "unknown key")


async def test_api_token_lifecycle(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    user = {"Authorization": f"Bearer {idp.token('erin', ['lab-a'])}"}
    created = await client.post("/api/auth/tokens", json={"name": "hpc"}, headers=user)
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert secret.startswith("odm_")

    response = await me(client, secret)
    assert response.status_code == 200
    assert response.json() == {**response.json(), "username": "erin", "groups": ["lab-a"], "via": "api-token"}

    listed = (await client.get("/api/auth/tokens", headers=user)).json()
    assert [t["name"] for t in listed] == ["hpc"]
    assert "token" not in listed[0]  # the secret is shown once only
    assert listed[0]["last_used_at"] is not None

    # a token cannot mint tokens
    minted = await client.post("/api/auth/tokens", json={"name": "x"}, headers={"Authorization": f"Bearer {secret}"})
    assert minted.status_code == 403

    revoked = await client.delete(f"/api/auth/tokens/{created.json()['id']}", headers=user)
    assert revoked.status_code == 204
    await assert_refused(client, secret, "revoked")
    await assert_refused(client, secret[:-2] + "xx", "unknown")
    again = await client.delete(f"/api/auth/tokens/{created.json()['id']}", headers=user)
    assert again.status_code == 404


async def test_dev_login_refused_outside_dev_mode(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/dev-login", json={"username": "mallory", "groups": ["admin"]})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


async def test_dev_login_in_dev_mode(database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str) -> None:
    settings = make_settings(database_url, s3, idp, bucket, dev_mode=True)
    async with app_client(settings) as client:
        login = await client.post("/api/auth/dev-login", json={"username": "demo", "groups": ["lab-demo"]})
        assert login.status_code == 200
        token = login.json()["access_token"]
        response = await me(client, token)
        assert response.status_code == 200
        assert response.json()["groups"] == ["lab-demo"]
        assert response.json()["via"] == "dev"
        # a dev token signed with another server's secret is refused
        other = make_settings(database_url, s3, idp, bucket, dev_mode=True)
        async with httpx.AsyncClient() as http:
            forged = TokenVerifier(other, http).issue_dev_token("root", ["admin"])
        assert (await me(client, forged)).status_code == 401
    # and a dev token is worthless once dev mode is off
    async with app_client(make_settings(database_url, s3, idp, bucket, secret_key=settings.secret_key)) as client:
        assert (await me(client, token)).status_code == 401


def test_placeholder_secrets_refused_outside_dev_mode(database_url: str) -> None:
    with pytest.raises(ValueError, match="OMICSDM_SECRET_KEY is a placeholder"):
        Settings(secret_key="changeme", s3={"secret_access_key": "x" * 40}, auth={"oidc_issuer": "http://i"})
    with pytest.raises(ValueError, match="OMICSDM_S3__SECRET_ACCESS_KEY is a placeholder"):
        Settings(secret_key="k" * 40, s3={"secret_access_key": "minioadmin"}, auth={"oidc_issuer": "http://i"})
    with pytest.raises(ValueError, match="at least 32"):
        Settings(secret_key="short-but-real", s3={"secret_access_key": "x" * 40}, auth={"oidc_issuer": "http://i"})
    assert Settings(dev_mode=True).dev_mode


def test_audience_is_required_outside_dev_mode() -> None:
    real = {"secret_key": "k" * 40, "s3": {"secret_access_key": "x" * 40}}
    with pytest.raises(ValueError, match="OMICSDM_AUTH__OIDC_AUDIENCE is required"):
        Settings(**real, auth={"oidc_issuer": "http://i"})
    assert Settings(**real, auth={"oidc_issuer": "http://i", "oidc_audience": "omicsdm"}).auth.oidc_audience


async def test_id_and_refresh_tokens_are_not_access_tokens(client: httpx.AsyncClient, idp: LocalIdP) -> None:
    assert (await me(client, idp.token("frank", ["lab-a"], typ="Bearer"))).status_code == 200
    await assert_refused(client, idp.token("frank", ["lab-a"], typ="ID"), "not an access token")
    await assert_refused(client, idp.token("frank", ["lab-a"], typ="Refresh"), "not an access token")
    key = idp.keys[0]
    header = {"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}
    await assert_refused(client, idp.token("frank", ["lab-a"], header=header), "not an access token")
    at_jwt = {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}
    assert (await me(client, idp.token("frank", ["lab-a"], header=at_jwt))).status_code == 200


async def test_authorized_party_allow_list(database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str) -> None:
    settings = make_settings(database_url, s3, idp, bucket, auth={"oidc_allowed_clients": "omicsdm,omicsdm-cli"})
    async with app_client(settings) as client:
        assert (await me(client, idp.token("gina", ["lab-a"], azp="omicsdm-cli"))).status_code == 200
        await assert_refused(client, idp.token("gina", ["lab-a"], azp="grafana"), "(azp)")
        await assert_refused(client, idp.token("gina", ["lab-a"]), "(azp)")


async def test_api_tokens_need_a_recent_interactive_login(
    client: httpx.AsyncClient, idp: LocalIdP, database_url: str
) -> None:
    """API tokens act with the mirrored groups; a mirror older than the limit is refused until a login."""
    user = {"Authorization": f"Bearer {idp.token('hank', ['lab-a'])}"}
    secret = (await client.post("/api/auth/tokens", json={"name": "hpc"}, headers=user)).json()["token"]
    assert (await me(client, secret)).status_code == 200
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute("UPDATE users SET last_seen_at = now() - interval '31 days' WHERE username = 'hank'")
    finally:
        await conn.close()
    stale = await me(client, secret)
    assert stale.status_code == 401 and stale.json()["code"] == "groups-stale", stale.text
    assert (await me(client, idp.token("hank", ["lab-a"]))).status_code == 200  # a login refreshes the mirror
    assert (await me(client, secret)).status_code == 200
