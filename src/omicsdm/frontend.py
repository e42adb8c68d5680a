"""Serves the built web frontend at / (hashed assets cached for a year, index.html never), under a strict CSP."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from omicsdm.settings import Settings

PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>omicsdm</title></head>
<body><h1>omicsdm</h1><p>The web frontend is not built. Run <code>npm ci && npm run build</code> in
<code>frontend/</code>, or use the API: <a href="/docs">/docs</a>.</p></body></html>"""

CSP_HEADER = "Content-Security-Policy"
# igv.js (the genome browser) adds two <style> elements when it loads: its colour picker's and its circular view's.
# They are allowed by their SHA-256 and nothing else inline is; tests/test_frontend_csp.py recomputes them from
# frontend/node_modules/igv, so an igv.js upgrade that changes them fails there first.
IGV_STYLE_HASHES = (
    "'sha256-ITHmamcImsZ/Je1xrdtDLZVvRSpj1Zokb6uHXORB824='",
    "'sha256-NTwDUA6nIvRRpI2lIBtHJqkV0TlTj4HVmI6vI81fIfM='",
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The page's Content-Security-Policy: scripts, styles and workers only from this origin, no inline script.

    The session (refresh token included) lives in sessionStorage, so injected script must not run. The page talks
    to its own API, to the S3 endpoint as browsers reach it (uploads, genome-browser byte ranges) and to the OIDC
    issuer's token endpoint. 'wasm-unsafe-eval' lets hash-wasm compile its MD5/SHA-256 WebAssembly; it allows no
    JavaScript eval. igv.js styles its viewer through a constructed stylesheet, which style-src does not govern,
    and two small style elements allowed by their hashes.
    """
    connect = ["'self'", _origin(settings.s3.browser_url)]
    if settings.auth.oidc_issuer:
        connect.append(_origin(settings.auth.oidc_issuer))
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "worker-src": ["'self'"],
        "connect-src": list(dict.fromkeys(connect)),
        "img-src": ["'self'", "data:", "blob:"],
        "style-src": ["'self'", *IGV_STYLE_HASHES],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class _CachedAssets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def mount_frontend(app: FastAPI, dist: Path, csp: str) -> None:
    index = dist / "index.html"
    if (dist / "assets").is_dir():
        app.mount("/assets", _CachedAssets(directory=dist / "assets"), name="assets")
    headers = {"Cache-Control": "no-cache", CSP_HEADER: csp, "X-Content-Type-Options": "nosniff"}

    @app.get("/", include_in_schema=False)
    async def index_page() -> Response:
        if index.is_file():
            return FileResponse(index, headers=headers)
        return HTMLResponse(PLACEHOLDER, headers=headers)
