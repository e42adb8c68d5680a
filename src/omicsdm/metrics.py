"""Prometheus metrics: what the service counts, the HTTP middleware that times requests, and `/metrics`.

The counters and histograms live on one module registry, created once at import: the service code
increments them wherever things happen, and many apps in one process (the tests) share them
without registering anything twice. What belongs to one app (its connection pool, the versions by
fixity state in its database) is collected at scrape time by collectors on a registry per app,
which also exposes the shared one.

Labels are bounded: routes by their template (`/api/files/{file_id}`), refusals by problem code,
S3 calls by operation name.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omicsdm.errors import NotAuthenticated
from omicsdm.settings import Settings

if TYPE_CHECKING:
    from omicsdm.deps import AppState

log = logging.getLogger("omicsdm.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "omicsdm_http_requests",
    "HTTP requests answered, by method, route template and status",
    ("method", "route", "status"),
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "omicsdm_http_request_duration_seconds",
    "Time from receiving a request to its handler returning, by method, route template and status",
    ("method", "route", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
SIGNATURES_ISSUED = Counter(
    "omicsdm_signatures_issued", "S3 requests the signer signed for EvaporateJS", registry=REGISTRY
)
SIGNATURES_REFUSED = Counter(
    "omicsdm_signatures_refused",
    "Signing requests the signer refused, by problem code",
    ("code",),
    registry=REGISTRY,
)
UPLOADS = Counter(
    "omicsdm_uploads",
    "Upload sessions started, completed (a version recorded) and cancelled",
    ("state",),
    registry=REGISTRY,
)
RECORDED_BYTES = Counter(
    "omicsdm_recorded_bytes", "Bytes of the versions recorded by completed uploads", registry=REGISTRY
)
S3_DURATION = Histogram(
    "omicsdm_s3_request_duration_seconds",
    "S3 API calls made by the service, by operation (retries included; a GET until its headers arrived)",
    ("operation",),
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
S3_ERRORS = Counter(
    "omicsdm_s3_errors",
    "S3 API calls that got no answer (unreachable, timed out) or a 5xx or 403, by operation",
    ("operation",),
    registry=REGISTRY,
)

RECONCILE_RUNS = Counter(
    "omicsdm_reconcile_runs", "Reconciliations of the catalogue with the bucket run by this process", registry=REGISTRY
)
RECONCILE_FINDINGS = Gauge(
    "omicsdm_reconcile_findings",
    "Findings of the last reconciliation run by this process, by kind",
    ("kind",),
    registry=REGISTRY,
)
RECONCILE_LAST_RUN = Gauge(
    "omicsdm_reconcile_last_run_timestamp_seconds",
    "When the last reconciliation run by this process finished (Unix time)",
    registry=REGISTRY,
)
RECONCILE_KINDS = (
    "missing-object",
    "size-drift",
    "etag-drift",
    "untracked-object",
    "stale-multipart",
    "stuck-upload",
)

_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
FIXITY_REFRESH_SECONDS = 300.0  # the fixity gauge counts every version: at most this often per process
FIXITY_QUERY_TIMEOUT_SECONDS = 2.0

UPLOAD_STARTED = UPLOADS.labels("started")
UPLOAD_COMPLETED = UPLOADS.labels("completed")
UPLOAD_CANCELLED = UPLOADS.labels("cancelled")


def upload_completed(size: int) -> None:
    UPLOAD_COMPLETED.inc()
    RECORDED_BYTES.inc(size)


def signature_refused(code: str) -> None:
    SIGNATURES_REFUSED.labels(code).inc()


def reconciled(counts: dict[str, int]) -> None:
    """A finished reconciliation: every known kind is set (to 0 when it found none)."""
    RECONCILE_RUNS.inc()
    for kind in {*RECONCILE_KINDS, *counts}:
        RECONCILE_FINDINGS.labels(kind).set(counts.get(kind, 0))
    RECONCILE_LAST_RUN.set_to_current_time()


def s3_call(operation: str, seconds: float, failed: bool) -> None:
    S3_DURATION.labels(operation).observe(seconds)
    if failed:
        S3_ERRORS.labels(operation).inc()


class HttpMetricsMiddleware:
    """Counts and times every HTTP request by its route template; pure ASGI, one dict lookup per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts: an exception that escaped every handler

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            elapsed = time.perf_counter() - started
            # The router leaves the matched route in the scope; its template keeps ids out of the labels.
            template = getattr(scope.get("route"), "path_format", None) or "unmatched"
            key = (scope["method"], template, status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self._new_series(*key)
            series[0].inc()
            series[1].observe(elapsed)

    @staticmethod
    def _new_series(method: str, template: str, status: int) -> tuple[Any, Any]:
        labels = (method if method in _METHODS else "other", template, str(status))
        return HTTP_REQUESTS.labels(*labels), HTTP_DURATION.labels(*labels)


class _Shared(Collector):
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class PoolCollector(Collector):
    """The app's SQLAlchemy connection pools, read at scrape time: `requests` (sessions) and `listings`
    (the overview's pages)."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        state: AppState | None = getattr(self._app.state, "omicsdm", None)
        if state is None:
            return
        size = GaugeMetricFamily("omicsdm_db_pool_size", "Connections the pool keeps open", labels=["pool"])
        used = GaugeMetricFamily(
            "omicsdm_db_pool_checked_out", "Pooled connections in use by requests", labels=["pool"]
        )
        overflow = GaugeMetricFamily(
            "omicsdm_db_pool_overflow", "Connections open beyond the pool size", labels=["pool"]
        )
        for name, engine in (("requests", state.engine), ("listings", state.listings)):
            pool = engine.pool
            if isinstance(pool, QueuePool):
                size.add_metric([name], pool.size())
                used.add_metric([name], pool.checkedout())
                overflow.add_metric([name], max(0, pool.overflow()))
        yield from (size, used, overflow)


class FixityCollector(Collector):
    """Versions by fixity state (what `omicsdm verify` found), counted in the database at most every
    FIXITY_REFRESH_SECONDS: the count reads every version, so scrapes mostly see the cached figures."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._counts: dict[str, int] | None = None
        self._at = -1e9

    async def refresh(self) -> None:
        state: AppState | None = getattr(self._app.state, "omicsdm", None)
        if state is None or time.monotonic() - self._at < FIXITY_REFRESH_SECONDS:
            return
        from omicsdm.repository import fixity

        self._at = time.monotonic()  # also after a failure: a database outage must not be queried per scrape
        try:
            async with state.sessionmaker() as session:
                self._counts = await asyncio.wait_for(fixity.summary(session), FIXITY_QUERY_TIMEOUT_SECONDS)
        except Exception as exc:  # a scrape never fails for it; the figures stay as they were
            log.info("fixity counts not refreshed: %s", exc)

    def collect(self) -> Iterator[Metric]:
        if self._counts is None:
            return
        family = GaugeMetricFamily(
            "omicsdm_versions_by_fixity",
            f"File versions by fixity state (refreshed at most every {FIXITY_REFRESH_SECONDS:.0f} s)",
            labels=("state",),
        )
        for name, count in sorted(self._counts.items()):
            if name != "queued":
                family.add_metric((name,), count)
        yield family
        if "queued" in self._counts:
            yield GaugeMetricFamily(
                "omicsdm_versions_fixity_queued", "Versions queued for a fixity check", value=self._counts["queued"]
            )


def install(app: FastAPI, settings: Settings) -> None:
    """Time every request, and serve `/metrics` (unless disabled; bearer token if one is set)."""
    app.add_middleware(HttpMetricsMiddleware)
    if not settings.metrics.enabled:
        return
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Shared())
    registry.register(PoolCollector(app))
    fixity = FixityCollector(app)
    registry.register(fixity)
    token = settings.metrics.token.get_secret_value().encode() if settings.metrics.token else None

    async def metrics(request: Request) -> Response:
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
                raise NotAuthenticated("metrics require Authorization: Bearer <OMICSDM_METRICS__TOKEN>")
        await fixity.refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
