"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from omicsdm.deps import State
from omicsdm.storage import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Answers while the process runs; checks nothing else."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The database and the bucket answer",
    responses={503: {"description": "A dependency is down; the body names it"}},
)
async def readyz(state: State) -> JSONResponse:
    """200 when PostgreSQL and the S3 bucket both answer; 503 naming the failing part otherwise."""
    checks: dict[str, str] = {}
    try:
        async with state.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), 3.0)
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await state.storage.ping()
        checks["storage"] = "ok"
    except StorageError as exc:
        checks["storage"] = f"error: {exc}"[:300]
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
