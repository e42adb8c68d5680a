"""Integrity operations for administrators: queue fixity checks, see their results, reconcile."""

from __future__ import annotations

from fastapi import APIRouter

from omicsdm.deps import AppSettings, CurrentUser, Session, Storage_
from omicsdm.schemas.common import Problem
from omicsdm.schemas.integrity import FixitySummary, ReconcileReport, VerifyQueued, VerifyRequest
from omicsdm.services import fixity, reconcile

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.post(
    "/verify",
    operation_id="adminQueueVerify",
    summary="Queue a fixity check (admins)",
    status_code=202,
    responses={403: {"model": Problem}, 404: {"model": Problem}},
)
async def queue_verify(session: Session, user: CurrentUser, body: VerifyRequest) -> VerifyQueued:
    """Puts a file's or a dataset's versions first in line for `omicsdm verify` workers."""
    return VerifyQueued(queued=await fixity.queue_check(session, user, body.file_id, body.dataset_id))


@router.get(
    "/integrity",
    operation_id="adminIntegritySummary",
    summary="Fixity results (admins)",
    responses={403: {"model": Problem}},
)
async def integrity(session: Session, user: CurrentUser) -> FixitySummary:
    """How many versions were verified, recorded, found corrupt, never checked, and are queued."""
    return FixitySummary(**await fixity.summary(session, user))


@router.post(
    "/reconcile",
    operation_id="adminReconcile",
    summary="Compare the catalogue with the bucket (admins)",
    responses={403: {"model": Problem}},
)
async def run_reconcile(
    session: Session, user: CurrentUser, storage: Storage_, settings: AppSettings
) -> ReconcileReport:
    """Versions whose object is missing or differs, objects no version points to, stale multipart
    uploads and stuck upload sessions. Reads only; never deletes anything."""
    return await reconcile.run_for(session, user, storage, settings)
