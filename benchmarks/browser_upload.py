"""Browser upload throughput: the web frontend's real upload queue (EvaporateJS through the signer, the
file's SHA-256 and part MD5s computed in a Web Worker meanwhile, then POST .../complete with them) in headless
Chromium with no DevTools client attached, as a ratio to a boto3 multipart upload of the same number of bytes
to the same SeaweedFS bucket, same part size and concurrency.

The page is frontend/bench.html (a second Vite entry, frontend/src/bench.ts); the app process serves it at
/bench.html (added here, the app itself does not). It generates the bytes in memory, uploads them with the
app's upload manager, and POSTs its timings to a small HTTP server this script runs on loopback.

The SHA-256 the service recorded for the first round is checked against the object read back with boto3
(outside the timings). `--no-checksum` turns the page's checksums off (a bench-only switch; the version is
then recorded `size_only`) to measure what they cost.

Target (DESIGN.md): page/boto3 >= 0.8 with the whole-file SHA-256. Run:
    OMICSDM_TEST_DATABASE_URL=... .venv/bin/python -m benchmarks.browser_upload [--part-mib 16 --concurrency 4]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import queue
import secrets
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import psutil
from boto3.s3.transfer import TransferConfig
from tests.support.detached_chromium import CHROMIUM, FLAGS

from benchmarks.harness import app_process, bench_dataset, boto3_s3, free_port, peak_rss_mib, services, settings_for

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
DIST = FRONTEND / "dist"
# What the page is built from: a newer file than dist/bench.html means the build is stale.
SOURCES = ["src", "index.html", "bench.html", "vite.config.ts", "package.json", "package-lock.json"]


def ensure_frontend_built() -> None:
    built = DIST / "bench.html"
    newest = 0.0
    for name in SOURCES:
        path = FRONTEND / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    if built.is_file() and built.stat().st_mtime >= newest:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("frontend/dist is stale or missing and npm is not installed")
    if not (FRONTEND / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
    print("building the frontend (npm run build) ...", flush=True)
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)
    built.touch()


def add_bench_page(app: Any) -> None:
    """Runs in the app process: serve the built benchmark page at /bench.html (same origin as the API)."""
    from fastapi.responses import FileResponse

    async def bench_page() -> FileResponse:
        return FileResponse(DIST / "bench.html", headers={"Cache-Control": "no-cache"})

    app.add_api_route("/bench.html", bench_page, methods=["GET"], include_in_schema=False)


@contextlib.contextmanager
def report_server() -> Iterator[tuple[str, queue.Queue[dict[str, Any]]]]:
    """A loopback endpoint the page POSTs its JSON result to."""
    results: queue.Queue[dict[str, Any]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                results.put(json.loads(body))
            except ValueError:
                results.put({"error": f"unreadable report: {body[:200]!r}"})
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/report", results
    finally:
        server.shutdown()
        server.server_close()


def tree_memory_mib(root: psutil.Process) -> tuple[float, float]:
    """Sum of RSS and of PSS (MiB) over a process and its descendants (RSS double-counts shared pages)."""
    rss = pss = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
    return rss / MIB, pss / MIB


def tree_cpu_seconds(root: psutil.Process) -> float:
    """User + system CPU seconds of a process and its descendants so far."""
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def page_round(
    base: str, params: dict[str, Any], results: queue.Queue[dict[str, Any]], timeout: float
) -> dict[str, Any]:
    """One upload through the bench page in a fresh headless Chromium; returns the page's report."""
    url = f"{base}/bench.html?{urlencode(params)}"
    with tempfile.TemporaryDirectory(prefix="omicsdm-bench-chromium-") as profile:
        chromium = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed as one below
        )
        peak = [0.0]
        stop = threading.Event()

        def sample() -> None:  # the tree's RSS once a second (cheap next to the upload)
            root = psutil.Process(chromium.pid)
            while not stop.wait(1.0):
                with contextlib.suppress(psutil.Error):
                    peak[0] = max(peak[0], tree_memory_mib(root)[0])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    result = results.get(timeout=1)
                    break
                except queue.Empty:
                    if chromium.poll() is not None:
                        result = {"error": f"chromium exited with {chromium.returncode}"}
                        break
                    if time.monotonic() > deadline:
                        result = {"error": f"no report within {timeout:.0f} s"}
                        break
            stop.set()
            sampler.join()
            root = psutil.Process(chromium.pid)
            rss, pss = tree_memory_mib(root)
            result.update(
                chromium_rss_mib=rss,
                chromium_pss_mib=pss,
                chromium_peak_rss_mib=max(peak[0], rss),
                chromium_cpu_s=tree_cpu_seconds(root),  # whole life: start-up, generating the bytes, MD5 timing
            )
        finally:
            stop.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(chromium.pid, signal.SIGTERM)
            try:
                chromium.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(chromium.pid, signal.SIGKILL)
                chromium.wait(10)
    return result


