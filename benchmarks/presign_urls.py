"""1,000 presigned download URLs in one request vs 1,000 bare aiobotocore presign calls.

Target (DESIGN.md): the whole request (auth, visibility, version lookup, 1,000 URLs, audit rows)
in at most half the time of the bare aiobotocore loop. Run: .venv/bin/python -m benchmarks.presign_urls
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
from aiobotocore.session import get_session
from sqlalchemy.engine import make_url

from benchmarks.harness import app_process, bench_dataset, free_port, peak_rss_mib, services, settings_for
from omicsdm.signing.presign import Presigner

N = 1000
ROUNDS = 5


async def seed(url: str, dataset_id: str, user_id: str) -> list[str]:
    """1,000 files with one version each, straight into the tables (the bytes are irrelevant here)."""
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    ids = []
    try:
        async with conn.transaction():
            for i in range(N):
                fid, vid = uuid.uuid4(), uuid.uuid4()
                await conn.execute(
                    "INSERT INTO files (id, dataset_id, name, version_count, size, submitted_by) "
                    "VALUES ($1, $2, $3, 1, 1000, $4)",
                    fid,
                    uuid.UUID(dataset_id),
                    f"run/{i:04d}.fastq.gz",
                    uuid.UUID(user_id),
                )
                await conn.execute(
                    "INSERT INTO file_versions (id, file_id, version, object_key, size, etag, content_type,"
                    " checksum_state, s3_version_id) VALUES ($1, $2, 1, $3, 1000, 'e', 'application/gzip',"
                    " 'size_only', $4)",
                    vid,
                    fid,
                    f"datasets/{dataset_id}/{uuid.uuid4()}",
                    f"v{i}",
                )
                await conn.execute("UPDATE files SET latest_version_id = $1 WHERE id = $2", vid, fid)
                ids.append(str(fid))
    finally:
        await conn.close()
    return ids


async def aiobotocore_loop(s3_url: str, region: str, key: str, secret: str) -> float:
    session = get_session()
    async with session.create_client(
        "s3", endpoint_url=s3_url, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret
    ) as client:
        start = time.perf_counter()
        for i in range(N):
            await client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": "bench",
                    "Key": f"datasets/x/{i}",
                    "VersionId": f"v{i}",
                    "ResponseContentDisposition": f'attachment; filename="{i:04d}.fastq.gz"',
                },
                ExpiresIn=900,
            )
        return time.perf_counter() - start


def ours_loop(s3_url: str, region: str, key: str, secret: str) -> float:
    presigner = Presigner(s3_url, region, key, secret)
    now = datetime.now(UTC)
    start = time.perf_counter()
    for i in range(N):
        presigner.get_object(
            "bench",
            f"datasets/x/{i}",
            expires=900,
            now=now,
            version_id=f"v{i}",
            content_disposition=f'attachment; filename="{i:04d}.fastq.gz"',
        )
    return time.perf_counter() - start


def main() -> None:
    with services() as (url, s3):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with app_process(settings_for(url, s3, port), port) as proc:
            login = httpx.post(f"{base}/api/auth/dev-login", json={"username": "b", "groups": ["admin"]})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            me = httpx.get(f"{base}/api/auth/me", headers=headers).json()
            dataset = bench_dataset(base, headers)
            ids = asyncio.run(seed(url, dataset["id"], me["id"]))
            body = {"items": [{"file_id": i} for i in ids]}
            with httpx.Client(timeout=60) as http:
                http.post(f"{base}/api/files/download-urls", json=body, headers=headers)  # warm-up
                endpoint, bare, own = [], [], []
                for _ in range(ROUNDS):
                    start = time.perf_counter()
                    response = http.post(f"{base}/api/files/download-urls", json=body, headers=headers)
                    endpoint.append(time.perf_counter() - start)
                    assert response.status_code == 200 and len(response.json()["items"]) == N, response.text[:300]
                    bare.append(asyncio.run(aiobotocore_loop(s3.url, s3.region, s3.access_key, s3.secret_key)))
                    own.append(ours_loop(s3.url, s3.region, s3.access_key, s3.secret_key))
            rss = peak_rss_mib(proc)
    e, b, o = (statistics.median(x) * 1000 for x in (endpoint, bare, own))
    print(f"1,000 bare aiobotocore presigns:          {b:7.1f} ms")
    print(f"1,000 presigns, our presigner alone:       {o:7.1f} ms  ({b / o:.1f}x faster)")
    print(f"POST /api/files/download-urls (1,000):     {e:7.1f} ms  (auth, visibility, versions, URLs, audit)")
    print(f"ratio endpoint/bare:                       {e / b:7.2f}   (target <= 0.5)")
    print(f"app peak RSS:                              {rss:7.1f} MiB (target < 200)")


if __name__ == "__main__":
    main()
