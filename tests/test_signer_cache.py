"""The signer's per-process upload cache: one database read per upload however many requests want it,
re-read in the background before it expires, never served older than its TTL."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from omicsdm.db.models import UploadState
from omicsdm.services.signer import CachedUpload, SignerCache
from omicsdm.signing import policy


def entry(upload_id: uuid.UUID, state: UploadState = UploadState.PENDING) -> CachedUpload:
    grant = policy.UploadGrant(
        upload_id=upload_id,
        bucket="b",
        object_key="k",
        host="h",
        region="us-east-1",
        content_type="application/octet-stream",
        part_count=3,
        s3_upload_id=None,
    )
    return CachedUpload(grant, state, datetime.now(UTC) + timedelta(days=1), True, time.monotonic())


class Loader:
    def __init__(self, delay: float = 0.05, fail: bool = False) -> None:
        self.calls = 0
        self.delay, self.fail = delay, fail
        self.state = UploadState.PENDING
        self.returned = asyncio.Event()

    async def __call__(self, upload_id: uuid.UUID) -> CachedUpload | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionRefusedError("database down")
        self.returned.set()  # the cache stores what it returns before any waiter runs
        return entry(upload_id, self.state)


async def test_concurrent_misses_read_the_database_once() -> None:
    cache, load, upload_id = SignerCache(), Loader(), uuid.uuid4()
    got = await asyncio.gather(*(cache.get_or_load(upload_id, load) for _ in range(50)))
    assert load.calls == 1 and all(g is got[0] for g in got)
    assert await cache.get_or_load(upload_id, load) is got[0] and load.calls == 1


async def test_entries_are_refreshed_in_the_background_before_they_expire() -> None:
    cache, load, upload_id = SignerCache(ttl=3.0, refresh_ahead=2.8), Loader(delay=0.05), uuid.uuid4()
    first = await cache.get_or_load(upload_id, load)
    load.returned.clear()
    await asyncio.sleep(0.3)  # within the refresh window: served at once, one re-read starts
    load.state = UploadState.COMPLETED
    served = await asyncio.gather(*(cache.get_or_load(upload_id, load) for _ in range(20)))
    assert all(s is first for s in served) and load.calls == 2
    await load.returned.wait()
    await asyncio.sleep(0)
    refreshed = await cache.get_or_load(upload_id, load)
    assert refreshed is not None and refreshed.state is UploadState.COMPLETED and load.calls == 2


async def test_an_expired_entry_is_never_served() -> None:
    cache, load, upload_id = SignerCache(ttl=0.1, refresh_ahead=0.0), Loader(delay=0.0), uuid.uuid4()
    first = await cache.get_or_load(upload_id, load)
    assert first is not None
    cache.put(upload_id, replace(first, loaded_at=time.monotonic() - 1))
    load.state = UploadState.CANCELLED
    again = await cache.get_or_load(upload_id, load)
    assert again is not None and again.state is UploadState.CANCELLED and load.calls == 2


async def test_invalidate_drops_a_read_in_flight() -> None:
    cache, load, upload_id = SignerCache(), Loader(delay=0.1), uuid.uuid4()
    pending = asyncio.create_task(cache.get_or_load(upload_id, load))
    await asyncio.sleep(0.02)
    cache.invalidate(upload_id)  # e.g. completed meanwhile: what the read returns must not be cached
    assert await pending is not None
    assert cache.get(upload_id) is None


async def test_a_failed_read_reaches_its_callers_and_is_retried() -> None:
    cache, load, upload_id = SignerCache(), Loader(fail=True), uuid.uuid4()
    results = await asyncio.gather(*(cache.get_or_load(upload_id, load) for _ in range(5)), return_exceptions=True)
    assert load.calls == 1 and all(isinstance(r, ConnectionRefusedError) for r in results)
    load.fail = False
    assert await cache.get_or_load(upload_id, load) is not None and load.calls == 2


async def test_a_failed_background_refresh_leaves_the_entry_to_expire() -> None:
    cache, load, upload_id = SignerCache(ttl=1.0, refresh_ahead=0.9), Loader(delay=0.0), uuid.uuid4()
    first = await cache.get_or_load(upload_id, load)
    await asyncio.sleep(0.2)
    load.fail = True
    assert await cache.get_or_load(upload_id, load) is first  # starts a refresh that fails
    await asyncio.sleep(0.05)
    assert load.calls == 2 and cache.get(upload_id) is first
    await asyncio.sleep(1.0)
    with pytest.raises(ConnectionRefusedError):
        await cache.get_or_load(upload_id, load)
