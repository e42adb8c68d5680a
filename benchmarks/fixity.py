"""Fixity throughput: `omicsdm verify` re-reading and hashing stored objects, as a ratio to boto3 downloading
and hashing the same objects (s3transfer's parallel ranged GETs into hashlib) in the same run.

Target (DESIGN.md): verify/boto3 >= 0.8, and the verify process's peak RSS < 200 MiB. Run:
    OMICSDM_TEST_DATABASE_URL=... .venv/bin/python -m benchmarks.fixity [--objects 6 --mib 128 --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import psutil
from boto3.s3.transfer import TransferConfig
from sqlalchemy.engine import make_url

from benchmarks.harness import boto3_s3, peak_rss_mib, services
from omicsdm.embedded.seaweedfs import S3Endpoint

MIB = 1024 * 1024
BUCKET = "bench"


class HashWriter:
    """A non-seekable sink: s3transfer hands it the parts in order, hashlib digests them."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def s3_client(s3: S3Endpoint) -> Any:
    return boto3_s3(s3, 16)


def seed(url: str, s3: S3Endpoint, objects: int, size: int) -> list[str]:
    client = s3_client(s3)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    keys = []
    block = os.urandom(MIB)
    rows = []
    for i in range(objects):
        key = f"datasets/bench/{uuid.uuid4()}"
        body = bytearray()
        for j in range(size // MIB):
            body += block[j % 7 :] + block[: j % 7]
        data = bytes(body)
        client.upload_fileobj(
            _Reader(data), BUCKET, key, Config=TransferConfig(multipart_chunksize=16 * MIB, max_concurrency=4)
        )
        head = client.head_object(Bucket=BUCKET, Key=key)
        rows.append(
            (key, len(data), head["ETag"].strip('"'), head.get("VersionId"), hashlib.sha256(data).hexdigest(), i)
        )
        keys.append(key)

    async def insert() -> None:
        conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            gid = await conn.fetchval("INSERT INTO groups (name) VALUES ('bench') RETURNING id")
            pid = await conn.fetchval("INSERT INTO projects (code, name) VALUES ('bench', 'b') RETURNING id")
            did = await conn.fetchval(
                "INSERT INTO datasets (project_id, code, name, owner_group_id) VALUES ($1, 'b', 'b', $2) RETURNING id",
                pid,
                gid,
            )
            for key, length, etag, version_id, sha, i in rows:
                fid = await conn.fetchval(
                    "INSERT INTO files (dataset_id, name, version_count) VALUES ($1, $2, 1) RETURNING id",
                    did,
                    f"object-{i}.bin",
                )
                await conn.execute(
                    "INSERT INTO file_versions (file_id, version, object_key, s3_version_id, size, etag, sha256,"
                    " content_type, checksum_state) VALUES ($1, 1, $2, $3, $4, $5, $6, 'application/octet-stream',"
                    " 'size_only')",
                    fid,
                    key,
                    version_id,
                    length,
                    etag,
                    sha,
                )
        finally:
            await conn.close()

    asyncio.run(insert())
    return keys


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else min(len(self._data), self._at + n)
        chunk = bytes(self._data[self._at : end])
        self._at = end
        return chunk


def boto3_round(s3: S3Endpoint, keys: list[str]) -> float:
    client = s3_client(s3)
    config = TransferConfig(multipart_chunksize=16 * MIB, multipart_threshold=16 * MIB, max_concurrency=4)
    began = time.perf_counter()
    for key in keys:
        sink = HashWriter()
        client.download_fileobj(BUCKET, key, sink, Config=config)
        sink.digest.hexdigest()
    return time.perf_counter() - began


def verify_round(url: str, s3: S3Endpoint) -> tuple[float, float, float]:
    """(seconds the check took as verify reports it, wall seconds with process start, peak RSS MiB)."""
    env = {
        **os.environ,
        "OMICSDM_DEV_MODE": "true",
        "OMICSDM_DATABASE__URL": url,
        "OMICSDM_S3__ENDPOINT_URL": s3.url,
        "OMICSDM_S3__REGION": s3.region,
        "OMICSDM_S3__BUCKET": BUCKET,
        "OMICSDM_S3__ACCESS_KEY_ID": s3.access_key,
        "OMICSDM_S3__SECRET_ACCESS_KEY": s3.secret_key,
    }
    command = [sys.executable, "-m", "omicsdm", "verify", "--recheck-after-days", "0", "--json"]
    began = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # VmHWM of the child's own address space (ru_maxrss would count this big parent's pages at fork).
    peak = 0.0
    while proc.poll() is None:
        with contextlib.suppress(OSError, psutil.Error):
            peak = max(peak, peak_rss_mib(psutil.Process(proc.pid)))
        time.sleep(0.02)
    elapsed = time.perf_counter() - began
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"verify failed: {err.strip()}")
    report = json.loads(out)
    if report["by_state"] != {"verified": report["checked"]}:
        raise RuntimeError(f"verify did not verify everything: {report}")
    return report["seconds"], elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=6)
    parser.add_argument("--mib", type=int, default=128, help="size of each object")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    total = args.objects * args.mib * MIB
    with services() as (url, s3):
        keys = seed(url, s3, args.objects, args.mib * MIB)
        ours: list[float] = []
        walls: list[float] = []
        theirs: list[float] = []
        peaks: list[float] = []
        for i in range(args.rounds):
            for name in ("ours", "boto3") if i % 2 == 0 else ("boto3", "ours"):
                if name == "ours":
                    seconds, wall, peak = verify_round(url, s3)
                    ours.append(seconds)
                    walls.append(wall)
                    peaks.append(peak)
                else:
                    seconds = boto3_round(s3, keys)
                    theirs.append(seconds)
                print(f"round {i + 1} {name:5s} {total / MIB / seconds:7.1f} MiB/s", flush=True)
        ours_rate = total / MIB / statistics.median(ours)
        wall_rate = total / MIB / statistics.median(walls)
        boto_rate = total / MIB / statistics.median(theirs)
        print(f"\n{args.objects} objects x {args.mib} MiB, medians of {args.rounds} rounds:")
        print(f"  omicsdm verify (DB claims and records included):  {ours_rate:7.1f} MiB/s")
        print(f"  the same with the process's start-up (~0.8 s):     {wall_rate:7.1f} MiB/s")
        print(f"  boto3 download_fileobj + hashlib:                 {boto_rate:7.1f} MiB/s")
        print(f"  ratio verify/boto3: {ours_rate / boto_rate:.2f}  (target >= 0.8)")
        print(f"  verify process peak RSS: {max(peaks):.0f} MiB  (target < 200)")


if __name__ == "__main__":
    main()
