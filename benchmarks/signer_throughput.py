"""Signatures per second through the full signer (upload token, cached grant, every allow-list
check, HMAC) as a ratio to a bare endpoint of the same app that only computes the HMAC.

Production settings: dev mode off, and the run is made twice, with the production access log on
(INFO, one line per request, as `omicsdm serve` writes it, here to a file) and off. The app runs
pinned to one core, the load generator (wrk, from Debian's `wrk` package) to the other, at 1, 32 and
128 connections; each point is the median of ROUNDS wrk runs, bare and full alternating.

Targets (DESIGN.md / issue 13): rate >= 0.8 of the bare endpoint's at every connection count, with
the log on; p99 at 128 connections within 2x the bare endpoint's.

Run: OMICSDM_TEST_DATABASE_URL=... .venv/bin/python -m benchmarks.signer_throughput [--seconds 5 --rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import psutil
from fastapi import Request
from fastapi.responses import PlainTextResponse

from benchmarks.harness import app_process, bench_dataset, boto3_s3, free_port, peak_rss_mib, services, settings_for
from omicsdm.settings import Settings

CONNECTIONS = (1, 32, 128)
SERVER_CPUS = {0}
LOAD_CPU = "1"
UPLOAD_TOKEN_HEADER = "X-Upload-Token"


def add_bare_endpoint(app: Any) -> None:
    """The baseline: the same app (same middlewares), an endpoint that only computes the SigV4 HMAC."""
    from omicsdm.signing.sigv4 import signature

    async def bare(request: Request, to_sign: str, datetime: str) -> PlainTextResponse:
        settings = request.app.state.omicsdm.settings
        key = settings.s3.secret_access_key.get_secret_value()
        return PlainTextResponse(signature(key, datetime[:8], settings.s3.region, to_sign))

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


def sign_query(upload: dict[str, Any], s3_upload_id: str, part: int) -> dict[str, str]:
    """EvaporateJS's query for one UploadPart (the token goes in the header, as the web page sends it)."""
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    c = canonical(upload, s3_upload_id, part, amz_date)
    digest = hashlib.sha256(c.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{amz_date[:8]}/{upload['region']}/s3/aws4_request\n{digest}"
    return {"to_sign": to_sign, "datetime": amz_date, "canonical_request": c}


@dataclass
class Point:
    rate: float
    p99_ms: float
    cpu_us: float  # the app's CPU time (user + system) per request: robust to load from other processes


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str], app: psutil.Process | None = None) -> Point:
    command = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    before = sum(app.cpu_times()[:2]) if app else 0.0
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    cpu = sum(app.cpu_times()[:2]) - before if app else 0.0
    if "Non-2xx" in out or "Socket errors" in out:  # timeouts (10 s) included: they would hide in the p99
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    done = re.search(r"(\d+) requests in", out)
    if rate is None or p99 is None or done is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return Point(float(rate.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], cpu / int(done.group(1)) * 1e6)


def median_point(points: list[Point]) -> Point:
    return Point(
        statistics.median(p.rate for p in points),
        statistics.median(p.p99_ms for p in points),
        statistics.median(p.cpu_us for p in points),
    )


def measure(
    base: str, upload: dict[str, Any], s3_upload_id: str, seconds: int, rounds: int, app: psutil.Process
) -> dict[int, tuple[Point, Point]]:
    query = sign_query(upload, s3_upload_id, 7)
    full_url = f"{base}/api/uploads/sign?{urlencode(query)}"
    bare_url = f"{base}/bench/hmac?{urlencode({'to_sign': query['to_sign'], 'datetime': query['datetime']})}"
    token = {UPLOAD_TOKEN_HEADER: upload["sign_params"]["upload_token"]}
    check = httpx.get(full_url, headers=token)
    assert check.status_code == 200 and len(check.text) == 64, check.text
    check = httpx.get(bare_url)
    assert check.status_code == 200 and len(check.text) == 64, check.text
    wrk(full_url, 32, 1, token)  # warm-up
    wrk(bare_url, 32, 1, {})
    results = {}
    for connections in CONNECTIONS:
        bare, full = [], []
        for _ in range(rounds):
            bare.append(wrk(bare_url, connections, seconds, {}, app))
            full.append(wrk(full_url, connections, seconds, token, app))
        results[connections] = (median_point(bare), median_point(full))
    return results


