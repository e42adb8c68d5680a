"""Serves the built web frontend at / (hashed assets cached for a year, index.html never)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>omicsdm</title></head>
<body><h1>omicsdm</h1><p>The web frontend is not built. Run <code>npm ci && npm run build</code> in
<code>frontend/</code>, or use the API: <a href="/docs">/docs</a>.</p></body></html>"""


class _CachedAssets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def mount_frontend(app: FastAPI, dist: Path) -> None:
    index = dist / "index.html"
    if (dist / "assets").is_dir():
        app.mount("/assets", _CachedAssets(directory=dist / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    async def index_page() -> Response:
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(PLACEHOLDER, headers={"Cache-Control": "no-cache"})
