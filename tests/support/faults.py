"""Outages on demand: a private PostgreSQL and a private SeaweedFS a test owns, stops and starts again, plus a
probe that keeps requests running through the outage and the rule every answer must meet.

Both servers restart on the same data directory and the same address (PostgreSQL: the same unix socket;
SeaweedFS: the S3 port and keys kept in its state.json), so an app made before the outage can reach them
again afterwards without being recreated: that is what "works again without a restart" means.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncpg
import httpx

from omicsdm.db.migrate import upgrade
from omicsdm.embedded.postgres import EmbeddedPostgres
from omicsdm.embedded.seaweedfs import EmbeddedSeaweedFS, S3Endpoint
from tests.conftest import _dsn

Part = Literal["database", "storage"]


class PrivatePostgres:
    """An embedded PostgreSQL 16 in `data_dir`, never the machine's shared server; migrated on first start."""

    def __init__(self, data_dir: Path) -> None:
        self._pg = EmbeddedPostgres(data_dir)
        self.url = ""

    def start(self) -> str:
        url = self._pg.start()
        if not self.url:
            upgrade(url)
        elif url != self.url:
            raise RuntimeError(f"PostgreSQL came back at {url}, not at {self.url}: the app could not reach it")
        self.url = url
        return url

    def stop(self) -> None:
        self._pg.stop()

    @property
    def running(self) -> bool:
        return self._pg.running

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(_dsn(self.url))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()


class PrivateS3:
    """An embedded SeaweedFS in `data_dir`; comes back on the same port with the same keys and data."""

    def __init__(self, data_dir: Path) -> None:
        self._weed = EmbeddedSeaweedFS(data_dir)
        self.endpoint: S3Endpoint | None = None

    def start(self) -> S3Endpoint:
        endpoint = self._weed.start()
        if self.endpoint is not None and endpoint != self.endpoint:
            raise RuntimeError(f"SeaweedFS came back as {endpoint}, not as {self.endpoint}")
        self.endpoint = endpoint
        return endpoint

    def stop(self) -> None:
        self._weed.stop()

    @property
    def running(self) -> bool:
        return self._weed.running


@dataclass
class Answer:
    label: str
    phase: str  # "up" (before), "down" (during), "back" (after restart)
    status: int
    content_type: str
    retry_after: str | None
    body: str
    error: str | None = None  # the request raised instead of answering (a transport-level failure)

    def describe(self) -> str:
        if self.error:
            return f"{self.label} [{self.phase}]: raised {self.error}"
        return f"{self.label} [{self.phase}]: {self.status} {self.content_type} retry-after={self.retry_after} {self.body[:300]}"

    def json(self) -> dict[str, object]:
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


def outage_violation(answer: Answer, part: Part) -> str | None:
    """None if `answer` is a 2xx, or a 503 problem+json with Retry-After and code `<part>-unavailable`
    (on DRS routes: GA4GH's Error naming the part); otherwise what is wrong with it."""
    if answer.error is not None:
        return "the request raised instead of answering"
    if 200 <= answer.status < 300:
        return None
    if answer.status != 503:
        return f"status {answer.status}, expected 2xx or 503"
    problems = []
    if not (answer.retry_after or "").strip().isdigit():
        problems.append(f"Retry-After {answer.retry_after!r}, expected a number of seconds")
    if " /ga4gh/drs/" in answer.label:
        # DRS answers errors in GA4GH's own Error shape ({"msg", "status_code"}), which DRS clients read.
        body = answer.json()
        if not answer.content_type.startswith("application/json") or body.get("status_code") != 503:
            problems.append(f"not a GA4GH Error with status_code 503: {answer.content_type!r} {body!r}")
        elif part not in str(body.get("msg", "")):
            problems.append(f"msg {body.get('msg')!r} does not name the {part}")
        return "; ".join(problems) or None
    if not answer.content_type.startswith("application/problem+json"):
        problems.append(f"content type {answer.content_type!r}, expected application/problem+json")
    code = answer.json().get("code")
    if code != f"{part}-unavailable":
        problems.append(f"code {code!r}, expected {part}-unavailable")
    return "; ".join(problems) or None


Request = Callable[[], Awaitable[httpx.Response]]


@dataclass
class Probe:
    """Sends each labelled request in turn, again and again, and records every answer with the phase it fell in."""

    requests: dict[str, Request]
    answers: list[Answer] = field(default_factory=list)
    phase: str = "up"

    async def call(self, label: str) -> Answer:
        try:
            response = await self.requests[label]()
        except Exception as exc:  # recorded: a request must answer, whatever is down
            answer = Answer(label, self.phase, 0, "", None, "", error=f"{type(exc).__name__}: {exc}")
        else:
            answer = Answer(
                label,
                self.phase,
                response.status_code,
                response.headers.get("content-type", ""),
                response.headers.get("retry-after"),
                response.text,
            )
        self.answers.append(answer)
        return answer

    async def round(self) -> dict[str, Answer]:
        return {label: await self.call(label) for label in list(self.requests)}

    async def loop(self, stop: asyncio.Event, pause: float = 0.02) -> None:
        while not stop.is_set():
            await self.round()
            await asyncio.sleep(pause)

    async def until_all_succeed(self, within: float) -> dict[str, Answer]:
        """Rounds until one has every request answered 2xx; raise with the last round after `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            last = await self.round()
            if all(200 <= a.status < 300 for a in last.values()):
                return last
            if time.monotonic() > deadline:
                failing = "\n".join(a.describe() for a in last.values() if not 200 <= a.status < 300)
                raise AssertionError(f"still failing {within:.0f} s after the restart:\n{failing}")
            await asyncio.sleep(0.2)

    def in_phase(self, phase: str) -> list[Answer]:
        return [a for a in self.answers if a.phase == phase]

    def violations(self, part: Part) -> list[str]:
        return [f"{a.describe()}\n    -> {why}" for a in self.answers if (why := outage_violation(a, part))]
