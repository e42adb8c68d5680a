"""A real (tiny) OIDC key server on loopback: serves a JWKS over HTTP and mints tokens with its keys."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

REALM_PATH = "/realms/test"


class LocalIdP:
    def __init__(self) -> None:
        self.keys: list[RSAKey] = [RSAKey.generate_key(2048, parameters={"kid": "key-1"})]
        self.jwks_requests = 0
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != REALM_PATH + "/protocol/openid-connect/certs":
                    self.send_error(404)
                    return
                idp.jwks_requests += 1
                body = json.dumps(KeySet(idp.keys).as_dict(private=False)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}{REALM_PATH}"
        self.audience = "omicsdm"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def rotate(self) -> RSAKey:
        """Publish a new key (kid key-N) beside the old ones, as Keycloak does."""
        key = RSAKey.generate_key(2048, parameters={"kid": f"key-{len(self.keys) + 1}"})
        self.keys.append(key)
        return key

    def token(
        self,
        sub: str,
        groups: list[str] | None = None,
        *,
        key: RSAKey | None = None,
        lifetime: int = 300,
        header: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "preferred_username": sub,
            "groups": [f"/{g}" for g in (groups or [])],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            # Each token is new, as an IdP's are: the service reuses a token's principal for a few seconds
            # (auth/principal.py), and tests truncate the users between them.
            "jti": secrets.token_hex(8),
        }
        claims.update(overrides)
        signing_key = key or self.keys[0]
        return jwt.encode(header or {"alg": "RS256", "kid": signing_key.kid}, claims, signing_key)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
