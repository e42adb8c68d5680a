"""Projects and datasets."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status

from omicsdm.deps import CurrentUser, Session
from omicsdm.schemas.catalog import DatasetCreate, DatasetOut, DatasetUpdate, ProjectCreate, ProjectOut
from omicsdm.schemas.common import Problem
from omicsdm.services import catalog

router = APIRouter(prefix="/api", tags=["catalog"])
R = dict[int | str, dict[str, Any]]
NOT_FOUND: R = {404: {"model": Problem}}
FORBIDDEN: R = {403: {"model": Problem}}
CONFLICT: R = {409: {"model": Problem}}


@router.get("/projects", operation_id="listProjects", summary="Projects I can see")
async def list_projects(session: Session, user: CurrentUser) -> list[ProjectOut]:
    """Projects the caller owns or holds a readable dataset in (all of them for admins)."""
    return await catalog.list_projects(session, user)


@router.post(
    "/projects",
    operation_id="createProject",
    summary="Create a project (admins)",
    status_code=status.HTTP_201_CREATED,
    responses={**FORBIDDEN, **CONFLICT},
)
async def create_project(session: Session, user: CurrentUser, body: ProjectCreate) -> ProjectOut:
    """Admins create projects and name their owner groups."""
    return await catalog.create_project(session, user, body)


@router.get("/projects/{project_id}", operation_id="getProject", summary="One project", responses=NOT_FOUND)
async def get_project(session: Session, user: CurrentUser, project_id: uuid.UUID) -> ProjectOut:
    """404 when the caller may not see it."""
    return await catalog.get_project(session, user, project_id)


@router.get("/datasets", operation_id="listDatasets", summary="Datasets I can read")
async def list_datasets(session: Session, user: CurrentUser, project_id: uuid.UUID | None = None) -> list[DatasetOut]:
    """Datasets the caller's groups own or share, public ones, optionally within one project."""
    return await catalog.list_datasets(session, user, project_id)


@router.post(
    "/datasets",
    operation_id="createDataset",
    summary="Create a dataset",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def create_dataset(session: Session, user: CurrentUser, body: DatasetCreate) -> DatasetOut:
    """Members of a project's owner groups create datasets owned by one of their groups."""
    return await catalog.create_dataset(session, user, body)


@router.get("/datasets/{dataset_id}", operation_id="getDataset", summary="One dataset", responses=NOT_FOUND)
async def get_dataset(session: Session, user: CurrentUser, dataset_id: uuid.UUID) -> DatasetOut:
    """404 when the caller may not read it."""
    return await catalog.get_dataset(session, user, dataset_id)


@router.patch(
    "/datasets/{dataset_id}",
    operation_id="updateDataset",
    summary="Share, publish or rename a dataset",
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def update_dataset(session: Session, user: CurrentUser, dataset_id: uuid.UUID, body: DatasetUpdate) -> DatasetOut:
    """The owner group and admins change sharing, visibility, name and description."""
    return await catalog.update_dataset(session, user, dataset_id, body)
