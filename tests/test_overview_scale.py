"""What keeps the overview fast at a million versions without bending its rules: the total stops
counting at a cap (and says so), and a bearer token's principal is reused for a few seconds."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from omicsdm.auth.principal import Principal, PrincipalCache
from omicsdm.repository import overview
from omicsdm.services.cursors import encode_cursor
from tests.conftest import Actor, World, _dsn
from tests.support.idp import LocalIdP


async def seed_files(database_url: str, dataset_id: str, names: list[str]) -> None:
    """Files with one version each, straight into the tables (the bytes do not matter here)."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        async with conn.transaction():
            for name in names:
                file_id, version_id = uuid.uuid4(), uuid.uuid4()
                await conn.execute(
                    "INSERT INTO files (id, dataset_id, name, version_count, size, comment) "
                    "VALUES ($1, $2, $3, 1, 10, '')",
                    file_id,
                    uuid.UUID(dataset_id),
                    name,
                )
                await conn.execute(
                    "INSERT INTO file_versions (id, file_id, version, object_key, size, etag, content_type, "
                    "checksum_state) VALUES ($1, $2, 1, $3, 10, 'e', 'application/octet-stream', 'size_only')",
                    version_id,
                    file_id,
                    f"datasets/{dataset_id}/{version_id}",
                )
                await conn.execute("UPDATE files SET latest_version_id = $1 WHERE id = $2", version_id, file_id)
    finally:
        await conn.close()


