"""Command-line transfer vs boto3: upload and download of one 1 GiB file to the same SeaweedFS, same run.

Ours is the CLI's transfer code (omicsdm.client): SHA-256 of the file, POST /api/uploads, every S3
request signed by the app (in its own process), parts with Content-MD5, completion checked by the
app; downloads through presigned URLs with ranged GETs and the SHA-256 checked. The baseline is boto3's
managed transfer (upload_file / download_file) with the same part size and concurrency, holding the
S3 secret itself. Targets (DESIGN.md): upload >= 0.9, checked download >= 1.0 of boto3.

Ours runs once per S3 transport (`--transports wire,httpx,aiohttp`, client/transport.py), all of them
against the same boto3 rounds.

Every timed transfer starts after os.sync(), so neither side pays for the other's dirty pages; the
order alternates per round and the median counts (the machine's other load makes single runs noisy).

Run: .venv/bin/python -m benchmarks.cli_transfer [--size-mib 1024] [--part-mib 16] [--parallel 4] [--rounds 5]
     [--transports wire,httpx,aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from boto3.s3.transfer import TransferConfig

from benchmarks.harness import app_process, bench_dataset, boto3_s3, free_port, peak_rss_mib, services, settings_for
from omicsdm.client.api import ApiClient, FileQuery
from omicsdm.client.transfer import Downloader, Source, Uploader
from omicsdm.client.transport import TRANSPORTS, make_transport

MIB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(8 * MIB, left))
            handle.write(block)
            left -= len(block)


async def ours_upload(
    api: ApiClient, path: Path, name: str, dataset_id: uuid.UUID, args: Any, state: Path, transport: str
) -> float:
    uploader = Uploader(
        api,
        state_dir=state,
        parallel=args.parallel,
        part_size=args.part_mib * MIB,
        transport=make_transport(transport),
    )
    start = time.perf_counter()
    try:
        [result] = await uploader.upload([Source(path, name)], dataset_id)
    finally:
        await uploader.transport.aclose()
    elapsed = time.perf_counter() - start
    assert result.version is not None and result.version.checksum_state == "verified", result.error
    return elapsed


async def ours_download(
    api: ApiClient, name: str, out: Path, args: Any, transport: str, *, verify: bool = True
) -> float:
    """The CLI's download; `verify=False` leaves out the SHA-256 (size still checked) to show what the
    check itself costs, since boto3 verifies nothing on a ranged multipart download."""
    page = await api.list_files(FileQuery(name=name))
    [row] = [r for r in page.items if r.name == name]
    downloader = Downloader(
        api, parallel=args.parallel, chunk_size=args.part_mib * MIB, transport=make_transport(transport)
    )
    start = time.perf_counter()
    try:
        links = (await api.download_links([(row.id, None)])).items
        if not verify:
            links = [link.model_copy(update={"sha256": None}) for link in links]
        [result] = await downloader.download(links, out)
    finally:
        await downloader.transport.aclose()
    elapsed = time.perf_counter() - start
    assert result.verified == ("sha256" if verify else "size"), result.error
    shutil.rmtree(out / "bench")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only", choices=("up", "down"), help="time one direction (the other still runs once to set up)"
    )
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help="S3 transports of ours, comma-separated")
    args = parser.parse_args()
    size = args.size_mib * MIB
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    ups = ["boto3 up", *(f"up {t}" for t in transports)]
    downloads = ["boto3 down", *(f"down {t}" for t in transports), *(f"down {t}, size only" for t in transports)]

    with services() as (url, s3), tempfile.TemporaryDirectory(prefix="omicsdm-cli-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        source = tmp / "source.bin"
        make_file(source, size)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with app_process(settings_for(url, s3, port), port) as proc:
            login = httpx.post(f"{base}/api/auth/dev-login", json={"username": "bench", "groups": ["admin"]})
            token = login.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            dataset = bench_dataset(base, headers)
            dataset_id = uuid.UUID(dataset["id"])
            boto = boto3_s3(s3, 32)
            transfer = TransferConfig(
                multipart_threshold=args.part_mib * MIB,
                multipart_chunksize=args.part_mib * MIB,
                max_concurrency=args.parallel,
                use_threads=True,
            )
            times: dict[str, list[float]] = {name: [] for name in (*ups, *downloads)}
            cpu: dict[str, list[float]] = {name: [] for name in times}

            def boto_up(key: str) -> float:
                start = time.perf_counter()
                boto.upload_file(str(source), "bench", key, Config=transfer)
                return time.perf_counter() - start

            def boto_down(key: str, out: Path) -> float:
                start = time.perf_counter()
                boto.download_file("bench", key, str(out / "baseline.bin"), Config=transfer)
                elapsed = time.perf_counter() - start
                (out / "baseline.bin").unlink()
                return elapsed

            async def with_api(work: Any) -> float:
                async with ApiClient(base, token) as api:
                    seconds: float = await work(api)
                    return seconds

            def run(label: str, key: str, name: str, out: Path) -> float:
                if label == "boto3 up":
                    return boto_up(key)
                if label == "boto3 down":
                    return boto_down(key, out)
                transport = label.split(" ")[1].rstrip(",")
                if label.startswith("up "):
                    return asyncio.run(
                        with_api(
                            lambda api: ours_upload(
                                api, source, f"{name}.{transport}", dataset_id, args, tmp / "state", transport
                            )
                        )
                    )
                verify = not label.endswith("size only")
                return asyncio.run(
                    with_api(
                        lambda api: ours_download(api, f"{name}.{transports[0]}", out, args, transport, verify=verify)
                    )
                )

            def timed(label: str, key: str, name: str, out: Path) -> None:
                os.sync()  # nobody pays for the previous run's dirty pages
                started_cpu = time.process_time()
                seconds = run(label, key, name, out)
                cpu[label].append(time.process_time() - started_cpu)
                times[label].append(seconds)

            if args.only == "down":  # one upload serves every round; its timing is not a figure
                for label in ups[:2]:
                    run(label, "baseline/round0.bin", "bench/round0.bin", tmp)
            for round_ in range(args.rounds):
                out = tmp / f"out{round_}"
                out.mkdir()
                n = 0 if args.only == "down" else round_  # downloads alone: one upload serves every round
                key, name = f"baseline/round{n}.bin", f"bench/round{n}.bin"
                timed_ups = ups if args.only != "down" else []
                turn = round_ % max(1, len(timed_ups))
                for label in timed_ups[turn:] + timed_ups[:turn]:
                    timed(label, key, name, out)
                if args.only != "up":
                    boto_down(key, out)  # warm-up: the first large write after a while is slow on VMs
                    turn = round_ % len(downloads)
                    for label in downloads[turn:] + downloads[:turn]:
                        timed(label, key, name, out)
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(f"{k} {args.size_mib / v[-1]:.0f} MiB/s" for k, v in times.items() if v),
                    flush=True,
                )
                shutil.rmtree(out)
            rss = peak_rss_mib(proc)

    rate = {k: args.size_mib / statistics.median(v) for k, v in times.items() if v}
    print(f"\n{args.size_mib} MiB file, {args.part_mib} MiB parts, {args.parallel} in flight, median of {args.rounds}")
    print("| transport | upload ratio | checked download ratio | download ratio, size only |")
    print("|---|---|---|---|")
    for t in transports:
        up = f"{rate[f'up {t}'] / rate['boto3 up']:.2f}" if args.only != "down" else "-"
        down = f"{rate[f'down {t}'] / rate['boto3 down']:.2f}" if args.only != "up" else "-"
        bare = f"{rate[f'down {t}, size only'] / rate['boto3 down']:.2f}" if args.only != "up" else "-"
        print(f"| {t} | {up} | {down} | {bare} |")
    print("(targets: upload >= 0.9, checked download >= 1.0; boto3 verifies nothing on a ranged download)")
    print("MiB/s (median): " + ", ".join(f"{k} {v:.0f}" for k, v in rate.items()))
    print(
        "client CPU seconds (median): "
        + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in cpu.items() if v)
        + " (ours up: SHA-256 + MD5; boto3 up: CRC32)"
    )
    print(
        f"app peak RSS {rss:.0f} MiB; this process (client + boto3) peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
