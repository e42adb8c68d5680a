"""OIDC access-token verification (JWKS-backed, cached) and dev-mode token issuing, via joserfc."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, OctKey

from omicsdm.auth.principal import PrincipalCache
from omicsdm.errors import NotAuthenticated, Unavailable
from omicsdm.settings import Settings

ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
DEV_ISSUER = "omicsdm-dev"
DEV_AUDIENCE = "omicsdm"
LEEWAY_SECONDS = 30
# A token naming an unknown kid may force a JWKS refetch at most this often (keys rotate rarely).
MIN_REFRESH_INTERVAL = 1.0
# `typ` of access tokens: the JOSE header's (RFC 9068) and Keycloak's claim. ID, refresh and logout
# tokens of the same realm are signed with the same keys and must not pass for access tokens.
ACCESS_TOKEN_HEADER_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
ACCESS_TOKEN_CLAIM_TYPES = frozenset({"bearer"})


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    username: str
    email: str | None
    groups: frozenset[str]
    via: str
    expires_at: float = 0.0  # the token's exp (seconds since the epoch)


def normalise_groups(raw: Any) -> frozenset[str]:
    """Keycloak sends full paths ('/lab-a'); other IdPs plain names. Both become 'lab-a'."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(g.strip().lstrip("/") for g in raw if isinstance(g, str) and g.strip().lstrip("/"))


class JwksCache:
    def __init__(self, url: str, ttl: float, http: httpx.AsyncClient) -> None:
        self._url, self._ttl, self._http = url, ttl, http
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, *, force: bool = False) -> KeySet:
        now = time.monotonic()
        fresh = self._keys is not None and now - self._fetched_at < self._ttl
        if fresh and not force:
            assert self._keys is not None
            return self._keys
        async with self._lock:
            if self._keys is not None and time.monotonic() - self._fetched_at < (
                MIN_REFRESH_INTERVAL if force else self._ttl
            ):
                return self._keys
            try:
                response = await self._http.get(self._url, timeout=5.0)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                if self._keys is None:
                    raise Unavailable(
                        f"identity provider keys unavailable: {exc}", code="identity-provider-unavailable"
                    ) from exc
            self._fetched_at = time.monotonic()
            return self._keys


class TokenVerifier:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        jwks_url = settings.auth.jwks_url
        self._jwks = JwksCache(jwks_url, settings.auth.jwks_cache_seconds, http) if jwks_url else None
        self._dev_key = OctKey.import_key(settings.secret_key.get_secret_value().encode() + b"/dev-login")
        # What this verifier's tokens resolved to, for a few seconds (services/identity.py fills it).
        self.principals = PrincipalCache()

    async def verify(self, token: str) -> Identity:
        header = _unverified_header(token)
        if self._settings.dev_mode and header.get("alg") == "HS256":
            return self._verify_dev(token)
        return await self._verify_oidc(token, header)

    def _verify_dev(self, token: str) -> Identity:
        claims = self._decode(token, self._dev_key, ["HS256"], DEV_ISSUER, DEV_AUDIENCE)
        return self._identity(claims, via="dev")

    async def _verify_oidc(self, token: str, header: dict[str, Any]) -> Identity:
        auth = self._settings.auth
        if self._jwks is None or not auth.oidc_issuer:
            raise NotAuthenticated("no identity provider is configured; use an API token")
        keys = await self._jwks.get()
        try:
            claims = self._decode(token, keys, ASYMMETRIC_ALGORITHMS, auth.oidc_issuer, auth.oidc_audience)
        except _UnknownKid:
            keys = await self._jwks.get(force=True)
            try:
                claims = self._decode(token, keys, ASYMMETRIC_ALGORITHMS, auth.oidc_issuer, auth.oidc_audience)
            except _UnknownKid as exc:
                raise NotAuthenticated("token signed with an unknown key") from exc
        _check_access_token(header, claims, auth.oidc_allowed_clients)
        return self._identity(claims, via="oidc")

    def _decode(
        self, token: str, key: KeySet | OctKey, algorithms: list[str], issuer: str, audience: str | None
    ) -> dict[str, Any]:
        try:
            decoded = jwt.decode(token, key, algorithms=algorithms)
        except InvalidKeyIdError as exc:
            raise _UnknownKid from exc
        except JoseError as exc:
            raise NotAuthenticated(f"invalid token: {exc.description or exc.error}") from exc
        except ValueError as exc:
            raise NotAuthenticated("malformed token") from exc
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": issuer},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if audience:
            options["aud"] = {"essential": True, "value": audience}
        registry = jwt.JWTClaimsRegistry(leeway=LEEWAY_SECONDS, **options)
        try:
            registry.validate(decoded.claims)
        except ExpiredTokenError as exc:
            raise NotAuthenticated("token expired") from exc
        except JoseError as exc:
            raise NotAuthenticated(f"invalid token: {exc.description or exc.error}") from exc
        return dict(decoded.claims)

    def _identity(self, claims: dict[str, Any], *, via: str) -> Identity:
        subject = str(claims["sub"])
        username = str(claims.get("preferred_username") or claims.get("name") or subject)
        email = claims.get("email")
        return Identity(
            subject=subject if via != "dev" else f"dev:{subject}",
            username=username,
            email=str(email) if email else None,
            groups=normalise_groups(claims.get(self._settings.auth.groups_claim)),
            via=via,
            expires_at=float(claims["exp"]),
        )

    def issue_dev_token(self, username: str, groups: list[str], lifetime: int = 8 * 3600) -> str:
        if not self._settings.dev_mode:
            raise NotAuthenticated("dev login is disabled")
        now = int(time.time())
        claims = {
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": username,
            "preferred_username": username,
            self._settings.auth.groups_claim: groups,
            "iat": now,
            "exp": now + lifetime,
        }
        return jwt.encode({"alg": "HS256"}, claims, self._dev_key)


class _UnknownKid(Exception):
    pass


def _check_access_token(header: dict[str, Any], claims: dict[str, Any], allowed_clients: list[str]) -> None:
    """Refuse ID/refresh tokens and tokens issued to clients not on the allow-list (when one is set)."""
    header_type = header.get("typ")
    if header_type is not None and str(header_type).lower() not in ACCESS_TOKEN_HEADER_TYPES:
        raise NotAuthenticated(f"not an access token (typ {str(header_type)[:40]!r})")
    claim_type = claims.get("typ")
    if claim_type is not None and str(claim_type).lower() not in ACCESS_TOKEN_CLAIM_TYPES:
        raise NotAuthenticated(f"not an access token (typ claim {str(claim_type)[:40]!r})")
    if allowed_clients:
        client = claims.get("azp") or claims.get("client_id")
        if client not in allowed_clients:
            raise NotAuthenticated("the token was issued to a client this service does not accept (azp)")


def _unverified_header(token: str) -> dict[str, Any]:
    """Only to route the token to the right verifier; nothing in it is trusted."""
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotAuthenticated("malformed token") from exc
    if not isinstance(header, dict):
        raise NotAuthenticated("malformed token")
    return header