def boto3_round(s3c: Any, data: bytes, part: int, concurrency: int, key: str) -> float:
    """Seconds for a boto3 managed multipart upload of `data` (create, parts, complete)."""
    config = TransferConfig(
        multipart_threshold=part, multipart_chunksize=part, max_concurrency=concurrency, use_threads=True
    )
    start = time.perf_counter()
    s3c.upload_fileobj(io.BytesIO(data), "bench", key, Config=config)
    return time.perf_counter() - start  # the object stays: the service's S3 key may not delete


def check_recorded_sha256(s3c: Any, dataset_id: str, page: dict[str, Any]) -> None:
    """The SHA-256 the page declared (and the service recorded) is that of the stored object."""
    listing = s3c.list_objects_v2(Bucket="bench", Prefix=f"datasets/{dataset_id}/")
    keys = [o["Key"] for o in listing.get("Contents", []) if o["ETag"].strip('"') == page["etag"].strip('"')]
    if len(keys) != 1:
        raise SystemExit(f"cannot find the page's object (ETag {page['etag']}) in the bucket: {keys}")
    digest = hashlib.sha256()
    for chunk in s3c.get_object(Bucket="bench", Key=keys[0])["Body"].iter_chunks(8 * MIB):
        digest.update(chunk)
    if digest.hexdigest() != page["sha256"]:
        raise SystemExit(f"recorded SHA-256 {page['sha256']} but the stored object hashes to {digest.hexdigest()}")
    print(f"round 1: recorded SHA-256 {page['sha256'][:16]}… equals hashlib's of the stored object", flush=True)


