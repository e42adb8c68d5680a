"""The multi-node cluster (deploy/multinode/cluster.py) for this folder's tests: real processes, started once.

Size: OMICSDM_MULTINODE_SCALE=ci (the default: fits CI on 2 cores) or full (the issue's sizes: 100
concurrent uploads of one name, 30 uploads signed across replicas).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from deploy.multinode.cluster import Cluster, haproxy_binary

from tests.conftest import Actor, create_atlas, fresh_database


@dataclass(frozen=True)
class Scale:
    signed_uploads: int  # uploads whose signing requests go to each replica in turn
    same_name: int  # concurrent uploads of one name, through a replica kill and completions through another


SCALES = {"ci": Scale(signed_uploads=6, same_name=12), "full": Scale(signed_uploads=30, same_name=100)}


@pytest.fixture(scope="session")
def scale() -> Scale:
    name = os.environ.get("OMICSDM_MULTINODE_SCALE", "ci")
    if name not in SCALES:
        raise pytest.UsageError(f"OMICSDM_MULTINODE_SCALE must be one of {', '.join(SCALES)}, not {name!r}")
    return SCALES[name]


@pytest.fixture(scope="module")
async def cluster(
    server_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Cluster]:
    try:
        haproxy_binary()
    except FileNotFoundError as exc:
        pytest.fail(f"{exc} (.ci/run installs it)")
    async with fresh_database(server_url, "multinode") as url:
        cluster = Cluster(
            tmp_path_factory.mktemp("multinode"),
            database_url=url,
            bucket=f"omicsdm-mn-{secrets.token_hex(3)}",
            migrate=False,  # fresh_database migrated it
        )
        await asyncio.to_thread(cluster.start)
        failed_before = request.session.testsfailed
        try:
            yield cluster
        finally:
            if request.session.testsfailed > failed_before:
                for process in cluster.processes:
                    print(f"\n----- {process.name} (alive: {process.alive})\n{process.tail(20)}")
            await asyncio.to_thread(cluster.stop)


@dataclass
class ClusterWorld:
    admin: Actor
    alice: Actor
    dataset_id: str


@pytest.fixture(scope="module")
async def world(cluster: Cluster) -> ClusterWorld:
    admin = Actor("root", ["admin"], cluster.token("root", ["admin"]))
    alice = Actor("alice", ["lab-a"], cluster.token("alice", ["lab-a"]))
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as api:
        _, dataset = await create_atlas(api, admin, alice)
    return ClusterWorld(admin, alice, dataset["id"])
