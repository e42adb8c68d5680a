"""A test OIDC identity provider as a process: publishes a JWKS and mints RS256 access tokens on request.

FOR TESTS AND DEMONSTRATIONS ONLY: anyone who can reach it gets a token for any user and any groups.
It binds to loopback only. The multi-node cluster (deploy/multinode/cluster.py) runs it so that every
omicsdm replica verifies real JWTs against a JWKS it fetches and caches, as with Keycloak.

    python deploy/multinode/idp.py --port 9400

Endpoints, under the issuer http://127.0.0.1:<port>/realms/test (Keycloak's layout):
    GET  /.well-known/openid-configuration
    GET  /protocol/openid-connect/certs        the JWKS (public keys; counted in /stats)
    POST /token    {"sub": "alice", "groups": ["lab-a"], "lifetime": 3600}   -> {"access_token": ...}
    POST /rotate   publish a new key (kid key-N) beside the old ones and sign with it from now on
    GET  /stats    {"jwks_requests": N, "kids": [...]}
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

REALM_PATH = "/realms/test"
AUDIENCE = "omicsdm"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Provider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "key-1"})]
        self.jwks_requests = 0
        self._lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            self.jwks_requests += 1
            return KeySet(list(self.keys)).as_dict(private=False)

    def rotate(self) -> str:
        with self._lock:
            key = RSAKey.generate_key(2048, parameters={"kid": f"key-{len(self.keys) + 1}"})
            self.keys.append(key)
            return str(key.kid)

    def token(self, sub: str, groups: list[str], lifetime: int) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "azp": AUDIENCE,
            "typ": "Bearer",
            "sub": sub,
            "preferred_username": sub,
            "groups": [f"/{g}" for g in groups],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        key = self.keys[-1]
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)

    def stats(self) -> dict[str, Any]:
        return {"jwks_requests": self.jwks_requests, "kids": [k.kid for k in self.keys]}


def handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == REALM_PATH + "/protocol/openid-connect/certs":
                self._json(200, provider.jwks())
            elif self.path == REALM_PATH + "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": provider.issuer,
                        "jwks_uri": provider.issuer + "/protocol/openid-connect/certs",
                        "token_endpoint": provider.issuer + "/token",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    },
                )
            elif self.path == REALM_PATH + "/stats":
                self._json(200, provider.stats())
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == REALM_PATH + "/token":
                    sub, groups = str(body["sub"]), [str(g) for g in body.get("groups", [])]
                    lifetime = int(body.get("lifetime", 3600))
                    self._json(200, {"access_token": provider.token(sub, groups, lifetime), "token_type": "Bearer"})
                elif self.path == REALM_PATH + "/rotate":
                    self._json(200, {"kid": provider.rotate()})
                else:
                    self._json(404, {"error": "not found"})
            except (ValueError, KeyError, TypeError) as exc:
                self._json(400, {"error": f"bad request: {exc}"})

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK, help="loopback only: it mints any token")
    parser.add_argument("--port", type=int, default=9400)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), handler(Provider("")))
    host = f"[{args.host}]" if ":" in args.host else args.host
    provider = Provider(f"http://{host}:{server.server_address[1]}{REALM_PATH}")
    server.RequestHandlerClass = handler(provider)
    print(f"test identity provider: issuer {provider.issuer}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
