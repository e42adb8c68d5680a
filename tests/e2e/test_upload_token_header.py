"""The upload token travels to the signer only as the X-Upload-Token header, and the upload queue copes
with a service that is briefly down (503 + Retry-After, told apart by the problem's `code`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import (
    Lab,
    LiveServer,
    choose_dataset,
    login,
    objects_of,
    open_upload,
    random_file,
    transfer,
)

pytestmark = pytest.mark.browser
MIB = 1024 * 1024
SIGNER = "/api/uploads/sign"

# An EvaporateJS resume record as a frontend from before the header wrote it: the token in signParams.
LEGACY_TOKEN = "legacy-token-that-must-not-travel"
LEGACY_RECORD: dict[str, Any] = {
    "awsKey": "datasets/elsewhere/old.bin",
    "bucket": "some-bucket",
    "uploadId": "legacy-upload-id",
    "fileSize": 1,
    "fileType": "application/octet-stream",
    "lastModifiedDate": "2020-01-01T00:00:00.000Z",
    "partSize": 6 * MIB,
    "signParams": {"upload_token": LEGACY_TOKEN},
    "createdAt": "2020-01-01T00:00:00.000Z",
}


def record_signer_requests(page: Any) -> list[Any]:
    seen: list[Any] = []
    page.on("request", lambda r: seen.append(r) if urlsplit(r.url).path == SIGNER else None)
    return seen


def record_upload_answers(page: Any) -> list[Any]:
    seen: list[Any] = []
    page.on(
        "response",
        lambda r: seen.append(r) if r.request.method == "POST" and urlsplit(r.url).path == "/api/uploads" else None,
    )
    return seen


def problem_503(code: str, retry_after: int = 1) -> dict[str, Any]:
    return {
        "status": 503,
        "headers": {"Retry-After": str(retry_after)},
        "content_type": "application/problem+json",
        "body": json.dumps(
            {
                "type": f"https://omicsdm.dev/problems/{code}",
                "title": "Service Unavailable",
                "status": 503,
                "code": code,
                "detail": "wording the frontend must not depend on",
            }
        ),
    }


async def test_the_token_goes_only_in_the_header_and_the_upload_completes(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "header_R1.fastq.gz", 12 * MIB)
    signer_requests = record_signer_requests(page)
    upload_answers = record_upload_answers(page)
    await login(page, lab.user, [lab.group])
    await page.evaluate("record => localStorage.setItem('awsUploads', JSON.stringify({legacy: record}))", LEGACY_RECORD)
    await choose_dataset(page, lab)
    await open_upload(page)
    await page.get_by_test_id("file-input").set_input_files(source)
    await transfer(page, "header_R1.fastq.gz", "done").wait_for(timeout=30_000)
    assert "version 1" in await transfer(page, "header_R1.fastq.gz").inner_text()

    assert len(upload_answers) == 1
    upload = await upload_answers[0].json()
    token = upload["sign_headers"]["X-Upload-Token"]
    assert token

    # Initiate, at least one part, Complete: every signer request carries the header, none the token in the URL.
    assert len(signer_requests) >= 3, [r.url for r in signer_requests]
    for request in signer_requests:
        headers = await request.all_headers()
        assert headers.get("x-upload-token") == token, headers
        query = parse_qs(urlsplit(request.url).query)
        assert "upload_token" not in query, request.url
        assert token not in request.url
        assert LEGACY_TOKEN not in request.url
        assert {"to_sign", "datetime", "canonical_request"} <= query.keys()

    # The legacy record lost its token; EvaporateJS's own record of this upload has none.
    records = json.loads(await page.evaluate("localStorage.getItem('awsUploads')"))
    assert all(not r.get("signParams") for r in records.values()), records

    stored = objects_of(s3_client, live_server.bucket, lab.dataset["id"])
    assert len(stored) == 1
    assert stored[0]["Size"] == 12 * MIB


async def test_a_503_from_the_signer_is_retried_not_a_refusal(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "signer503.bin", 2 * MIB)
    answered: list[str] = []

    async def first_fails(route: Any) -> None:
        if not answered:
            answered.append(route.request.url)
            await route.fulfill(**problem_503("database-unavailable"))
        else:
            await route.continue_()

    await page.route(f"**{SIGNER}?*", first_fails)
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await page.get_by_test_id("file-input").set_input_files(source)
    await transfer(page, "signer503.bin", "done").wait_for(timeout=30_000)
    assert answered, "the signer was never asked"
    assert len(objects_of(s3_client, live_server.bucket, lab.dataset["id"])) == 1


async def test_completion_answered_503_is_retried_after_retry_after(
    page: Any, lab: Lab, live_server: LiveServer, s3_client: Any, tmp_path: Path
) -> None:
    source = random_file(tmp_path, "complete503.bin", 2 * MIB)
    refused: list[str] = []

    async def down_twice(route: Any) -> None:
        if route.request.method == "POST" and len(refused) < 2:
            refused.append(route.request.url)
            await route.fulfill(**problem_503("storage-unavailable"))
        else:
            await route.continue_()

    await page.route("**/api/uploads/*/complete", down_twice)
    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await page.get_by_test_id("file-input").set_input_files(source)
    row = transfer(page, "complete503.bin")
    await page.get_by_text("temporarily unavailable (storage)").wait_for(timeout=30_000)
    assert "wording the frontend must not depend on" not in await row.inner_text()
    await transfer(page, "complete503.bin", "done").wait_for(timeout=30_000)
    assert len(refused) == 2
    assert "version 1" in await row.inner_text()
    assert len(objects_of(s3_client, live_server.bucket, lab.dataset["id"])) == 1