def seaweedfs_process(s3_url: str) -> psutil.Process | None:
    port = urlsplit(s3_url).port
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--part-mib", type=int, default=0, help="part size; 0 = the service's default (16 MiB)")
    parser.add_argument("--concurrency", type=int, default=0, help="parts in flight; 0 = the app's default (4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--md5-mib", type=int, default=64, help="bytes for the in-page MD5 timing; 0 = skip")
    parser.add_argument(
        "--layout",
        choices=["single", "pieces"],
        default="single",
        help="the page's in-memory file: one contiguous buffer (like a file on disk) or a Blob of 64 KiB pieces",
    )
    parser.add_argument(
        "--no-checksum",
        action="store_true",
        help="the page computes no SHA-256/part MD5s (bench-only; to measure their cost)",
    )
    parser.add_argument(
        "--also-unhashed",
        action="store_true",
        help="each round also uploads through the page with its checksums off: their cost, side by side",
    )
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    size = args.size_mib * MIB

    ensure_frontend_built()
    with services() as (url, s3), report_server() as (report_url, results):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with app_process(settings_for(url, s3, port), port, add_bench_page) as app:
            login = httpx.post(f"{base}/api/auth/dev-login", json={"username": "bench", "groups": ["admin"]})
            token = login.json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}
            dataset = bench_dataset(base, admin)
            s3c = boto3_s3(s3, max(10, args.concurrency))
            data = os.urandom(size)
            weed = seaweedfs_process(s3.url)
            rounds: list[dict[str, Any]] = []
            for n in range(1, args.rounds + 1):
                page: dict[str, Any] = {}
                plain: dict[str, Any] = {}
                boto_s = 0.0
                cpu: dict[str, float] = {}
                # Rotate which side goes first, so none always meets a freshly busy SeaweedFS.
                sides = ["page", "boto3", "plain"] if args.also_unhashed else ["page", "boto3"]
                shift = (n - 1) % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    before = (time.process_time(), tree_cpu_seconds(app), tree_cpu_seconds(weed) if weed else 0.0)
                    if side == "plain":  # the same page with its checksums off
                        params = {
                            "token": token,
                            "dataset": dataset["id"],
                            "size": size,
                            "part": args.part_mib * MIB,
                            "concurrency": args.concurrency,
                            "md5": 0,
                            "layout": args.layout,
                            "checksum": 0,
                            "round": f"{n}-plain",
                            "report": report_url,
                        }
                        plain = page_round(base, params, results, args.timeout)
                        if "error" in plain:
                            raise SystemExit(f"round {n}: the page without checksums failed: {plain['error']}")
                    elif side == "page":
                        params = {
                            "token": token,
                            "dataset": dataset["id"],
                            "size": size,
                            "part": args.part_mib * MIB,
                            "concurrency": args.concurrency,
                            "md5": args.md5_mib * MIB,
                            "layout": args.layout,
                            "checksum": 0 if args.no_checksum else 1,
                            "round": n,
                            "report": report_url,
                        }
                        page = page_round(base, params, results, args.timeout)
                        if "error" in page:
                            raise SystemExit(f"round {n}: the page failed: {page['error']}")
                        if page["stored_size"] != size:
                            raise SystemExit(f"round {n}: the service stored {page['stored_size']} bytes, not {size}")
                        expected_state = "size_only" if args.no_checksum else "verified"
                        if page["checksum_state"] != expected_state:
                            raise SystemExit(
                                f"round {n}: checksum_state {page['checksum_state']}, not {expected_state}"
                            )
                        if n == 1 and not args.no_checksum:
                            check_recorded_sha256(s3c, dataset["id"], page)
                    else:
                        part = page.get("part_size") or args.part_mib * MIB or 16 * MIB
                        boto_s = boto3_round(s3c, data, part, args.concurrency or 4, f"boto3-{secrets.token_hex(4)}")
                        cpu["boto3_python"] = time.process_time() - before[0]
                    cpu[f"{side}_app"] = tree_cpu_seconds(app) - before[1]
                    cpu[f"{side}_seaweedfs"] = (tree_cpu_seconds(weed) if weed else 0.0) - before[2]
                boto_mib_s = size / MIB / boto_s
                cpu["page_chromium"] = page["chromium_cpu_s"]
                if plain:
                    cpu["plain_chromium"] = plain["chromium_cpu_s"]
                    page["plain_mib_s"] = plain["mib_s"]
                    page["plain_ratio"] = plain["mib_s"] / boto_mib_s
                rounds.append({**page, "boto3_mib_s": boto_mib_s, "ratio": page["mib_s"] / boto_mib_s, "cpu": cpu})
                r = rounds[-1]
                hashing = (
                    f"  checksums: worker {r['hash_seconds']:.2f} s ({size / MIB / r['hash_seconds']:.0f} MiB/s,"
                    f" waited {r['hash_read_wait_seconds']:.2f} s for reads, {r['hash_held_seconds']:.2f} s for the upload),"
                    f" completion waited {r['hash_wait_seconds']:.2f} s"
                    if r.get("hash_seconds")
                    else "  checksums off"
                ) + (
                    f"  parts from the worker/read by the page {r['feed']['fedParts']}/{r['feed']['readParts']},"
                    f" Content-MD5s reused/computed {r['feed']['md5Reused']}/{r['feed']['md5Computed']}"
                )
                unhashed = (
                    f"  | without checksums {r['plain_mib_s']:6.1f} MiB/s, ratio {r['plain_ratio']:.2f}"
                    if plain
                    else ""
                )
                print(
                    f"round {n}: page {r['mib_s']:6.1f} MiB/s  boto3 {boto_mib_s:6.1f} MiB/s  ratio {r['ratio']:.2f}"
                    f"{unhashed}\n        "
                    f"{hashing}\n         page phases (s) {json.dumps({k: round(v, 2) for k, v in r['marks'].items()})}"
                    f"  md5 {r['md5_mib_s'] or 0:.0f} MiB/s  Chromium RSS {r['chromium_rss_mib']:.0f} MiB"
                    f" (PSS {r['chromium_pss_mib']:.0f}, peak RSS {r['chromium_peak_rss_mib']:.0f})"
                    f"\n         CPU s: {json.dumps({k: round(v, 1) for k, v in sorted(cpu.items())})}",
                    flush=True,
                )
            app_rss = peak_rss_mib(app)
            weed_rss = peak_rss_mib(weed) if weed else float("nan")

    page_med = statistics.median(r["mib_s"] for r in rounds)
    boto_med = statistics.median(r["boto3_mib_s"] for r in rounds)
    ratio_med = statistics.median(r["ratio"] for r in rounds)
    md5 = [r["md5_mib_s"] for r in rounds if r.get("md5_mib_s")]
    print(
        f"\n{args.size_mib} MiB, part {rounds[0]['part_size'] // MIB} MiB, "
        f"{args.concurrency or 4} parts in flight, {len(rounds)} rounds"
    )
    print(f"page (EvaporateJS, app's upload queue):  {page_med:7.1f} MiB/s  (median)")
    print(f"boto3 multipart, same S3:                {boto_med:7.1f} MiB/s  (median)")
    print(f"ratio page/boto3:                        {ratio_med:7.2f}   (median of rounds; target >= 0.8)")
    if rounds[0].get("plain_mib_s"):
        plain_med = statistics.median(r["plain_mib_s"] for r in rounds)
        plain_ratio = statistics.median(r["plain_ratio"] for r in rounds)
        print(f"page without checksums (same rounds):    {plain_med:7.1f} MiB/s, ratio {plain_ratio:.2f} (median)")
    hashed = [r for r in rounds if r.get("hash_seconds")]
    if hashed:
        worker = statistics.median(r["hash_seconds"] for r in hashed)
        wait = statistics.median(r["hash_wait_seconds"] for r in hashed)
        print(
            f"page checksums (SHA-256 + part MD5s, worker): {worker:.2f} s ({args.size_mib / worker:.0f} MiB/s) "
            f"alongside the upload; completion waited {wait:.2f} s (medians)"
        )
    else:
        print("page checksums:                          off (--no-checksum)")
    if md5:
        print(f"in-page MD5 alone (hash-wasm):           {statistics.median(md5):7.0f} MiB/s")
    print(f"app peak RSS:                            {app_rss:7.1f} MiB (target < 200)")
    print(
        f"Chromium at the end (sum over processes): {statistics.median(r['chromium_rss_mib'] for r in rounds):6.0f} MiB RSS, "
        f"{statistics.median(r['chromium_pss_mib'] for r in rounds):.0f} MiB PSS; "
        f"peak RSS sampled {max(r['chromium_peak_rss_mib'] for r in rounds):.0f} MiB"
    )
    print(f"SeaweedFS peak RSS:                      {weed_rss:7.1f} MiB")


if __name__ == "__main__":
    main()
