"""Three `omicsdm serve` replicas behind HAProxy, one PostgreSQL, SeaweedFS as a cluster (master, three volume
servers with replication 001, filer, S3 gateway) and an OIDC identity provider: every part a real process.

Replicas share nothing but the database, the bucket and the secret key: an upload started on one is signed
by the others; a replica killed mid-upload or while completions wait on it loses nothing the clients do
not repeat; a volume server killed loses no byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
from deploy.multinode.cluster import Cluster

from tests.multinode.conftest import ClusterWorld, Scale
from tests.support.cluster import (
    MIB,
    Retries,
    RoundRobin,
    Sent,
    complete,
    retrying,
    scrape_replicas,
    send_bytes,
    start_upload,
    value,
)

SIGN_ROUTE = {"method": "GET", "route": "/api/uploads/sign", "status": "200"}


@contextlib.asynccontextmanager
async def direct_clients(cluster: Cluster) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client per replica, bypassing HAProxy."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(httpx.AsyncClient(base_url=r.url, timeout=60)) for r in cluster.replicas]


async def kill_with_requests_queued(cluster: Cluster, index: int) -> None:
    """Freeze a replica (SIGSTOP), wait until HAProxy has handed it requests, then SIGKILL it: those
    requests surely die unanswered, whatever the timing of the machine."""
    cluster.freeze_replica(index)
    name = cluster.replicas[index].name
    async with asyncio.timeout(30):  # HAProxy hands it nothing once it has marked it down
        while True:  # polled: HAProxy's counters have no event to wait on
            if int(cluster.proxy_stats()[name]["scur"] or 0) > 0:
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a few more
    cluster.kill_replica(index)


def payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def test_uploads_signed_by_each_replica_in_turn_and_counted_in_their_metrics(
    cluster: Cluster, world: ClusterWorld, scale: Scale
) -> None:
    retries = Retries()
    # Alternately one part (300 KiB) and two parts (5 MiB + 7 KiB): initiate, parts, complete, all signed.
    datas = [payload(i, 300 * 1024 if i % 2 else 5 * MIB + 7 * 1024) for i in range(scale.signed_uploads)]
    before = await scrape_replicas(cluster)
    limit = asyncio.Semaphore(3)
    async with direct_clients(cluster) as direct, httpx.AsyncClient(base_url=cluster.url, timeout=60) as api:
        signer = RoundRobin(direct)

        async def one(i: int, data: bytes) -> tuple[Sent, dict[str, Any]]:
            async with limit:
                # Started through HAProxy on whichever replica; each signing request to the next replica.
                upload = await start_upload(
                    api, retries, world.alice.headers, world.dataset_id, f"signed/{i}.bin", data
                )
                sent = await send_bytes(signer, upload, data, retries)
                return sent, await complete(api, retries, world.alice.headers, sent)

        results = await asyncio.gather(*(one(i, d) for i, d in enumerate(datas)))
    after = await scrape_replicas(cluster)

    assert not retries.seen, f"nothing failed in this phase, yet: {retries.seen}"
    for (_sent, version), data in zip(results, datas, strict=True):
        assert version["size"] == len(data) and version["sha256"] == hashlib.sha256(data).hexdigest()
        assert version["version"] == 1
    signed = sum(sent.signed for sent, _ in results)
    assert signed == sum(signer.answered.values()) == sum(3 if len(d) < 5 * MIB else 4 for d in datas)

    def delta(name: str, **labels: str) -> list[float]:
        return [value(a, name, **labels) - value(b, name, **labels) for a, b in zip(after, before, strict=True)]

    # Each replica counted exactly the signatures it handed out, and every one of them handed some out.
    issued = delta("omicsdm_signatures_issued_total")
    assert issued == [float(signer.answered[i]) for i in range(len(cluster.replicas))], issued
    assert all(n > 0 for n in issued)
    assert sum(delta("omicsdm_http_requests_total", **SIGN_ROUTE)) == signed
    assert sum(delta("omicsdm_signatures_refused_total", code="signing-refused")) == 0
    # Starts and completions went through HAProxy: wherever they landed, the sums are the uploads made.
    assert sum(delta("omicsdm_uploads_total", state="started")) == len(datas)
    assert sum(delta("omicsdm_uploads_total", state="completed")) == len(datas)
    assert sum(delta("omicsdm_recorded_bytes_total")) == sum(len(d) for d in datas)
    assert sum(n > 0 for n in delta("omicsdm_uploads_total", state="completed")) >= 2, "HAProxy spread completions"


async def test_a_rotated_identity_provider_key_is_fetched_once_per_replica(
    cluster: Cluster, world: ClusterWorld
) -> None:
    fetched = cluster.idp_call("/stats")["jwks_requests"]
    new_kid = cluster.idp_call("/rotate", {})["kid"]
    token = cluster.token("alice", ["lab-a"])  # signed with the new key, unknown to every replica's cache
    async with direct_clients(cluster) as direct:
        for _ in range(3):
            for replica in direct:
                for bearer in (token, world.alice.token):  # the new key, and the old one still published
                    me = await replica.get("/api/auth/me", headers={"Authorization": f"Bearer {bearer}"})
                    assert me.status_code == 200, me.text
    stats = cluster.idp_call("/stats")
    assert new_kid in stats["kids"]
    # One refetch per replica for the unknown key, then served from each replica's own cache.
    assert stats["jwks_requests"] - fetched == len(cluster.replicas)


async def test_concurrent_uploads_of_one_name_survive_killed_replicas_and_a_killed_volume_server(
    cluster: Cluster, world: ClusterWorld, scale: Scale
) -> None:
    n = scale.same_name
    datas = [payload(1000 + i, 5 * MIB + 1024 * (i + 1)) for i in range(n)]  # two parts each, all different
    retries = Retries()
    first_parts = 0
    half_sent = asyncio.Event()

    def first_part_sent() -> None:
        nonlocal first_parts
        first_parts += 1
        if first_parts >= n // 2:
            half_sent.set()

    async with (
        httpx.AsyncClient(base_url=cluster.url, timeout=60, limits=httpx.Limits(max_connections=n + 4)) as api,
        direct_clients(cluster) as direct,
    ):
        headers = world.alice.headers

        async def one(data: bytes) -> Sent:
            upload = await start_upload(api, retries, headers, world.dataset_id, "runs/same.fastq.gz", data)
            return await send_bytes(api, upload, data, retries, after_first_part=first_part_sent)

        # 1. A replica SIGKILLed while the uploads are half way, with signing requests queued on it (frozen
        #    first, so that some surely are): HAProxy sends those GETs again to the others.
        uploads = [asyncio.create_task(one(d)) for d in datas]
        await asyncio.wait_for(half_sent.wait(), 120)
        proxy_before = cluster.proxy_stats()["BACKEND"]
        await kill_with_requests_queued(cluster, 0)
        restarted = asyncio.create_task(asyncio.to_thread(cluster.start_replica, 0))
        sent = await asyncio.gather(*uploads)
        await restarted  # back, with empty caches: it loads what the others recorded
        proxy_after = cluster.proxy_stats()["BACKEND"]
        # What the killed replica held was sent again: GETs by HAProxy, a start (a POST) by its client.
        assert int(proxy_after["wredis"]) > int(proxy_before["wredis"]) or retries.of("start") > 0
        assert retries.of("sign") == 0, "HAProxy repeats a GET the killed replica never answered: no client saw it"
        await asyncio.to_thread(cluster.wait_proxy_sees, up=[r.name for r in cluster.replicas])
        assert len({s.upload["id"] for s in sent}) == n, "each upload its own session, none resumed another"

        # 2. Another replica frozen, then SIGKILLed, with completions queued on it: they get no answer.
        completions = [asyncio.create_task(complete(api, retries, headers, s)) for s in sent]
        await kill_with_requests_queued(cluster, 1)
        versions = await asyncio.gather(*completions)
        assert retries.of("complete") >= 1, "a completion was in flight on the killed replica"
        # The repeated completions are idempotent: each upload is one version, numbered 1..n without a gap.
        assert sorted(v["version"] for v in versions) == list(range(1, n + 1))
        assert len({v["file_id"] for v in versions}) == 1
        by_sha = {v["sha256"]: v for v in versions}
        assert set(by_sha) == {s.sha256 for s in sent}
        again = await complete(api, retries, headers, sent[0])  # a late repetition changes nothing
        assert again["id"] == versions[0]["id"] and again["version"] == versions[0]["version"]

        file_id = versions[0]["file_id"]
        detail = await retrying(retries, "file", lambda: api.get(f"/api/files/{file_id}", headers=headers))
        assert detail.status_code == 200, detail.text
        listed = detail.json()["versions"]
        assert sorted(v["version"] for v in listed) == list(range(1, n + 1))
        assert {v["sha256"] for v in listed} == set(by_sha)

        # 3. A volume server SIGKILLed: replication 001 keeps a second copy of every needle.
        cluster.kill_volume_server(0)
        links = await retrying(
            retries,
            "download-urls",
            lambda: api.post(
                "/api/files/download-urls",
                json={"items": [{"file_id": file_id, "version": v["version"]} for v in versions]},
                headers=headers,
            ),
        )
        assert links.status_code == 200, links.text
        expected = {s.sha256: s.data for s in sent}
        async with httpx.AsyncClient(timeout=60) as s3:

            async def download(link: dict[str, Any]) -> None:
                got = await retrying(retries, "s3-get", lambda: s3.get(link["url"]))
                assert got.status_code == 200, got.text
                assert got.content == expected[link["sha256"]], f"version {link['version']} differs"

            await asyncio.gather(*(download(link) for link in links.json()["items"]))

        # The surviving replicas and the two volume servers still take new versions.
        extra = payload(99, 64 * 1024)
        upload = await start_upload(api, retries, headers, world.dataset_id, "runs/same.fastq.gz", extra)
        late = await complete(api, retries, headers, await send_bytes(direct[2], upload, extra, retries))
        assert late["version"] == n + 1

    print(f"\nretried by the clients (what, why): {dict(retries.seen)}; by HAProxy: {proxy_after['wredis']}")
