"""The SHA-256 of a whole file while its bytes pass through the transfer out of order.

Uploads read parts and downloads receive chunks several at a time, in no fixed order; SHA-256 must see
the bytes in file order. `InOrderSha256.run()` walks the file from the start and, at each position,
hashes whichever of these holds the next bytes:

- a buffer *lent* by an upload worker while it sends that part (the worker `reclaim`s it before reusing
  it, and waits only if the hash is reading it at that moment);
- a buffer *given* by a download worker (the hash owns it and returns it to the pool when done);
- the file itself, for ranges marked `on_disk` (parts whose buffer went back before the hash reached
  them, chunks kept from an interrupted run), read back from the page cache.

So the bytes are hashed from memory as they go by, with no extra copy, and a whole-file pass before or
after the transfer is never needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from omicsdm.client.local import READ_BLOCK, BufferPool, hash_range_into


class InOrderSha256:
    def __init__(self, fd: int, size: int, buffers: BufferPool) -> None:
        self.fd, self.size, self.buffers = fd, size, buffers
        self.digest = hashlib.sha256()
        self.hashed = 0  # bytes [0, hashed) are in the digest
        self._lent: dict[int, memoryview] = {}
        self._given: dict[int, tuple[memoryview, int]] = {}  # position -> (pooled buffer, length)
        self._on_disk: dict[int, int] = {}  # start -> end
        self._busy: int | None = None  # position of the lent buffer being hashed right now
        self._idle = asyncio.Event()
        self._idle.set()
        self._arrived = asyncio.Event()
        self._moved = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[str] | None = None

    # --- what the workers hand over -------------------------------------------------------------

    def lend(self, position: int, view: memoryview) -> None:
        """The bytes at `position` are in `view` until `reclaim(position)`."""
        if position >= self.hashed:
            self._lent[position] = view
            self._arrived.set()

    async def reclaim(self, position: int) -> None:
        """Take a lent buffer back; if the hash has not used it, the file is read there later instead."""
        while self._busy == position:
            await self._idle.wait()
        view = self._lent.pop(position, None)
        if view is not None and position >= self.hashed:
            self.on_disk(position, position + len(view))

    def give(self, position: int, buffer: memoryview, length: int) -> None:
        """The hash owns `buffer` (its first `length` bytes are the file's at `position`) and puts it
        back in the pool once hashed."""
        if position + length <= self.hashed:  # a retried chunk: already in the digest
            self.buffers.put(buffer)
            return
        previous = self._given.pop(position, None)
        if previous is not None:
            self.buffers.put(previous[0])
        self._given[position] = (buffer, length)
        self._arrived.set()

    def on_disk(self, start: int, end: int) -> None:
        """The file holds the right bytes in [start, end)."""
        if end > start:
            self._on_disk[start] = max(end, self._on_disk.get(start, end))
            self._arrived.set()

    def close(self) -> None:
        """Nothing more will be handed over: whatever is missing is read from the file."""
        self._closed = True
        self._arrived.set()

    async def admit(self, position: int, window: int) -> None:
        """Wait until `position` is at most `window` bytes ahead of the hash (bounds what is held)."""
        while position > self.hashed + window:
            self._moved.clear()
            await self._moved.wait()

    # --- the hash -------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the hash in the background (for callers that need no `admit`: see `finish`)."""
        self._task = asyncio.create_task(self.run())

    async def finish(self) -> str:
        """Nothing more will be handed over: the digest, once the hash has caught up."""
        assert self._task is not None, "start() first"
        self.close()
        return await self._task

    async def stop(self) -> None:
        """Abandon a started hash (the transfer failed)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def run(self) -> str:
        while self.hashed < self.size:
            position = self.hashed
            if position in self._lent:
                view = self._lent[position]
                self._busy = position
                self._idle.clear()
                try:
                    await asyncio.to_thread(self.digest.update, view)
                finally:
                    self._busy = None
                    self._idle.set()
                self._lent.pop(position, None)
                self.hashed += len(view)
            elif position in self._given:
                buffer, length = self._given.pop(position)
                await asyncio.to_thread(self.digest.update, buffer[:length])
                self.buffers.put(buffer)
                self.hashed += length
            elif position in self._on_disk:
                end = min(self.size, self._on_disk.pop(position))
                await self._read_back(position, end)
            elif self._closed:
                await self._read_back(position, self.size)
            else:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            self._moved.set()
        self._release()
        return self.digest.hexdigest()

    async def _read_back(self, start: int, end: int) -> None:
        scratch = self.buffers.get(READ_BLOCK)
        try:
            await asyncio.to_thread(hash_range_into, self.digest, self.fd, start, end, scratch)
        finally:
            self.buffers.put(scratch)
        self.hashed = end

    def _release(self) -> None:
        for buffer, _ in self._given.values():
            self.buffers.put(buffer)
        self._given.clear()
        self._lent.clear()
