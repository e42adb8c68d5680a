"""A typed async client of the omicsdm HTTP API (the parts scripts and the CLI use)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from omicsdm.client.errors import ApiError, ClientError, ExitCode
from omicsdm.client.models import (
    ApiToken,
    Dataset,
    DeviceAuthorization,
    DeviceToken,
    DownloadLinks,
    FileDetail,
    FilePage,
    FileRow,
    Me,
    Project,
    Upload,
    Version,
)
from omicsdm.client.version import __version__

M = TypeVar("M", bound=BaseModel)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DOWNLOAD_URL_BATCH = 1000  # the service's limit per request


@dataclass(frozen=True, slots=True)
class FileQuery:
    """Filters of the file overview (GET /api/files)."""

    project_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    name: str | None = None
    extension: str | None = None
    submitter: str | None = None
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    version: int | None = None
    sort: str | None = None

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out


class ApiClient:
    """One per command run; holds a pooled httpx client. Retries transient failures of idempotent calls."""

    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": f"omicsdm-cli/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.server = server.rstrip("/")
        self.retries = retries
        self.http = httpx.AsyncClient(
            base_url=self.server,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=20.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- plumbing ---------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | Sequence[str]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            delay = min(0.25 * 2**attempt, 15.0)
            try:
                response = await self.http.request(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                if not idempotent or attempt > self.retries:
                    raise ClientError(f"cannot reach {self.server}: {_describe(exc)}", ExitCode.UNAVAILABLE) from exc
            else:
                if response.status_code < 400:
                    return response
                if not (idempotent and response.status_code in RETRY_STATUSES and attempt <= self.retries):
                    raise api_error(response)
                delay = max(delay, _retry_after(response))
            await asyncio.sleep(delay)

    async def _get(self, path: str, model: type[M], params: Mapping[str, str] | None = None) -> M:
        return model.model_validate_json((await self.request("GET", path, params=params)).content)

    async def _post(self, path: str, model: type[M], body: Any = None, *, idempotent: bool = True) -> M:
        response = await self.request("POST", path, json=body, idempotent=idempotent)
        return model.model_validate_json(response.content)

    # --- identity ---------------------------------------------------------------------------------

    async def me(self) -> Me:
        return await self._get("/api/auth/me", Me)

    async def tokens(self) -> list[ApiToken]:
        """The caller's personal API tokens, newest first (revoked ones included)."""
        response = await self.request("GET", "/api/auth/tokens")
        return TypeAdapter(list[ApiToken]).validate_json(response.content)

    async def revoke_token(self, token_id: uuid.UUID) -> None:
        await self.request("DELETE", f"/api/auth/tokens/{token_id}")

    async def authorize_device(
        self,
        hostname: str,
        client_name: str,
        *,
        token_name: str | None = None,
        expires_in_days: int | None = None,
    ) -> DeviceAuthorization:
        """Start a login to approve on the web page (no credential needed)."""
        body: dict[str, Any] = {"hostname": hostname, "client_name": client_name}
        if token_name:
            body["token_name"] = token_name
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        return await self._post("/api/device/authorize", DeviceAuthorization, body, idempotent=False)

    async def poll_device_token(self, device_code: str) -> DeviceToken:
        """The token once approved; an ApiError whose problem_code says why not otherwise (RFC 8628 3.5)."""
        return await self._post("/api/device/token", DeviceToken, {"device_code": device_code})

    # --- catalog ----------------------------------------------------------------------------------

    async def projects(self) -> list[Project]:
        response = await self.request("GET", "/api/projects")
        return TypeAdapter(list[Project]).validate_json(response.content)

    async def datasets(self, project_id: uuid.UUID | None = None) -> list[Dataset]:
        params = {"project_id": str(project_id)} if project_id else None
        response = await self.request("GET", "/api/datasets", params=params)
        return TypeAdapter(list[Dataset]).validate_json(response.content)

    async def dataset(self, dataset_id: uuid.UUID) -> Dataset:
        return await self._get(f"/api/datasets/{dataset_id}", Dataset)

    # --- uploads ----------------------------------------------------------------------------------

    async def start_upload(
        self,
        dataset_id: uuid.UUID,
        name: str,
        size: int,
        *,
        sha256: str | None = None,
        part_size: int | None = None,
        content_type: str | None = None,
        comment: str | None = None,
    ) -> Upload:
        """A new upload, or the caller's unfinished one of the same file (then `resumed` is true)."""
        body: dict[str, Any] = {"dataset_id": str(dataset_id), "name": name, "size": size, "sha256": sha256}
        if part_size is not None:
            body["part_size"] = part_size
        if content_type is not None:
            body["content_type"] = content_type
        if comment:
            body["comment"] = comment
        return await self._post("/api/uploads", Upload, body)

    async def get_upload(self, upload_id: uuid.UUID) -> Upload:
        return await self._get(f"/api/uploads/{upload_id}", Upload)

    async def sign(self, upload: Upload, to_sign: str, amz_datetime: str, canonical_request: str) -> str:
        """The hex SigV4 signature of one S3 request of this upload, from the service's signer."""
        params = {"to_sign": to_sign, "datetime": amz_datetime, "canonical_request": canonical_request}
        if not upload.sign_headers:  # a service from before the token header
            params.update(upload.sign_params)
        response = await self.request("GET", upload.signer_url, params=params, headers=upload.sign_headers)
        return response.text.strip()

    async def complete_upload(
        self, upload_id: uuid.UUID, part_md5s: list[str] | None, *, sha256: str | None = None
    ) -> Version:
        body: dict[str, Any] = {"part_md5s": part_md5s} if part_md5s is not None else {}
        if sha256 is not None:
            body["sha256"] = sha256
        return await self._post(f"/api/uploads/{upload_id}/complete", Version, body)

    async def cancel_upload(self, upload_id: uuid.UUID) -> None:
        await self.request("POST", f"/api/uploads/{upload_id}/cancel")

    # --- files ------------------------------------------------------------------------------------

    async def list_files(self, query: FileQuery, *, cursor: str | None = None, limit: int = 100) -> FilePage:
        params = {**query.params(), "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return await self._get("/api/files", FilePage, params)

    async def iter_files(
        self, query: FileQuery, *, max_items: int | None = None, trash: bool = False
    ) -> AsyncIterator[FileRow]:
        """Every matching file (or deleted file, with `trash`), page after page (or the first `max_items`)."""
        cursor: str | None = None
        seen = 0
        fetch = self.list_trash if trash else self.list_files
        while True:
            want = 1000 if max_items is None else min(1000, max_items - seen)
            page = await fetch(query, cursor=cursor, limit=max(1, want))
            for item in page.items:
                yield item
                seen += 1
                if max_items is not None and seen >= max_items:
                    return
            cursor = page.next_cursor
            if not cursor or not page.items:
                return

    async def list_trash(self, query: FileQuery, *, cursor: str | None = None, limit: int = 100) -> FilePage:
        """Files marked deleted in datasets the caller's groups own (all, for admins); newest deletion first."""
        params = {**query.params(), "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return await self._get("/api/trash", FilePage, params)

    async def get_file(self, file_id: uuid.UUID) -> FileDetail:
        return await self._get(f"/api/files/{file_id}", FileDetail)

    async def delete_file(self, file_id: uuid.UUID) -> FileDetail:
        return await self._post(f"/api/files/{file_id}/delete", FileDetail)

    async def restore_file(self, file_id: uuid.UUID) -> FileDetail:
        return await self._post(f"/api/files/{file_id}/restore", FileDetail)

    async def download_links(self, selection: Sequence[tuple[uuid.UUID, int | None]]) -> DownloadLinks:
        """Presigned URLs for (file_id, version or None = latest), in batches the service accepts."""
        items = []
        for start in range(0, len(selection), DOWNLOAD_URL_BATCH):
            batch = selection[start : start + DOWNLOAD_URL_BATCH]
            body = {"items": [{"file_id": str(f), "version": v} for f, v in batch]}
            items.extend((await self._post("/api/files/download-urls", DownloadLinks, body)).items)
        return DownloadLinks(items=items)


def api_error(response: httpx.Response) -> ApiError:
    problem: dict[str, Any] | None = None
    detail = response.reason_phrase or "error"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text:
            detail = text[:500]
    else:
        if isinstance(body, dict):
            problem = body
            detail = str(body.get("detail") or body.get("title") or detail)
            errors = body.get("errors")
            if isinstance(errors, list) and errors:
                detail += " (" + "; ".join(_validation_error(e) for e in errors[:5]) + ")"
    return ApiError(response.status_code, detail, problem)


def _retry_after(response: httpx.Response, limit: float = 30.0) -> float:
    """The service's Retry-After in seconds (bounded), or 0 when absent or not a number."""
    try:
        return min(max(float(response.headers.get("retry-after", "0")), 0.0), limit)
    except ValueError:
        return 0.0


def _validation_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    loc = ".".join(str(p) for p in error.get("loc", []) if p != "body")
    return f"{loc}: {error.get('msg', '')}" if loc else str(error.get("msg", ""))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
