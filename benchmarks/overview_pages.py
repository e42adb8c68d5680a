"""Overview pages over 1,000,000 versions: the app's page (HTTP, auth, visibility, page, count,
JSON) as a ratio to the raw SQL of the same page run with asyncpg in the same run.

Target (DESIGN.md): <= 2x. Run: .venv/bin/python -m benchmarks.overview_pages
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from benchmarks.harness import app_process, free_port, peak_rss_mib, services, settings_for
from omicsdm.repository.overview import TOTAL_CAP
from omicsdm.services.cursors import encode_cursor

FILES = 500_000
VERSIONS_PER_FILE = 2  # 1,000,000 versions
DATASETS = 50
ROUNDS = 7

SEED = f"""
INSERT INTO files (id, dataset_id, name, version_count, size, submitted_at, submitted_by, comment)
SELECT gen_random_uuid(), d.ids[1 + (i % {DATASETS})],
       'run' || (i % 977) || '/sample_' || i || (CASE i % 3 WHEN 0 THEN '.fastq.gz' WHEN 1 THEN '.bam' ELSE '.vcf.gz' END),
       {VERSIONS_PER_FILE}, (i::bigint * 7919) % 100000000, now() - (i || ' seconds')::interval, $1, ''
FROM generate_series(1, {FILES}) AS i, (SELECT array_agg(id ORDER BY code) AS ids FROM datasets) AS d;

INSERT INTO file_versions (id, file_id, version, object_key, size, etag, content_type, checksum_state, submitted_by,
                           submitted_at)
SELECT gen_random_uuid(), f.id, v, 'datasets/' || f.dataset_id || '/' || gen_random_uuid(), f.size, 'etag',
       'application/octet-stream', 'size_only', f.submitted_by, f.submitted_at - ((2 - v) || ' days')::interval
FROM files f, generate_series(1, {VERSIONS_PER_FILE}) AS v;

UPDATE files f SET latest_version_id = v.id FROM file_versions v WHERE v.file_id = f.id AND v.version = f.version_count;
ANALYZE;
"""

LIVE = "f.deleted_at IS NULL AND f.dataset_id = ANY($1::uuid[])"
PAGE_SQL = """
SELECT f.*, v.*, d.code, p.code, s.username, NULL
FROM files f JOIN file_versions v ON v.id = f.latest_version_id JOIN datasets d ON d.id = f.dataset_id
JOIN projects p ON p.id = d.project_id LEFT JOIN users s ON s.id = f.submitted_by
WHERE {where} ORDER BY {order} LIMIT 51
"""


def pages(
    ids: list[str], cursor: str, cursor_time: Any, cursor_id: Any
) -> list[tuple[str, dict[str, Any], str, str, list[Any]]]:
    """(name, API query, raw WHERE, raw ORDER BY, raw arguments after the dataset ids)."""
    return [
        ("first page (newest first, with total)", {}, LIVE, "f.submitted_at DESC, f.id DESC", []),
        (
            "deep cursor (row 400,000)",
            {"cursor": cursor},
            LIVE + " AND (f.submitted_at, f.id) < ($2, $3)",
            "f.submitted_at DESC, f.id DESC",
            [cursor_time, cursor_id],
        ),
        (
            "filtered (one dataset, .bam, by size)",
            {"dataset_id": ids[0], "extension": "bam", "sort": "-size"},
            LIVE + " AND f.dataset_id = $2 AND lower(f.name) LIKE '%.bam'",
            "f.size DESC, f.id DESC",
            [ids[0]],
        ),
        (
            "search (name contains 'sample_4242')",
            {"name": "sample_4242", "sort": "name"},
            # the app's SQL (repository/overview.py, search_probe): the index looks up '4242', the term is matched whole
            LIVE + " AND lower(f.name) LIKE '%4242%' AND strpos(lower(f.name), 'sample_4242') > 0",
            "f.name ASC, f.id ASC",
            [],
        ),
    ]


VISIBLE_SQL = """
SELECT d.id FROM datasets d JOIN groups g ON true
WHERE g.name = 'lab' AND (d.public OR d.owner_group_id = g.id
      OR EXISTS (SELECT 1 FROM dataset_shares s WHERE s.dataset_id = d.id AND s.group_id = g.id))
"""


async def raw(dsn: str, where: str, order: str, args: list[Any], with_count: bool, rounds: int) -> list[float]:
    """The same page as plain SQL on one open connection: which datasets the user reads, the page,
    and (on first pages) the count, capped as the API caps it. No connect cost in the timing."""
    conn = await asyncpg.connect(dsn)
    try:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            visible = [r[0] for r in await conn.fetch(VISIBLE_SQL)]
            args = [visible, *args[1:]]
            await conn.fetch(PAGE_SQL.format(where=where, order=order), *args)
            if with_count:
                await conn.fetchval(
                    f"SELECT count(*) FROM (SELECT 1 FROM files f WHERE {where} LIMIT {TOTAL_CAP + 1}) AS m", *args
                )
            times.append(time.perf_counter() - start)
        return times
    finally:
        await conn.close()


async def _seeded(dsn: str) -> tuple[list[str], Any, Any] | None:
    """A database seeded by an earlier run (--keep-database): its dataset ids and cursor row."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT count(*) FROM files") < FILES:
            return None
        ids = [str(r[0]) for r in await conn.fetch("SELECT id FROM datasets ORDER BY code")]
        row = await conn.fetchrow(CURSOR_ROW_SQL)
        return ids, row["submitted_at"], row["id"]
    finally:
        await conn.close()


