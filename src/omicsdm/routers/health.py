"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from omicsdm.deps import State
from omicsdm.errors import problem
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
    responses={503: {"description": "A dependency is down; `code` and `checks` name it"}},
)
async def readyz(state: State) -> Response:
    """200 when PostgreSQL and the S3 bucket both answer; 503 problem+json naming the failing part otherwise."""
    checks: dict[str, str] = {}
    try:
        async with state.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), 3.0)
        checks["database"] = "ok"
    except Exception as exc:  # whatever the cause, the answer is "not ready", never a 500
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await state.storage.ping()
        checks["storage"] = "ok"
    except StorageError as exc:
        checks["storage"] = f"error: {exc}"[:300]
    down = [part for part, result in checks.items() if result != "ok"]
    if not down:
        return JSONResponse({"status": "ok", "checks": checks})
    return problem(503, f"{down[0]}-unavailable", f"not ready: {', '.join(down)} unavailable", checks=checks)
