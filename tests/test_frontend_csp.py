"""The Content-Security-Policy of the web page: what the builder allows, and that / sends it."""

from __future__ import annotations

import ast
import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from omicsdm.frontend import CSP_HEADER, IGV_STYLE_HASHES, content_security_policy, mount_frontend
from omicsdm.settings import Settings


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "dev_mode": True,
        "database": {"url": "postgresql+asyncpg://u@127.0.0.1:5432/x"},
        "s3": {"endpoint_url": "http://10.0.0.5:8333", "public_url": "https://s3.example.org"},
        "auth": {"oidc_issuer": "https://login.example.org/realms/omics"},
    }
    values.update(overrides)
    return Settings(**values)


def _directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in out, f"{name} twice"
        out[name] = values
    return out


def test_policy_is_strict_and_names_the_browsers_s3_endpoint_and_the_issuer() -> None:
    d = _directives(content_security_policy(_settings()))
    assert d["default-src"] == ["'self'"]
    assert d["script-src"] == ["'self'", "'wasm-unsafe-eval'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert d["style-src"] == ["'self'", *IGV_STYLE_HASHES]
    assert d["img-src"] == ["'self'", "data:", "blob:"]
    assert d["frame-ancestors"] == ["'none'"]
    assert d["object-src"] == ["'none'"]
    assert d["base-uri"] == ["'none'"]
    # the public S3 URL (as browsers reach it), never the internal endpoint; the issuer's origin without its path
    assert d["connect-src"] == ["'self'", "https://s3.example.org", "https://login.example.org"]
    assert "unsafe-inline" not in content_security_policy(_settings())


def test_connect_src_falls_back_to_the_endpoint_and_skips_a_missing_issuer() -> None:
    settings = _settings(s3={"endpoint_url": "http://127.0.0.1:8333"}, auth={})
    assert _directives(content_security_policy(settings))["connect-src"] == ["'self'", "http://127.0.0.1:8333"]


async def test_the_page_is_served_with_the_policy_built_or_not(tmp_path: Path) -> None:
    for built in (False, True):
        dist = tmp_path / str(built)
        dist.mkdir()
        if built:
            (dist / "index.html").write_text('<!doctype html><script type="module" src="/assets/a.js"></script>')
        app = FastAPI()
        mount_frontend(app, dist, "default-src 'self'")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answer = await client.get("/")
        assert answer.status_code == 200
        assert answer.headers[CSP_HEADER] == "default-src 'self'"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-cache"


def test_the_igv_style_hashes_match_the_installed_igv() -> None:
    """The two <style> texts igv.js inserts (its source, as npm installed it; the build copies them verbatim)."""
    source = (Path(__file__).resolve().parents[1] / "frontend/node_modules/igv/dist/igv.esm.js").read_text()
    literals = [
        re.search(r"style\.textContent = ('(?:[^'\\]|\\.)*');", source),
        re.search(r"const css = +('(?:[^'\\]|\\.)*');", source),
    ]
    assert all(literals), "igv.js inserts its styles differently now: read its source and update IGV_STYLE_HASHES"
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(ast.literal_eval(m.group(1)).encode()).digest()).decode() + "'"
        for m in literals
        if m
    ]
    assert tuple(hashes) == IGV_STYLE_HASHES