async def totals(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> tuple[int | None, bool, int]:
    answer = await client.get("/api/files", params={"limit": "2", **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    return page["total"], page["total_capped"], len(page["items"])


async def test_the_total_stops_counting_at_the_cap(
    client: httpx.AsyncClient, world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_files(database_url, world.dataset["id"], [f"s{i}.bam" for i in range(5)])
    assert await totals(client, world.alice.headers) == (5, False, 2)
    monkeypatch.setattr(overview, "TOTAL_CAP", 3)
    assert await totals(client, world.alice.headers) == (3, True, 2)  # "more than 3"
    assert await totals(client, world.bob.headers) == (3, True, 2)  # shared with lab-b
    assert await totals(client, world.carol.headers) == (0, False, 0)  # a stranger counts nothing
    assert await totals(client, world.alice.headers, name="s4") == (1, False, 1)
    monkeypatch.setattr(overview, "TOTAL_CAP", 5)
    assert await totals(client, world.alice.headers) == (5, False, 2)  # exactly the cap: exact
    page = (await client.get("/api/files", params={"limit": "2"}, headers=world.alice.headers)).json()
    later = await client.get(
        "/api/files", params={"limit": "2", "cursor": page["next_cursor"]}, headers=world.alice.headers
    )
    assert later.json()["total"] is None and later.json()["total_capped"] is False
    # The count rides on the page's statement; a page that comes back empty still gets its total.
    past_the_end = encode_cursor("-submitted_at", datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
    empty = await client.get(
        "/api/files",
        params={"limit": "2", "cursor": past_the_end, "include_total": "true"},
        headers=world.alice.headers,
    )
    assert empty.status_code == 200, empty.text
    assert (empty.json()["items"], empty.json()["total"], empty.json()["next_cursor"]) == ([], 5, None)


async def test_a_connection_the_database_cut_is_replaced_before_a_request_uses_it(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    """The pool checks each connection as it hands it out (db/engine.py `_ping`): after PostgreSQL ended every
    pooled connection (a restart, a failover, an idle timeout), the next requests are answered, not 503."""
    assert (await client.get("/api/files", headers=world.alice.headers)).status_code == 200
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        ended = await conn.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'omicsdm' AND pid <> pg_backend_pid()) t"
        )
    finally:
        await conn.close()
    assert ended >= 1
    for _ in range(3):
        answer = await client.get("/api/files", headers=world.alice.headers)
        assert answer.status_code == 200, answer.text


def test_a_compiled_statement_refuses_to_run_without_every_value() -> None:
    from sqlalchemy import bindparam, literal_column, select

    from omicsdm.repository.compiled import compiled

    statement = compiled(("test", 1), lambda: select(literal_column("1")).where(bindparam("a") == bindparam("b")))
    assert statement.names == ("a", "b") and "$1" in statement.sql and "$2" in statement.sql
    assert statement.args({"b": 2, "a": 1}) == [1, 2]
    with pytest.raises(KeyError, match="'b'"):
        statement.args({"a": 1})


async def test_name_search_looks_up_the_identifier_and_matches_the_whole_term(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    names = ["Lane100_Sample.bam", "lane100_other.bam", "lane1000_sample.bam", "x/lane100_sample%.bam", "plain.txt"]
    await seed_files(database_url, world.dataset["id"], names)
    assert overview.search_probe("lane100_sample") == "lane100"

    async def found(term: str, actor: Actor) -> list[str]:
        page = await client.get("/api/files", params={"name": term, "sort": "name"}, headers=actor.headers)
        assert page.status_code == 200, page.text
        return [item["name"] for item in page.json()["items"]]

    assert await found("lane100_sample", world.alice) == ["Lane100_Sample.bam", "x/lane100_sample%.bam"]
    assert await found("LANE100_SAMPLE%", world.bob) == ["x/lane100_sample%.bam"]  # % and _ are literal
    assert await found("lane100", world.alice) == ["Lane100_Sample.bam", "lane1000_sample.bam", "lane100_other.bam",
                                                   "x/lane100_sample%.bam"]  # fmt: skip
    assert await found("0_s", world.alice) == ["Lane100_Sample.bam", "lane1000_sample.bam", "x/lane100_sample%.bam"]
    assert await found("lane100_sample", world.carol) == []  # the dataset is not shared with lab-c


async def test_a_token_is_resolved_once_it_is_in_step(app: FastAPI, client: httpx.AsyncClient, idp: LocalIdP) -> None:
    cache = app.state.omicsdm.verifier.principals
    token = idp.token("dave", ["lab-d"], lifetime=3600)
    headers = {"Authorization": f"Bearer {token}"}
    first = await client.get("/api/auth/me", headers=headers)
    assert first.status_code == 200
    assert cache.get(token) is None  # the first request wrote dave's rows: nothing cached a rollback could undo
    assert (await client.get("/api/auth/me", headers=headers)).json() == first.json()
    cached = cache.get(token)
    assert cached is not None and cached.username == "dave" and cached.groups == {"lab-d"}
    # Other groups come with another token, which is resolved (and mirrored) on its own.
    moved = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {idp.token('dave', ['lab-e'])}"})
    assert moved.json()["groups"] == ["lab-e"]

    created = await client.post("/api/auth/tokens", json={"name": "t"}, headers=headers)
    secret = created.json()["token"]
    for _ in range(2):
        assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {secret}"})).status_code == 200
    assert cache.get(secret) is None  # API tokens are looked up every time: revocation is immediate


def principal() -> Principal:
    return Principal(uuid.uuid4(), "s", "u", frozenset({1}), frozenset({"g"}), False, "oidc")


def test_a_cached_principal_never_outlives_its_token_or_the_ttl() -> None:
    cache = PrincipalCache(ttl=60)
    cache.put("expired", principal(), time.time() - 1)
    assert cache.get("expired") is None
    cache.put("live", p := principal(), time.time() + 3600)
    assert cache.get("live") is p
    short = PrincipalCache(ttl=0)
    short.put("live", principal(), time.time() + 3600)
    assert short.get("live") is None


def test_cli_says_more_than_when_the_total_is_capped() -> None:
    from omicsdm.cli.client_commands import _of
    from omicsdm.client.models import FilePage

    page = FilePage.model_validate({"items": [], "total": 10_000, "total_capped": True})
    assert _of(page.total or 0, page.total_capped) == "more than 10,000"
    assert _of(42, FilePage.model_validate({"items": [], "total": 42}).total_capped) == "42"


async def test_audit_rows_are_recorded_many_at_once(database_url: str) -> None:
    """record_many sends every column as one array (unnest): None, UUIDs, text ids and JSON survive it."""
    from sqlalchemy import select

    from omicsdm.db.engine import make_engine, make_sessionmaker
    from omicsdm.db.models import AuditEvent
    from omicsdm.repository import audit
    from omicsdm.settings import DatabaseSettings

    engine = make_engine(DatabaseSettings(url=database_url))
    marker = f"test.many.{uuid.uuid4().hex[:8]}"
    target = uuid.uuid4()
    rows = [
        {"action": marker, "actor_id": None, "actor_name": "janitor", "target_type": "upload", "target_id": None},
        {"action": marker, "actor_id": None, "actor_name": "b", "target_type": "file", "target_id": target,
         "detail": {"version": 3, "note": "é \"quoted\""}},
    ]  # fmt: skip
    try:
        async with make_sessionmaker(engine)() as session:
            await audit.record_many(session, rows)
            await audit.record_many(session, [])
            await session.commit()
            found = (
                (await session.execute(select(AuditEvent).where(AuditEvent.action == marker).order_by(AuditEvent.id)))
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert [(e.actor_name, e.target_type, e.target_id, e.detail) for e in found] == [
        ("janitor", "upload", None, {}),
        ("b", "file", str(target), {"version": 3, "note": 'é "quoted"'}),
    ]
    assert all(e.at is not None and e.actor_id is None for e in found)
