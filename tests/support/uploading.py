"""Upload helpers for tests: the whole EvaporateJS sequence for small files in one call."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.evaporate import EvaporateClient, part_md5s


async def upload_file(
    client: httpx.AsyncClient, headers: dict[str, str], dataset_id: str, name: str, data: bytes, **extra: Any
) -> dict[str, Any]:
    """Start, send, complete; returns the recorded version (with the upload's object key and bucket)."""
    body = {"dataset_id": dataset_id, "name": name, "size": len(data), **extra}
    started = await client.post("/api/uploads", json=body, headers=headers)
    assert started.status_code in (200, 201), started.text
    upload = started.json()
    e = EvaporateClient(api=client, upload=upload)
    try:
        await e.upload_bytes(data)
    finally:
        await e.aclose()
    done = await client.post(
        f"/api/uploads/{upload['id']}/complete",
        json={"part_md5s": part_md5s(data, upload["part_size"])},
        headers=headers,
    )
    assert done.status_code == 200, done.text
    return {**done.json(), "object_key": upload["object_key"], "bucket": upload["bucket"]}
