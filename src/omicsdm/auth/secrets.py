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
