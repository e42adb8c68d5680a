"""Signatures per second through the full signer (upload token, cached grant, every allow-list
check, HMAC) as a ratio to a bare endpoint of the same app that only computes the HMAC.

Target (DESIGN.md): >= 0.6. Run: OMICSDM_TEST_DATABASE_URL=... .venv/bin/python -m benchmarks.signer_throughput
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import boto3
import httpx
from botocore.config import Config

from benchmarks.harness import app_process, free_port, peak_rss_mib, services, settings_for

CONCURRENCY = 32
REQUESTS = 6000
ROUNDS = 3


def add_bare_endpoint(app: Any) -> None:
    """The baseline: the same app, an endpoint that only computes the SigV4 HMAC of to_sign."""
    from fastapi.responses import PlainTextResponse

    from omicsdm.signing.sigv4 import signature

    secret = app.state  # lifespan has not run yet; read the secret from settings at call time

    async def bare(request: Any, to_sign: str, datetime: str) -> PlainTextResponse:
        settings = request.app.state.omicsdm.settings
        key = settings.s3.secret_access_key.get_secret_value()
        return PlainTextResponse(signature(key, datetime[:8], settings.s3.region, to_sign))

    del secret
    from fastapi import Request

    bare.__annotations__["request"] = Request
    app.add_api_route("/bench/hmac", bare, methods=["GET"])


def canonical(upload: dict[str, Any], s3_upload_id: str, part: int, amz_date: str) -> str:
    host = urlsplit(upload["s3_url"]).netloc
    md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
    return "\n".join(
        [
            "PUT",
            f"/{upload['bucket']}/{upload['object_key']}",
            f"partNumber={part}&uploadId={s3_upload_id}",
            f"content-md5:{md5}\ncontent-type:{upload['content_type']}\nhost:{host}\nx-amz-date:{amz_date}\n",
            "content-md5;content-type;host;x-amz-date",
            "UNSIGNED-PAYLOAD",
        ]
    )


def queries(upload: dict[str, Any], s3_upload_id: str, count: int) -> list[dict[str, str]]:
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = []
    for i in range(count):
        c = canonical(upload, s3_upload_id, 1 + i % 600, amz_date)
        digest = hashlib.sha256(c.encode()).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{amz_date[:8]}/{upload['region']}/s3/aws4_request\n{digest}"
        out.append(
            {
                "to_sign": to_sign,
                "datetime": amz_date,
                "canonical_request": c,
                "upload_token": upload["sign_params"]["upload_token"],
            }
        )
    return out


async def hammer(url: str, params: list[dict[str, str]]) -> float:
    """Requests per second with CONCURRENCY connections; every answer must be a 200."""
    it = iter(params)
    done = 0
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            for p in it:
                async with session.get(url, params=p) as response:
                    body = await response.text()
                    if response.status != 200:
                        raise RuntimeError(f"{response.status}: {body}")
                    done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - start)


def main() -> None:
    with services() as (url, s3):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = settings_for(url, s3, port)
        with app_process(settings, port, add_bare_endpoint) as proc:
            admin = {
                "Authorization": "Bearer "
                + httpx.post(f"{base}/api/auth/dev-login", json={"username": "b", "groups": ["admin"]}).json()[
                    "access_token"
                ]
            }
            project = httpx.post(f"{base}/api/projects", json={"code": "bench", "name": "b"}, headers=admin).json()
            dataset = httpx.post(
                f"{base}/api/datasets",
                json={"project_id": project["id"], "code": "d", "name": "d", "owner_group": "admin"},
                headers=admin,
            ).json()
            upload = httpx.post(
                f"{base}/api/uploads",
                json={"dataset_id": dataset["id"], "name": "big.bam", "size": 10 * 1024**3, "part_size": 16 * 1024**2},
                headers=admin,
            ).json()
            s3c = boto3.client(
                "s3",
                endpoint_url=s3.url,
                region_name=s3.region,
                aws_access_key_id=s3.access_key,
                aws_secret_access_key=s3.secret_key,
                config=Config(s3={"addressing_style": "path"}),
            )
            s3_upload_id = s3c.create_multipart_upload(Bucket="bench", Key=upload["object_key"])["UploadId"]
            full_params = queries(upload, s3_upload_id, REQUESTS)
            bare_params = [{"to_sign": p["to_sign"], "datetime": p["datetime"]} for p in full_params]
            asyncio.run(hammer(f"{base}/api/uploads/sign", full_params[:200]))  # binds the UploadId, warms up
            asyncio.run(hammer(f"{base}/bench/hmac", bare_params[:200]))
            bare, full = [], []
            for _ in range(ROUNDS):
                bare.append(asyncio.run(hammer(f"{base}/bench/hmac", bare_params)))
                full.append(asyncio.run(hammer(f"{base}/api/uploads/sign", full_params)))
            rss = peak_rss_mib(proc)
            s3c.abort_multipart_upload(Bucket="bench", Key=upload["object_key"], UploadId=s3_upload_id)
    b, f = statistics.median(bare), statistics.median(full)
    print(f"bare HMAC endpoint:        {b:8.0f} req/s  (rounds: {', '.join(f'{x:.0f}' for x in bare)})")
    print(f"full signer, every check:  {f:8.0f} req/s  (rounds: {', '.join(f'{x:.0f}' for x in full)})")
    print(f"ratio full/bare:           {f / b:8.2f}   (target >= 0.6)")
    print(f"app peak RSS:              {rss:8.1f} MiB (target < 200)")


if __name__ == "__main__":
    main()
