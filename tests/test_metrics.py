"""Observability: Prometheus metrics at /metrics, request ids, JSON logs."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from omicsdm.errors import InvalidInput
from omicsdm.logs import log_config
from omicsdm.request_id import request_id
from omicsdm.settings import MetricsSettings, Settings
from tests.conftest import World, app_client
from tests.support.uploading import upload_file

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
FRESH_ID = re.compile(r"[0-9a-f]{32}")


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    answer = await client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def refused_sign_query() -> dict[str, str]:
    return {
        "to_sign": "AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/us-east-1/s3/aws4_request\n" + "0" * 64,
        "datetime": "20260101T000000Z",
        "canonical_request": "PUT\n/b/k\npartNumber=1&uploadId=u\nhost:h\n\nhost\nUNSIGNED-PAYLOAD",
        "upload_token": "forged.1.token",
    }


async def test_uploads_signatures_and_s3_calls_are_counted(client: httpx.AsyncClient, world: World) -> None:
    before = await scrape(client)
    payloads = [b"a" * 1000, b"b" * 5000]
    versions = [
        await upload_file(client, world.alice.headers, world.dataset["id"], f"m{i}.txt", data)
        for i, data in enumerate(payloads)
    ]
    refused = await client.get("/api/uploads/sign", params=refused_sign_query())
    assert refused.status_code == 403 and refused.json()["code"] == "signing-refused"
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "omicsdm_http_requests_total"
    assert delta(requests, method="POST", route="/api/uploads", status="201") == 2
    assert delta(requests, method="POST", route="/api/uploads/{upload_id}/complete", status="200") == 2
    assert delta(requests, method="GET", route="/api/uploads/sign", status="403") == 1
    assert delta("omicsdm_http_request_duration_seconds_count", method="GET", route="/api/uploads/sign", status="200")
    # Route templates, never raw paths: no upload or file id becomes a label value.
    ids = {v["file_id"] for v in versions} | {v["object_key"].rsplit("/", 1)[-1] for v in versions}
    assert not any(i in label for (_, labels) in after for _, label in labels for i in ids)

    assert delta("omicsdm_uploads_total", state="started") == 2
    assert delta("omicsdm_uploads_total", state="completed") == 2
    assert delta("omicsdm_recorded_bytes_total") == sum(map(len, payloads))
    assert delta("omicsdm_signatures_refused_total", code="signing-refused") == 1
    assert delta("omicsdm_signatures_issued_total") >= 2 * 3  # initiate, a part, complete per upload
    assert delta("omicsdm_s3_request_duration_seconds_count", operation="head_object") >= 2
    assert delta("omicsdm_s3_errors_total", operation="head_object") == 0

    assert value(after, "omicsdm_db_pool_size", pool="requests") == 5
    assert value(after, "omicsdm_db_pool_size", pool="listings") == 5
    assert ("omicsdm_db_pool_checked_out", frozenset({("pool", "requests")})) in after
    assert ("omicsdm_db_pool_checked_out", frozenset({("pool", "listings")})) in after
    # Counted in the database at the first scrape, then cached (FIXITY_REFRESH_SECONDS).
    assert ("omicsdm_versions_by_fixity", frozenset({("state", "unchecked")})) in after


async def test_reconciliation_results_are_exported(client: httpx.AsyncClient, world: World) -> None:
    await upload_file(client, world.alice.headers, world.dataset["id"], "r.txt", b"r" * 100)
    before = await scrape(client)
    report = await client.post("/api/admin/reconcile", headers=world.admin.headers)
    assert report.status_code == 200, report.text
    after = await scrape(client)
    runs = "omicsdm_reconcile_runs_total"
    assert value(after, runs) - value(before, runs) == 1
    counts = report.json()["counts"]
    for kind in ("missing-object", "size-drift", "untracked-object", "stuck-upload"):
        assert value(after, "omicsdm_reconcile_findings", kind=kind) == counts.get(kind, 0), kind
    assert value(after, "omicsdm_reconcile_last_run_timestamp_seconds") > 0


async def test_cancelled_uploads_are_counted(client: httpx.AsyncClient, world: World) -> None:
    before = await scrape(client)
    started = await client.post(
        "/api/uploads",
        json={"dataset_id": world.dataset["id"], "name": "c.txt", "size": 10},
        headers=world.alice.headers,
    )
    assert started.status_code == 201, started.text
    cancelled = await client.post(f"/api/uploads/{started.json()['id']}/cancel", headers=world.alice.headers)
    assert cancelled.status_code in (200, 204), cancelled.text
    after = await scrape(client)
    assert (
        value(after, "omicsdm_uploads_total", state="cancelled")
        - value(before, "omicsdm_uploads_total", state="cancelled")
        == 1
    )


async def test_metrics_token_is_required_when_set(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics": MetricsSettings(token=SecretStr("metrics-scraper-secret"))})
    async with app_client(guarded) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic metrics-scraper-secret"}):
            answer = await client.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.json()["code"] == "not-authenticated"
        assert "omicsdm_http_requests_total" in str(await scrape(client, Authorization="Bearer metrics-scraper-secret"))


async def test_metrics_can_be_disabled_and_stay_out_of_the_schema(settings: Settings, app: FastAPI) -> None:
    assert "/metrics" not in app.openapi()["paths"]
    off = settings.model_copy(update={"metrics": MetricsSettings(enabled=False)})
    async with app_client(off) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_request_id_round_trip_and_in_problem_bodies(client: httpx.AsyncClient, app: FastAPI) -> None:
    given = await client.get("/api/files", headers={"X-Request-ID": "lb-4711.abc"})
    assert given.status_code == 401
    assert given.headers["X-Request-ID"] == "lb-4711.abc"
    assert given.json()["request_id"] == "lb-4711.abc"

    fresh = [await client.get("/api/files") for _ in range(2)]
    ids = [answer.headers["X-Request-ID"] for answer in fresh]
    assert all(FRESH_ID.fullmatch(i) for i in ids) and ids[0] != ids[1]
    assert [answer.json()["request_id"] for answer in fresh] == ids

    for insane in ("has spaces", "x" * 129, "naïve"):
        answer = await client.get("/api/files", headers={b"X-Request-ID": insane.encode("utf-8")})
        assert FRESH_ID.fullmatch(answer.headers["X-Request-ID"]), insane

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/test-broken", broken, include_in_schema=False)
    crashed = await client.get("/api/test-broken", headers={"X-Request-ID": "crash-1"})
    assert crashed.status_code == 500
    assert crashed.json()["request_id"] == "crash-1" and crashed.headers["X-Request-ID"] == "crash-1"

    async def invalid() -> None:
        raise InvalidInput("nope")

    app.add_api_route("/api/test-invalid", invalid, include_in_schema=False)
    one = await client.get("/api/test-invalid", headers={"X-Request-ID": "v-1"})
    assert one.status_code == 422 and one.json()["request_id"] == "v-1"


LOGGERS = ("omicsdm", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """dictConfig changes process-wide loggers: put them back for the tests that follow."""
    saved = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate, logging.getLogger(name).level)
        for name in LOGGERS
    }
    yield
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate, logger.level = propagate, level


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_json_log_lines_carry_the_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], configured_logging: None
) -> None:
    logging.config.dictConfig(log_config(fmt="json"))
    capsys.readouterr()
    refused = await client.get("/api/uploads/sign", params=refused_sign_query(), headers={"X-Request-ID": "json-1"})
    assert refused.status_code == 403
    lines = json_lines(capsys.readouterr().err)
    signer = [line for line in lines if line["logger"] == "omicsdm.signer"]
    assert signer and signer[0]["request_id"] == "json-1" and signer[0]["level"] == "WARNING"
    assert "signing refused" in str(signer[0]["message"])
    assert {"time", "level", "logger", "message", "request_id"} <= signer[0].keys()

    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("omicsdm.test").exception("outside any request")
    (line,) = json_lines(capsys.readouterr().err)
    assert line["request_id"] is None and "ValueError: boom" in str(line["exc_info"])


def test_json_access_log_still_redacts_upload_tokens(
    capsys: pytest.CaptureFixture[str], configured_logging: None
) -> None:
    logging.config.dictConfig(log_config(fmt="json"))
    token = request_id.set("access-7")
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5555",
            "GET",
            "/api/uploads/sign?to_sign=x&upload_token=0f1e.1766.c2VjcmV0&canonical_request=z",
            "1.1",
            200,
        )
        logging.getLogger("uvicorn.access").info('"GET /api/links/0f1e.3.a1b2.1766.c2VjcmV0 HTTP/1.1" 302')
    finally:
        request_id.reset(token)
    err = capsys.readouterr().err
    assert "c2VjcmV0" not in err
    first, second = json_lines(err)
    assert "upload_token=REDACTED" in str(first["message"]) and first["request_id"] == "access-7"
    assert "/api/links/REDACTED" in str(second["message"]) and first["logger"] == "uvicorn.access"


def test_text_log_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str], configured_logging: None) -> None:
    logging.config.dictConfig(log_config())
    token = request_id.set("text-9")
    try:
        logging.getLogger("omicsdm.test").warning("inside a request")
    finally:
        request_id.reset(token)
    logging.getLogger("omicsdm.test").warning("outside")
    inside, outside = capsys.readouterr().err.splitlines()
    assert "WARNING omicsdm.test [text-9]: inside a request" in inside
    assert "WARNING omicsdm.test: outside" in outside
