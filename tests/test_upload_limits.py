"""GET /api/uploads/limits says up front what POST /api/uploads will enforce (the web page shows it)."""

from __future__ import annotations

from typing import Any

import httpx

from omicsdm.services.upload_rules import MAX_PARTS, choose_part_size


async def test_limits_are_the_settings_the_service_enforces(database_url: str, s3: Any, idp: Any, bucket: str) -> None:
    from tests.conftest import app_client, make_settings

    settings = make_settings(
        database_url, s3, idp, bucket, allowed_extensions="fastq.gz,.BAM", max_file_size=2 * 1024**4
    )
    async with app_client(settings) as client:
        assert (await client.get("/api/uploads/limits")).status_code == 401
        headers = {"Authorization": f"Bearer {idp.token('someone', ['lab'])}"}
        limits = (await client.get("/api/uploads/limits", headers=headers)).json()
    assert limits["allowed_extensions"] == ["fastq.gz", "bam"]
    assert limits["max_file_size"] == 2 * 1024**4
    assert limits["max_parts"] == MAX_PARTS
    # The largest file fits the part count at the part size the service picks for it.
    part = choose_part_size(limits["max_file_size"], None, limits["max_file_size"])
    assert limits["min_part_size"] <= part <= limits["max_part_size"]
    assert -(-limits["max_file_size"] // part) <= limits["max_parts"]
    assert limits["default_part_size"] >= limits["min_part_size"]


async def test_limits_with_defaults(client: httpx.AsyncClient, idp: Any) -> None:
    headers = {"Authorization": f"Bearer {idp.token('someone', ['lab'])}"}
    limits = (await client.get("/api/uploads/limits", headers=headers)).json()
    assert limits["allowed_extensions"] == []
    assert limits["max_file_size"] == 5 * 1024**4
