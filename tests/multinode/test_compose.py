"""compose.yaml describes the multi-node topology (replicas behind HAProxy) correctly, without Docker.

Docker cannot run here, so the file is checked as `docker compose config` would (interpolated, then
validated against the Compose Specification's JSON schema, vendored from compose-spec/compose-spec,
Apache-2.0), its wiring is checked service by service, and the HAProxy configuration it mounts is
checked by HAProxy itself (`haproxy -c`), as is the variant the multi-node test runs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deploy.multinode.cluster import haproxy_binary, local_haproxy_config

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy/multinode/haproxy.cfg"
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(text: str) -> str:
    """Compose's ${NAME:-default} with nothing set in the environment; $$ is a literal $."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", text).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(interpolate((ROOT / "compose.yaml").read_text()))
    return document


def test_compose_yaml_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    assert not errors, errors


def test_compose_runs_replicas_behind_haproxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "minio", "minio-init", "keycloak", "omicsdm", "janitor", "migrate", "proxy"} <= set(services)

    replicas = services["omicsdm"]
    assert int(replicas["deploy"]["replicas"]) >= 2
    assert "ports" not in replicas, "replicas are reached through the proxy only"
    assert replicas["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    env = replicas["environment"]
    assert env["OMICSDM_DEV_MODE"] == "false" and env["OMICSDM_AUTH__OIDC_ISSUER"]
    assert len(env["OMICSDM_SECRET_KEY"]) >= 32, "one secret key, the same for every replica"
    assert env["OMICSDM_FORWARDED_ALLOW_IPS"]
    assert services["migrate"]["command"] == ["omicsdm", "db", "upgrade"]
    assert "OMICSDM_MIGRATE_ON_START" not in env or env["OMICSDM_MIGRATE_ON_START"] == "false"

    proxy = services["proxy"]
    assert proxy["image"].startswith("haproxy:")
    assert proxy["depends_on"]["omicsdm"]["condition"] == "service_healthy"
    assert proxy["ports"] == ["127.0.0.1:8000:8000"]
    assert env["OMICSDM_PUBLIC_URL"] == "http://localhost:8000"
    published = [p for name, s in services.items() for p in s.get("ports", []) if p.endswith(":8000")]
    assert published == proxy["ports"], "only the proxy publishes the service's port"
    host, container = proxy["volumes"][0].removesuffix(":ro").split(":")
    assert container == "/usr/local/etc/haproxy/haproxy.cfg" and (ROOT / host).resolve() == HAPROXY_CFG

    for name, service in services.items():  # every file a service mounts is in the repository
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"

    config = HAPROXY_CFG.read_text()
    assert re.search(r"^\s*bind :8000$", config, re.M), "HAProxy listens on the published container port"
    template = re.search(r"^\s*server-template \S+ (\d+) omicsdm:(\d+) ", config, re.M)
    assert template, "the backend's servers are the `omicsdm` service's replicas"
    assert int(template.group(1)) >= int(replicas["deploy"]["replicas"])
    cmd = re.search(r'^CMD \[.*"--port", "(\d+)"', (ROOT / "Dockerfile").read_text(), re.M)
    assert cmd and cmd.group(1) == template.group(2), "HAProxy targets the port the image serves on"
    assert "option httpchk GET /healthz" in config


@pytest.mark.parametrize("variant", ["compose", "local"])
def test_haproxy_accepts_its_configuration(variant: str, tmp_path: Path) -> None:
    text = HAPROXY_CFG.read_text()
    if variant == "local":  # what deploy/multinode/cluster.py and the multi-node test run
        text = local_haproxy_config(text, "127.0.0.1:18000", [("omicsdm-1", 18001)], tmp_path / "haproxy.sock")
        assert "resolvers" not in text and "server omicsdm-1 127.0.0.1:18001" in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    checked = subprocess.run([haproxy_binary(), "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
