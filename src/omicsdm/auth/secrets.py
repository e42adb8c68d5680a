"""Opaque secrets: personal API tokens (stored hashed) and upload-scoped signing tokens (HMAC, stateless)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid

API_TOKEN_PREFIX = "odm_"


def new_api_token() -> tuple[str, str, str]:
    """Return (secret shown once, sha256 hex stored, short prefix for display)."""
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_api_token(secret), secret[: len(API_TOKEN_PREFIX) + 6]


def hash_api_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_token(value: str) -> bool:
    return value.startswith(API_TOKEN_PREFIX)


class UploadTokens:
    """`<upload uuid>.<expiry>.<mac>`: authenticates one upload to the signer, whoever holds it.

    It outlives the user's access token on purpose (a 50 GB upload takes hours) but signs nothing
    except requests for its own upload's key, and it dies with the upload (state is checked too).
    """

    def __init__(self, server_secret: str) -> None:
        self._key = hashlib.sha256(server_secret.encode() + b"/upload-token").digest()

    def issue(self, upload_id: uuid.UUID, lifetime_seconds: int) -> str:
        expiry = int(time.time()) + lifetime_seconds
        body = f"{upload_id}.{expiry}"
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str) -> uuid.UUID | None:
        """The upload id, or None when the token is forged, malformed or expired."""
        try:
            upload_id, expiry, mac = token.split(".")
            parsed = uuid.UUID(upload_id)
            expires = int(expiry)
        except ValueError:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(f"{upload_id}.{expiry}").encode()):
            return None
        if expires < time.time():
            return None
        return parsed

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class LinkTokens:
    """Download links that go through the service: `<file>.<version row>.<user>.<expiry>.<mac>`.

    The link names what to serve and on whose behalf; each use re-checks the file (deleted? corrupt?)
    and the user's access before redirecting to a presigned URL valid for seconds, so a link copied
    before "Mark deleted" stops working the moment the file is marked.
    """

    def __init__(self, server_secret: str) -> None:
        self._key = hashlib.sha256(server_secret.encode() + b"/download-link").digest()

    def issue(self, file_id: uuid.UUID, version: int, user_id: uuid.UUID, expires_at: int) -> str:
        body = f"{file_id.hex}.{version}.{user_id.hex}.{expires_at}"
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str) -> tuple[uuid.UUID, int, uuid.UUID, int] | None:
        """(file id, version, user id, expiry) when the token is genuine (expired or not); None if forged."""
        parts = token.split(".")
        if len(parts) != 5:
            return None
        body, mac = ".".join(parts[:4]), parts[4]
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            return uuid.UUID(hex=parts[0]), int(parts[1]), uuid.UUID(hex=parts[2]), int(parts[3])
        except ValueError:  # pragma: no cover - a genuine MAC means we wrote these
            return None

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