CURSOR_ROW_SQL = "SELECT submitted_at, id FROM files ORDER BY submitted_at DESC, id DESC OFFSET 400000 LIMIT 1"


def run(keep_database: str | None = None, rounds: int = ROUNDS) -> dict[str, Any]:
    """{"pages": [(name, app ms, raw ms, app CPU ms)], "fixed": ms, "rss": MiB, "seed_s": seconds or None}."""
    with services(keep_database) as (url, s3):
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with app_process(settings_for(url, s3, port), port) as proc:
            login = httpx.post(f"{base}/api/auth/dev-login", json={"username": "b", "groups": ["lab"]})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            root = httpx.post(f"{base}/api/auth/dev-login", json={"username": "r", "groups": ["admin", "lab"]})
            admin = {"Authorization": f"Bearer {root.json()['access_token']}"}
            me = httpx.get(f"{base}/api/auth/me", headers=headers).json()
            seeded = asyncio.run(_seeded(dsn))
            seed_s = None
            if seeded is not None:
                ids, cursor_time, cursor_id = seeded
            else:
                project = httpx.post(
                    f"{base}/api/projects", json={"code": "p", "name": "p", "owner_groups": ["lab"]}, headers=admin
                ).json()
                ids = []
                for i in range(DATASETS):
                    ds = httpx.post(
                        f"{base}/api/datasets",
                        json={"project_id": project["id"], "code": f"d{i:02d}", "name": "d", "owner_group": "lab"},
                        headers=headers,
                    ).json()
                    ids.append(ds["id"])
                t0 = time.perf_counter()

                async def seed() -> tuple[Any, Any]:
                    conn = await asyncpg.connect(dsn)
                    try:
                        await conn.execute("SET maintenance_work_mem = '256MB'")
                        async with conn.transaction():
                            for statement in SEED.split(";\n"):
                                if statement.strip():
                                    await conn.execute(statement, *([me["id"]] if "$1" in statement else []))
                        # settle the writes first, or the checkpointer and autovacuum run during the timings
                        await conn.execute("VACUUM ANALYZE")
                        await conn.execute("CHECKPOINT")
                        row = await conn.fetchrow(CURSOR_ROW_SQL)
                        return row["submitted_at"], row["id"]
                    finally:
                        await conn.close()

                cursor_time, cursor_id = asyncio.run(seed())
                seed_s = time.perf_counter() - t0
            cursor = encode_cursor("-submitted_at", cursor_time, cursor_id)  # the API's cursor for that row
            results = []
            with httpx.Client(timeout=120) as http:
                me_t = []
                for _ in range(rounds * 3):
                    start = time.perf_counter()
                    http.get(f"{base}/api/auth/me", headers=headers)
                    me_t.append(time.perf_counter() - start)
                fixed = statistics.median(me_t) * 1000
                for name, api, where, order, args in pages(ids, cursor, cursor_time, cursor_id):
                    with_count = "cursor" not in api  # the API counts on first pages only
                    app_t = []
                    http.get(f"{base}/api/files", params=api, headers=headers)  # warm: statement caches, type lookups
                    cpu0 = sum(proc.cpu_times()[:2])
                    for _ in range(rounds):
                        start = time.perf_counter()
                        response = http.get(f"{base}/api/files", params=api, headers=headers)
                        app_t.append(time.perf_counter() - start)
                        assert response.status_code == 200, response.text[:300]
                    cpu_ms = (sum(proc.cpu_times()[:2]) - cpu0) / rounds * 1000
                    raw_t = asyncio.run(raw(dsn, where, order, [ids, *args], with_count, rounds))
                    results.append((name, statistics.median(app_t) * 1000, statistics.median(raw_t) * 1000, cpu_ms))
            rss = peak_rss_mib(proc)
    return {"pages": results, "fixed": fixed, "rss": rss, "seed_s": seed_s}


def report(out: dict[str, Any]) -> list[str]:
    lines = []
    if out["seed_s"] is not None:
        lines.append(f"seeded {FILES:,} files / {FILES * VERSIONS_PER_FILE:,} versions in {out['seed_s']:.0f} s")
    for name, a, r, cpu in out["pages"]:
        lines.append(
            f"{name:42s} app {a:8.1f} ms   raw SQL {r:8.1f} ms   ratio {a / r:5.2f}  (target <= 2, < 25 ms)"
            f"   app CPU {cpu:5.1f} ms/page"
        )
    lines.append("app CPU: the app process's own CPU time per page (Python: HTTP, auth, SQLAlchemy, JSON)")
    lines.append(f"fixed cost of any authenticated request (GET /api/auth/me): {out['fixed']:.1f} ms")
    lines.append(f"app peak RSS: {out['rss']:.1f} MiB (target < 200)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-database", help="seed this database once and reuse it on later runs")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="requests per page (median)")
    args = parser.parse_args()
    print("\n".join(report(run(args.keep_database, args.rounds))))


if __name__ == "__main__":
    main()
