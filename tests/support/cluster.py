"""Clients of the multi-node cluster (deploy/multinode/cluster.py) that behave as real ones do when a replica
dies: a request that got no answer (a reset connection, HAProxy's 502/504) or a 503 is sent again after a
backoff, and every such repetition is counted so that a test can show the failure really happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from deploy.multinode.cluster import Cluster
from prometheus_client.parser import text_string_to_metric_families

from tests.support.evaporate import EvaporateClient, Request, part_md5s

MIB = 1024 * 1024
NO_ANSWER = frozenset({502, 503, 504})  # HAProxy's answers for a dead replica, and the service's outage answer


@dataclass
class Retries:
    """Attempts that got no usable answer, by what was asked and what happened."""

    seen: Counter[tuple[str, str]] = field(default_factory=Counter)

    def note(self, what: str, why: str) -> None:
        self.seen[(what, why)] += 1

    def of(self, what: str) -> int:
        return sum(n for (w, _), n in self.seen.items() if w == what)


async def retrying(
    retries: Retries, what: str, send: Callable[[], Awaitable[httpx.Response]], attempts: int = 12
) -> httpx.Response:
    """Send until something answers (not 502/503/504, no reset connection), as EvaporateJS and the CLI do."""
    for attempt in range(attempts):
        try:
            response = await send()
        except httpx.TransportError as exc:
            retries.note(what, type(exc).__name__)
            delay = 0.0
        else:
            if response.status_code not in NO_ANSWER:
                return response
            retries.note(what, str(response.status_code))
            delay = float(response.headers.get("retry-after", "0") or 0)
        await asyncio.sleep(min(max(delay, 0.2 * 2**attempt), 5.0))
    raise AssertionError(f"{what}: no answer after {attempts} attempts ({dict(retries.seen)})")


class RoundRobin:
    """Sends each signing request to the next replica directly (EvaporateJS's signer calls, spread by hand)."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self._next = itertools.cycle(range(len(clients)))
        self.answered: Counter[int] = Counter()  # 200s by replica index

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        index = next(self._next)
        response = await self.clients[index].get(url, **kwargs)
        if response.status_code == 200:
            self.answered[index] += 1
        return response


class RetryingEvaporate(EvaporateClient):
    """EvaporateJS as it behaves: a signer call or an S3 request without an answer is tried again."""

    retries: Retries
    signed: int

    def __init__(self, api: Any, upload: dict[str, Any], retries: Retries) -> None:
        super().__init__(api=api, upload=upload)
        self.retries = retries
        self.signed = 0

    async def sign(self, req: Request, **kwargs: Any) -> httpx.Response:
        self.signer_calls += 1
        response = await retrying(
            self.retries,
            "sign",
            lambda: self.api.get(self.upload["signer_url"], params=self.signer_query(req, **kwargs)),
        )
        if response.status_code == 200:
            self.signed += 1
        return response

    async def send(
        self, req: Request, body: bytes = b"", unsigned_headers: dict[str, str] | None = None
    ) -> httpx.Response:
        for attempt in range(8):
            try:
                response = await super().send(req, body, unsigned_headers)
            except httpx.TransportError as exc:
                self.retries.note("s3", type(exc).__name__)
            else:
                if response.status_code < 500:
                    return response
                self.retries.note("s3", str(response.status_code))
            await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError(f"S3 {req.method} {req.query}: no answer after 8 attempts")


@dataclass
class Sent:
    """An upload whose bytes are all in S3, waiting for its completion."""

    upload: dict[str, Any]
    data: bytes
    signed: int
    part_md5s: list[str]  # computed once, before completions are timed against a replica's death

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


async def start_upload(
    api: httpx.AsyncClient, retries: Retries, headers: dict[str, str], dataset_id: str, name: str, data: bytes
) -> dict[str, Any]:
    """Start (a repeated start of the same file resumes the upload the lost answer had created)."""
    body = {
        "dataset_id": dataset_id,
        "name": name,
        "size": len(data),
        "part_size": 5 * MIB,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    started = await retrying(retries, "start", lambda: api.post("/api/uploads", json=body, headers=headers))
    assert started.status_code in (200, 201), started.text
    upload: dict[str, Any] = started.json()
    return upload


async def send_bytes(
    signer: Any,
    upload: dict[str, Any],
    data: bytes,
    retries: Retries,
    after_first_part: Callable[[], None] | None = None,
) -> Sent:
    """Initiate, send every part, complete in S3; each S3 request signed by the service through `signer`."""
    client = RetryingEvaporate(signer, upload, retries)
    try:
        await client.initiate()
        etags: dict[int, str] = {}
        for number, chunk in enumerate(client.parts_of(data), start=1):
            etags[number] = await client.put_part(number, chunk)
            if number == 1 and after_first_part is not None:
                after_first_part()
        await client.complete_s3(etags)
    finally:
        await client.aclose()
    return Sent(upload, data, client.signed, part_md5s(data, upload["part_size"]))


async def complete(api: httpx.AsyncClient, retries: Retries, headers: dict[str, str], sent: Sent) -> dict[str, Any]:
    """Record the version; completion is idempotent, so a completion without an answer is simply repeated."""
    body = {"part_md5s": sent.part_md5s}
    url = f"/api/uploads/{sent.upload['id']}/complete"
    done = await retrying(retries, "complete", lambda: api.post(url, json=body, headers=headers))
    assert done.status_code == 200, done.text
    version: dict[str, Any] = done.json()
    return version


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape_replicas(cluster: Cluster) -> list[dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    async with httpx.AsyncClient(timeout=10) as http:
        pages = [await http.get(replica.url + "/metrics") for replica in cluster.replicas]
    for page in pages:
        assert page.status_code == 200, page.text
    return [scrape(page.text) for page in pages]


def value(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)
