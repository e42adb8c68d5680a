"""The server commands (serve, db upgrade, janitor) fail in one line with a documented exit code,
run as the real `omicsdm` program against real PostgreSQL and SeaweedFS; --debug adds the traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from omicsdm.cli.failures import ServerExit
from omicsdm.cli.main import app as cli_app
from omicsdm.embedded.seaweedfs import S3Endpoint

UNREACHABLE_DB = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


def omicsdm(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """`omicsdm ARGS` as a separate process, with only these OMICSDM_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMICSDM_", "FORWARDED_ALLOW_IPS"))}
    return subprocess.run(
        [sys.executable, "-m", "omicsdm", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("omicsdm: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["db", "upgrade"], ["janitor"]])
def test_invalid_settings_fail_in_one_line_with_exit_2(command: list[str]) -> None:
    result = omicsdm(*command, OMICSDM_DEV_MODE="true", OMICSDM_DATABASE__URL="postgresql://postgres@db/omicsdm")
    assert result.returncode == ServerExit.CONFIG == 2
    assert one_line(result) == (
        "omicsdm: configuration error: OMICSDM_DATABASE__URL: database URL must start with postgresql+asyncpg://"
    )


def test_placeholder_secret_names_the_variable() -> None:
    result = omicsdm("db", "upgrade", OMICSDM_SECRET_KEY="changeme")
    assert result.returncode == 2
    assert "OMICSDM_SECRET_KEY is a placeholder" in one_line(result)


def test_unreachable_database_fails_in_one_line_with_exit_3() -> None:
    for command in (["db", "upgrade"], ["janitor"]):
        result = omicsdm(*command, timeout=30, OMICSDM_DEV_MODE="true", OMICSDM_DATABASE__URL=UNREACHABLE_DB)
        assert result.returncode == ServerExit.DATABASE == 3, result.stderr
        line = one_line(result)
        assert line.startswith(f"omicsdm: database unreachable ({UNREACHABLE_DB}): "), line
        assert "Connect call failed" in line


def test_refused_database_role_fails_with_exit_3(server_url: str) -> None:
    url = make_url(server_url).set(username="no_such_role", password="wrong")
    result = omicsdm(
        "db", "upgrade", OMICSDM_DEV_MODE="true", OMICSDM_DATABASE__URL=url.render_as_string(hide_password=False)
    )
    assert result.returncode == 3, result.stderr
    line = one_line(result)
    assert line.startswith("omicsdm: database refused the connection (")
    assert 'role "no_such_role" does not exist' in line
    assert "wrong" not in line  # the password is not printed


def test_wrong_s3_secret_fails_in_one_line_with_exit_4(database_url: str, s3: S3Endpoint, bucket: str) -> None:
    result = omicsdm(
        "janitor",
        OMICSDM_DEV_MODE="true",
        OMICSDM_DATABASE__URL=database_url,
        OMICSDM_S3__ENDPOINT_URL=s3.url,
        OMICSDM_S3__BUCKET=bucket,
        OMICSDM_S3__ACCESS_KEY_ID=s3.access_key,
        OMICSDM_S3__SECRET_ACCESS_KEY="not-the-secret-" + "x" * 25,
    )
    assert result.returncode == ServerExit.STORAGE == 4, result.stderr
    line = one_line(result)
    assert line.startswith(f"omicsdm: S3 refused the request ({s3.url}, bucket '{bucket}'): SignatureDoesNotMatch"), (
        line
    )
    assert s3.secret_key not in result.stderr


def test_unreachable_s3_fails_in_one_line_with_exit_4(database_url: str) -> None:
    result = omicsdm(
        "janitor",
        OMICSDM_DEV_MODE="true",
        OMICSDM_DATABASE__URL=database_url,
        OMICSDM_S3__ENDPOINT_URL="http://127.0.0.1:1",
    )
    assert result.returncode == 4, result.stderr
    assert one_line(result).startswith("omicsdm: S3 unreachable (http://127.0.0.1:1, bucket 'omicsdm'): ")


def test_debug_prints_the_traceback_then_the_same_line_and_code() -> None:
    result = omicsdm("--debug", "db", "upgrade", OMICSDM_DEV_MODE="true", OMICSDM_DATABASE__URL=UNREACHABLE_DB)
    assert result.returncode == 3
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "ConnectionRefusedError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("omicsdm: database unreachable")


def test_serve_passes_its_options_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    env: dict[str, str | None] = {"OMICSDM_DEV_MODE": "true", "FORWARDED_ALLOW_IPS": None}
    runner = CliRunner()
    assert runner.invoke(cli_app, ["serve"], env=env).exit_code == 0
    defaults = calls.pop()
    assert {k: defaults[k] for k in ("timeout_keep_alive", "timeout_graceful_shutdown", "access_log")} == {
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 30,
        "access_log": True,
    }
    assert (defaults["proxy_headers"], defaults["forwarded_allow_ips"]) == (True, "127.0.0.1")
    env |= {
        "OMICSDM_TIMEOUT_KEEP_ALIVE": "75",
        "OMICSDM_TIMEOUT_GRACEFUL_SHUTDOWN": "10",
        "OMICSDM_FORWARDED_ALLOW_IPS": "10.0.0.0/8",
        "OMICSDM_ACCESS_LOG": "false",
    }
    assert runner.invoke(cli_app, ["serve"], env=env).exit_code == 0
    configured = calls.pop()
    assert (configured["timeout_keep_alive"], configured["timeout_graceful_shutdown"]) == (75, 10)
    assert (configured["forwarded_allow_ips"], configured["access_log"]) == ("10.0.0.0/8", False)
    result = runner.invoke(cli_app, ["serve", "--forwarded-allow-ips", "*", "--access-log"], env=env)
    assert result.exit_code == 0
    assert (calls[-1]["forwarded_allow_ips"], calls[-1]["access_log"]) == ("*", True)
