"""Capacity of the multi-node topology on this machine: signatures/s and overview pages/s, one replica
directly against three replicas behind HAProxy, measured with wrk (Debian's `wrk`) in one run.

    .venv/bin/python -m deploy.multinode.capacity [--seconds 8] [--files 200] [--database-url URL]

It brings the cluster of deploy/multinode/cluster.py up in a temporary directory (its own database,
dropped afterwards), records --files small files (started and completed through HAProxy, the bytes put
with the service's S3 key), binds one multipart upload, and runs wrk against
- GET /api/uploads/sign (an UploadPart of the bound upload, X-Upload-Token header: what EvaporateJS sends),
- GET /api/files?limit=50 (the overview's first page, with its total, as alice; OIDC bearer token),
each through one replica's own port and through HAProxy. docs/operations.md records the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from benchmarks.signer_throughput import sign_query
from deploy.multinode.cluster import DEFAULT_DATABASE_URL, Cluster
from sqlalchemy.engine import make_url

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str]) -> tuple[float, float]:
    """(requests/s, p99 ms); refuses a run with errors or non-2xx answers."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert rate and p99, out
    return float(rate.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)]


def seed(cluster: Cluster, files: int) -> tuple[dict[str, str], dict[str, Any], str]:
    """alice's headers, a bound pending upload and its S3 UploadId, after recording `files` files."""
    admin = {"Authorization": f"Bearer {cluster.token('root', ['admin'])}"}
    alice = {"Authorization": f"Bearer {cluster.token('alice', ['lab-a'])}"}
    s3 = cluster.s3_client()
    with httpx.Client(base_url=cluster.url, timeout=60) as api:
        project = api.post(
            "/api/projects", json={"code": "cap", "name": "Capacity", "owner_groups": ["lab-a"]}, headers=admin
        )
        project.raise_for_status()
        dataset = api.post(
            "/api/datasets",
            json={"project_id": project.json()["id"], "code": "d", "name": "d", "owner_group": "lab-a"},
            headers=alice,
        )
        dataset.raise_for_status()
        dataset_id = dataset.json()["id"]
        for i in range(files):
            body = f"file {i}\n".encode() * 100
            upload = api.post(
                "/api/uploads",
                json={"dataset_id": dataset_id, "name": f"run{i % 10}/sample_{i}.fastq.gz", "size": len(body)},
                headers=alice,
            ).json()
            s3.put_object(
                Bucket=upload["bucket"], Key=upload["object_key"], Body=body, ContentType=upload["content_type"]
            )
            api.post(f"/api/uploads/{upload['id']}/complete", json={}, headers=alice).raise_for_status()
        pending = api.post(
            "/api/uploads",
            json={"dataset_id": dataset_id, "name": "big.bam", "size": 10 * 1024**3, "part_size": 16 * 1024**2},
            headers=alice,
        ).json()
    s3_upload_id = s3.create_multipart_upload(Bucket=pending["bucket"], Key=pending["object_key"])["UploadId"]
    return alice, pending, s3_upload_id


def run(cluster: Cluster, seconds: int, files: int) -> list[tuple[str, str, int, float, float]]:
    alice, upload, s3_upload_id = seed(cluster, files)
    token = {"X-Upload-Token": upload["sign_params"]["upload_token"]}
    targets = {
        "signatures": (f"/api/uploads/sign?{urlencode(sign_query(upload, s3_upload_id, 7))}", token),
        "overview first pages": ("/api/files?limit=50", alice),
    }
    rows = []
    for what, (path, headers) in targets.items():
        for where, base in (("1 replica, direct", cluster.replicas[0].url), ("HAProxy, 3 replicas", cluster.url)):
            check = httpx.get(base + path, headers=headers)
            assert check.status_code == 200, check.text
            wrk(base + path, 8, 1, headers)  # warm-up
            for connections in (1, 32):
                rate, p99 = wrk(base + path, connections, seconds, headers)
                rows.append((what, where, connections, rate, p99))
                print(f"{what:<22} {where:<20} {connections:>3} conns  {rate:>8.0f}/s  p99 {p99:.1f} ms", flush=True)
    return rows


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL.replace("omicsdm_multinode", "omicsdm_capacity"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omicsdm-capacity-") as tmp:
        cluster = Cluster(Path(tmp), database_url=args.database_url)
        try:
            with cluster:
                print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
                started = time.monotonic()
                run(cluster, args.seconds, args.files)
                print(f"load average after: {os.getloadavg()[0]:.1f} ({time.monotonic() - started:.0f} s)")
        finally:
            asyncio.run(drop_database(args.database_url))


if __name__ == "__main__":
    main()
