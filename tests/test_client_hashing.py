"""InOrderSha256: the whole-file SHA-256 from bytes handed over out of order (lent, given or on disk)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from pathlib import Path

from omicsdm.client.hashing import InOrderSha256
from omicsdm.client.local import BufferPool

KIB = 1024


async def test_pieces_in_any_order_and_by_any_route_give_the_files_digest(tmp_path: Path) -> None:
    data = os.urandom(64 * 37 * KIB + 123)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    size, piece = len(data), 64 * KIB
    spans = [(start, min(size, start + piece)) for start in range(0, size, piece)]
    order = random.Random(7).sample(range(len(spans)), len(spans))
    pool = BufferPool()
    fd = os.open(path, os.O_RDONLY)
    try:
        sha = InOrderSha256(fd, size, pool)
        hashing = asyncio.create_task(sha.run())
        lent: list[tuple[int, bytearray]] = []
        for n, index in enumerate(order):
            start, end = spans[index]
            route = n % 3
            if route == 0:  # an upload worker lends its buffer while it sends, then takes it back
                view = bytearray(data[start:end])
                sha.lend(start, memoryview(view))
                lent.append((start, view))
            elif route == 1:  # a download worker gives the buffer away
                buffer = pool.get(piece)
                buffer[: end - start] = data[start:end]
                sha.give(start, buffer, end - start)
            else:  # the bytes are (already) in the file
                sha.on_disk(start, end)
            await asyncio.sleep(0)
            if len(lent) > 2:  # reclaimed before the hash used it: read back from the file instead
                position, _ = lent.pop(0)
                await sha.reclaim(position)
        for position, _ in lent:
            await sha.reclaim(position)
        sha.close()
        assert await asyncio.wait_for(hashing, 10) == hashlib.sha256(data).hexdigest()
    finally:
        os.close(fd)


async def test_a_retried_piece_and_a_gap_at_close_are_handled(tmp_path: Path) -> None:
    data = os.urandom(300 * KIB)
    path = tmp_path / "g.bin"
    path.write_bytes(data)
    pool = BufferPool()
    fd = os.open(path, os.O_RDONLY)
    try:
        sha = InOrderSha256(fd, len(data), pool)
        first = pool.get(100 * KIB)
        first[:] = data[: 100 * KIB]
        sha.give(0, first, 100 * KIB)
        again = pool.get(100 * KIB)  # a retried chunk hands the same bytes over twice
        again[:] = data[: 100 * KIB]
        sha.give(0, again, 100 * KIB)
        sha.close()  # nothing came for the rest: it is read from the file
        assert await asyncio.wait_for(sha.run(), 10) == hashlib.sha256(data).hexdigest()
    finally:
        os.close(fd)
