"""The embedded default: PostgreSQL (pgserver) and SeaweedFS keep their data across restarts, and
`omicsdm dev` serves a working service that Ctrl-C or SIGTERM stops completely, and whose embedded
servers stop by themselves when it is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import boto3
import httpx
from botocore.config import Config

from omicsdm.embedded.postgres import EmbeddedPostgres
from omicsdm.embedded.seaweedfs import EmbeddedSeaweedFS
from tests.conftest import _dsn


def _running(path: Path) -> list[str]:
    # -ww: without a terminal ps cuts lines at 80 columns, which would hide every process of `path`
    out = subprocess.run(["ps", "-ww", "-eo", "stat=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(path) in line and not line.startswith("Z")]


async def test_embedded_postgres_keeps_its_data(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.start()
    try:
        conn = await asyncpg.connect(_dsn(url))
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        await conn.close()
    finally:
        pg.stop()
    assert not pg.running
    again = pg.start()
    try:
        assert again == url
        conn = await asyncpg.connect(_dsn(again))
        assert await conn.fetchval("SELECT v FROM kept") == "still here"
        await conn.close()
    finally:
        pg.stop()
    pg.stop()  # a second stop is harmless


def test_embedded_seaweedfs_keeps_port_keys_and_objects(tmp_path: Path) -> None:
    weed = EmbeddedSeaweedFS(tmp_path / "s3")
    first = weed.start()
    client = boto3.client(
        "s3",
        endpoint_url=first.url,
        region_name=first.region,
        aws_access_key_id=first.access_key,
        aws_secret_access_key=first.secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        client.create_bucket(Bucket="keep")
        client.put_object(Bucket="keep", Key="a/b.txt", Body=b"durable")
    finally:
        weed.stop()
    second = weed.start()
    try:
        assert (second.url, second.access_key, second.secret_key) == (first.url, first.access_key, first.secret_key)
        assert client.get_object(Bucket="keep", Key="a/b.txt")["Body"].read() == b"durable"
    finally:
        weed.stop()
    assert _running(tmp_path / "s3") == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_dev(data: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMICSDM_")}
    return subprocess.Popen(
        [sys.executable, "-m", "omicsdm", "dev", "--data-dir", str(data), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(base: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"omicsdm dev exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("omicsdm dev did not become ready")


def _stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> str:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"{sig.name} did not stop omicsdm dev:\n{out}") from None
    return out


def _gone_soon(path: Path, timeout: float = 10) -> list[str]:
    """Processes still running on `path` once they all ended, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := _running(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_dev_command_runs_the_embedded_default(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_dev(data, port)
    try:
        _wait_ready(base, proc)
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"{base}/").status_code == 200
        login = httpx.post(f"{base}/api/auth/dev-login", json={"username": "demo", "groups": ["lab-demo"]})
        token = login.json()["access_token"]
        datasets = httpx.get(f"{base}/api/datasets", headers={"Authorization": f"Bearer {token}"}).json()
        assert [(d["project_code"], d["code"], d["permissions"]["upload"]) for d in datasets] == [
            ("demo", "demo-data", True)
        ]
    finally:
        output = _stop(proc)
    assert proc.returncode == 0, output
    assert "omicsdm is running at" in output
    assert _running(data) == [], "Ctrl-C left embedded servers running"

    # a second run reuses the data: same S3 endpoint, still one demo dataset; SIGTERM stops it as Ctrl-C does
    proc = _start_dev(data, port)
    try:
        _wait_ready(base, proc)
        token = httpx.post(f"{base}/api/auth/dev-login", json={"username": "demo", "groups": ["lab-demo"]}).json()[
            "access_token"
        ]
        datasets = httpx.get(f"{base}/api/datasets", headers={"Authorization": f"Bearer {token}"}).json()
        assert len(datasets) == 1
    finally:
        output = _stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, output
    assert _running(data) == [], "SIGTERM left embedded servers running"


def test_killed_dev_command_leaves_no_servers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    proc = _start_dev(data, port)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        servers = _running(data)
        assert any("/postgres -D " in line for line in servers), servers
        assert any("/weed " in line for line in servers), servers
    finally:
        proc.kill()
        proc.communicate()
    # weed dies with its parent (PR_SET_PDEATHSIG); the postmaster is stopped by its watchdog
    assert _gone_soon(data) == [], "SIGKILL left embedded servers running"
    assert not (data / "postgres" / "postmaster.pid").exists()  # a clean shutdown, not a crash
