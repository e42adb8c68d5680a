"""The frontend's generated API types follow the service: app -> openapi.json -> frontend/src/api/schema.d.ts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from omicsdm.app import create_app
from omicsdm.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required for the frontend checks")
    if not (FRONTEND / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
    return npm


def test_committed_openapi_json_is_the_apps_spec() -> None:
    spec = ROOT / "openapi.json"
    assert spec.is_file(), "openapi.json is missing at the repository root"
    current = create_app(Settings(dev_mode=True)).openapi()
    assert json.loads(spec.read_text()) == current, "openapi.json is stale: regenerate it from create_app().openapi()"


def test_generated_types_match_the_spec() -> None:
    result = subprocess.run(
        [_npm(), "run", "--silent", "check:api"], cwd=FRONTEND, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_evaporate_is_patched_for_the_host_port() -> None:
    """The postinstall patch ran: evaporate 2.1.4 signs Host with its port (node's own test of the file)."""
    result = subprocess.run([_npm(), "test", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    patched = (FRONTEND / "node_modules" / "evaporate" / "evaporate.js").read_text()
    assert patched.count("this.awsHost = uri(this.awsUrl).host;") == 1
    assert "uri(this.awsUrl).hostname" not in patched
