"""Two replicas of the service (two apps, one database, one bucket) sign the same upload correctly."""

from __future__ import annotations

from typing import Any

import pytest

from omicsdm.settings import Settings
from tests.conftest import World, app_client
from tests.support.evaporate import EvaporateClient, SignerRefused

MIB = 1024 * 1024


async def test_replicas_share_uploads_and_cannot_bind_different_upload_ids(
    client: Any, world: World, settings: Settings
) -> None:
    data = b"r" * (6 * MIB)
    body = {"dataset_id": world.dataset["id"], "name": "replicated.bam", "size": len(data), "part_size": 5 * MIB}
    upload = (await client.post("/api/uploads", json=body, headers=world.alice.headers)).json()

    async with app_client(settings) as replica_b:  # same secret, database and bucket: another replica
        on_a = EvaporateClient(api=client, upload=upload)
        on_b = EvaporateClient(api=replica_b, upload=upload)
        try:
            # replica B signs for an upload replica A started; both initiate (a double click in two tabs)
            await on_b.initiate()
            await on_a.initiate()
            assert on_a.s3_upload_id != on_b.s3_upload_id
            # both replicas now cache the grant, unbound (initiate carries no UploadId)
            await on_a.put_part(1, data[: 5 * MIB])  # A binds its UploadId first
            # B's cached grant predates the binding: it must not bind the other UploadId
            with pytest.raises(SignerRefused, match="uploadId belongs to another upload"):
                await on_b.put_part(1, data[: 5 * MIB])
            # ... but B signs the bound upload's requests (it reloads the binding)
            on_b.s3_upload_id = on_a.s3_upload_id
            await on_b.put_part(2, data[5 * MIB :])
            await on_b.complete_s3(await on_b.list_parts())
        finally:
            await on_a.aclose()
            await on_b.aclose()
        done = await replica_b.post(f"/api/uploads/{upload['id']}/complete", headers=world.alice.headers)
        assert done.status_code == 200, done.text
        assert done.json()["size"] == len(data)
