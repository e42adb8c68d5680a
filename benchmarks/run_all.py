"""Every benchmark, one after the other, then one table of their figures and ratios.

Run: OMICSDM_TEST_DATABASE_URL=... .venv/bin/python -m benchmarks [--quick] [--only signer,overview,...]

Each benchmark runs as its own process (its own app process, fresh database and SeaweedFS), its
full output is passed through, and the lines that carry its ratios are collected into the table at
the end, with the targets of DESIGN.md / issue 13 and whether each was met. The machine's load
average is printed at the start and end of every benchmark: on a shared machine a ratio measured
under load says less (DESIGN.md, "Performance: how we measure").
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

Row = tuple[str, str, str, bool | None]  # what, figure, target, met


@dataclass
class Benchmark:
    name: str
    module: str
    args: list[str]
    quick_args: list[str]
    parse: Callable[[str], list[Row]]


def _num(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text)
    return float(found.group(1)) if found else None


def _rss(text: str, name: str) -> list[Row]:
    rows: list[Row] = []
    for label, mib in re.findall(r"^\s*(app|verify process) peak RSS:\s+([\d.]+) MiB", text, re.M):
        rows.append((f"{name}: {label} peak RSS", f"{float(mib):.0f} MiB", "< 200 MiB", float(mib) < 200))
    return rows


def parse_signer(text: str) -> list[Row]:
    rows: list[Row] = []
    pattern = (
        r"^(log on|log off)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)ms\s+([\d.]+)ms\s+([\d.]+)"
        r"\s+\d+us\s+\d+us\s+([\d.]+)"
    )
    for mode, conns, bare, full, ratio, _bp99, fp99, p99x, cpu in re.findall(pattern, text, re.M):
        rows.append(
            (
                f"signer, {mode}, {conns} conns: rate full/bare",
                f"{int(full):,} / {int(bare):,} req/s = {float(ratio):.2f}",
                ">= 0.8",
                float(ratio) >= 0.8,
            )
        )
        rows.append((f"signer, {mode}, {conns} conns: CPU/request bare/full", cpu, ">= 0.8", float(cpu) >= 0.8))
        if conns == "128":
            rows.append(
                (
                    f"signer, {mode}, 128 conns: p99 full/bare",
                    f"{fp99} ms = {float(p99x):.2f}x",
                    "<= 2x",
                    float(p99x) <= 2,
                )
            )
    return rows + _rss(text, "signer")


def parse_overview(text: str) -> list[Row]:
    rows: list[Row] = []
    pattern = r"^(.+?)\s+app\s+([\d.]+) ms\s+raw SQL\s+([\d.]+) ms\s+ratio\s+([\d.]+).*?app CPU\s+([\d.]+)"
    for name, app, raw, ratio, cpu in re.findall(pattern, text, re.M):
        met = float(ratio) <= 2 and float(app) < 25
        figure = f"{app} ms / {raw} ms SQL = {ratio} (app CPU {cpu} ms)"
        rows.append((f"overview: {name.strip()}", figure, "<= 2x and < 25 ms", met))
    fixed = _num(r"GET /api/auth/me\): ([\d.]+) ms", text)
    if fixed is not None:
        rows.append(("overview: any authenticated request", f"{fixed:.1f} ms", "", None))
    return rows + _rss(text, "overview")


def parse_presign(text: str) -> list[Row]:
    ratio = _num(r"ratio endpoint/bare:\s+([\d.]+)", text)
    rows: list[Row] = []
    if ratio is not None:
        rows.append(("presign 1,000 URLs: endpoint / bare aiobotocore", f"{ratio:.2f}", "<= 0.5", ratio <= 0.5))
    return rows + _rss(text, "presign")


def parse_fixity(text: str) -> list[Row]:
    ratio = _num(r"ratio verify/boto3: ([\d.]+)", text)
    rows: list[Row] = []
    if ratio is not None:
        rows.append(("fixity: verify / boto3 + hashlib", f"{ratio:.2f}", ">= 0.8", ratio >= 0.8))
    return rows + _rss(text, "fixity")


def parse_cli(text: str) -> list[Row]:
    rows: list[Row] = []
    for transport, up, down, _bare in re.findall(
        r"^\| (\w+) \| ([\d.]+)\S* \| ([\d.]+)\S* \| ([\d.]+)\S* \|", text, re.M
    ):
        rows.append((f"cli upload ({transport}) / boto3", up, ">= 0.9", float(up) >= 0.9))
        rows.append((f"cli checked download ({transport}) / boto3", down, ">= 1.0", float(down) >= 1.0))
    return rows


def parse_browser(text: str) -> list[Row]:
    ratio = _num(r"ratio page/boto3:\s+([\d.]+)", text)
    rows: list[Row] = []
    if ratio is not None:
        rows.append(("browser upload (with SHA-256) / boto3", f"{ratio:.2f}", ">= 0.8", ratio >= 0.8))
    return rows + _rss(text, "browser")


BENCHMARKS = [
    Benchmark("signer", "benchmarks.signer_throughput", [], ["--seconds", "3", "--rounds", "1"], parse_signer),
    Benchmark("overview", "benchmarks.overview_pages", [], ["--rounds", "5"], parse_overview),
    Benchmark("presign", "benchmarks.presign_urls", [], [], parse_presign),
    Benchmark("fixity", "benchmarks.fixity", [], ["--objects", "3", "--mib", "64", "--rounds", "2"], parse_fixity),
    Benchmark("cli", "benchmarks.cli_transfer", [], ["--size-mib", "256", "--rounds", "3"], parse_cli),
    Benchmark("browser", "benchmarks.browser_upload", [], ["--size-mib", "128", "--rounds", "3"], parse_browser),
    Benchmark("browser-5gib", "benchmarks.browser_large_upload", [], ["--size-gib", "1"], parse_browser),
]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(b.name for b in BENCHMARKS))
    parser.add_argument("--keep-database", help="passed to the overview benchmark: reuse its seeded million versions")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only.split(",")]
    table: list[Row] = []
    ran: list[str] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for bench in chosen:
        extra = bench.quick_args if args.quick else bench.args
        if bench.name == "overview" and args.keep_database:
            extra = [*extra, "--keep-database", args.keep_database]
        print(f"\n=== {bench.name}: python -m {bench.module} {' '.join(extra)}  (load {load()})", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", bench.module, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        print(proc.stdout, end="", flush=True)
        took = time.monotonic() - t0
        rows = bench.parse(proc.stdout)
        status = "ok" if proc.returncode == 0 and rows else f"FAILED (exit {proc.returncode})"
        ran.append(f"{bench.name} {status} in {took:.0f} s, load after {load()}")
        table.extend(rows)
    print(f"\n=== summary (started {started})")
    for line in ran:
        print(f"  {line}")
    width = max((len(r[0]) for r in table), default=10)
    fig = max((len(r[1]) for r in table), default=10)
    print(f"\n{'what':{width}s}  {'figure':{fig}s}  {'target':18s}  met")
    for what, figure, target, met in table:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"{what:{width}s}  {figure:{fig}s}  {target:18s}  {mark}")


if __name__ == "__main__":
    main()