def set_up(url: str, s3: Any) -> tuple[dict[str, Any], str, str]:
    """A pending 10 GiB upload with its S3 multipart upload, made through a dev-mode app."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = settings_for(url, s3, port)
    with app_process(settings, port):
        admin = {
            "Authorization": "Bearer "
            + httpx.post(f"{base}/api/auth/dev-login", json={"username": "b", "groups": ["admin"]}).json()[
                "access_token"
            ]
        }
        dataset = bench_dataset(base, admin)
        upload = httpx.post(
            f"{base}/api/uploads",
            json={"dataset_id": dataset["id"], "name": "big.bam", "size": 10 * 1024**3, "part_size": 16 * 1024**2},
            headers=admin,
        ).json()
    s3c = boto3_s3(s3)
    s3_upload_id = s3c.create_multipart_upload(Bucket="bench", Key=upload["object_key"])["UploadId"]
    return upload, s3_upload_id, settings.secret_key.get_secret_value()


def production_settings(dev: Settings, secret: str) -> Settings:
    """Dev mode off (it only routes HS256 tokens, which the signer never sees); an issuer that is never asked."""
    data = dev.model_dump(mode="json")
    data["s3"]["secret_access_key"] = dev.s3.secret_access_key.get_secret_value()
    data["auth"].update(
        oidc_issuer="https://idp.invalid/realms/bench",
        oidc_audience="omicsdm",
        jwks_url="https://idp.invalid/realms/bench/certs",
    )
    return Settings.model_validate({**data, "dev_mode": False, "secret_key": secret})


def run(seconds: int = 5, rounds: int = 3) -> dict[str, Any]:
    """{"log on": {connections: (bare, full)}, "log off": ..., "rss": MiB, "log_lines": n}."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    out: dict[str, Any] = {}
    with services() as (url, s3), tempfile.TemporaryDirectory(prefix="omicsdm-signer-") as tmp:
        upload, s3_upload_id, secret = set_up(url, s3)
        rss = []
        for mode in ("log on", "log off"):
            port = free_port()
            production = production_settings(settings_for(url, s3, port), secret)
            log_file = os.path.join(tmp, "access.log") if mode == "log on" else None
            with app_process(production, port, add_bare_endpoint, access_log=log_file, cpus=SERVER_CPUS) as proc:
                out[mode] = measure(f"http://127.0.0.1:{port}", upload, s3_upload_id, seconds, rounds, proc)
                rss.append(peak_rss_mib(proc))
            if log_file:
                with open(log_file, "rb") as f:
                    out["log_lines"] = sum(1 for _ in f)
        out["rss"] = max(rss)
    return out


def report(out: dict[str, Any]) -> list[str]:
    lines = [
        f"{'signer':9s} {'conns':>5s} {'bare req/s':>11s} {'full req/s':>11s} {'ratio':>6s}"
        f" {'bare p99':>9s} {'full p99':>9s} {'p99 x':>6s} {'bare CPU':>9s} {'full CPU':>9s} {'CPU ratio':>9s}"
    ]
    for mode in ("log on", "log off"):
        for connections, (bare, full) in out[mode].items():
            lines.append(
                f"{mode:9s} {connections:5d} {bare.rate:11.0f} {full.rate:11.0f} {full.rate / bare.rate:6.2f}"
                f" {bare.p99_ms:7.2f}ms {full.p99_ms:7.2f}ms {full.p99_ms / bare.p99_ms:6.2f}"
                f" {bare.cpu_us:7.0f}us {full.cpu_us:7.0f}us {bare.cpu_us / full.cpu_us:9.2f}"
            )
    lines.append("targets: ratio >= 0.8 at every connection count with the log on; p99 x <= 2 at 128")
    lines.append(
        "CPU ratio: the app's CPU time per request, bare / full (the rate ratio the app would reach on a core of"
        " its own; the machine's other load does not enter it)"
    )
    lines.append(f"access log lines written in the 'log on' run: {out.get('log_lines', 0):,}")
    lines.append(f"app peak RSS: {out['rss']:.1f} MiB (target < 200)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per point (median)")
    args = parser.parse_args()
    print("\n".join(report(run(args.seconds, args.rounds))))


if __name__ == "__main__":
    main()
