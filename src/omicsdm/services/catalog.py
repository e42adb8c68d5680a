"""Projects (made by admins) and datasets (owned by a group, shared with groups or public)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.db.models import Dataset, Project
from omicsdm.errors import Forbidden, NotFound
from omicsdm.repository import audit, catalog, users
from omicsdm.schemas.catalog import (
    DatasetCreate,
    DatasetOut,
    DatasetPermissions,
    DatasetUpdate,
    ProjectCreate,
    ProjectOut,
)
from omicsdm.services.access import can_create_dataset, can_download, can_manage_dataset


async def create_project(session: AsyncSession, principal: Principal, data: ProjectCreate) -> ProjectOut:
    if not principal.is_admin:
        raise Forbidden("only admins create projects")
    owners = await users.ensure_groups(session, data.owner_groups)
    project = Project(
        code=data.code,
        name=data.name,
        description=data.description,
        file_download_allowed=data.file_download_allowed,
        created_by=principal.user_id,
    )
    await catalog.add_project(session, project, owners.values())
    await audit.record_by(
        session,
        principal,
        action="project.created",
        target_type="project",
        target_id=project.id,
        detail={"code": project.code},
    )
    return (await _projects_out(session, [project]))[0]


async def list_projects(session: AsyncSession, principal: Principal) -> list[ProjectOut]:
    return await _projects_out(session, await catalog.visible_projects(session, principal))


async def get_project(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> ProjectOut:
    project = await catalog.visible_project(session, principal, project_id)
    if project is None:
        raise NotFound("project not found")
    return (await _projects_out(session, [project]))[0]


async def _projects_out(session: AsyncSession, projects: list[Project]) -> list[ProjectOut]:
    owners = await catalog.project_owner_ids(session, [p.id for p in projects])
    names = await users.group_names(session, {g for ids in owners.values() for g in ids})
    return [
        ProjectOut(
            id=p.id,
            code=p.code,
            name=p.name,
            description=p.description,
            owner_groups=sorted(names[g] for g in owners[p.id]),
            file_download_allowed=p.file_download_allowed,
            created_at=p.created_at,
        )
        for p in projects
    ]


async def create_dataset(session: AsyncSession, principal: Principal, data: DatasetCreate) -> DatasetOut:
    project = await catalog.visible_project(session, principal, data.project_id)
    if project is None:
        raise NotFound("project not found")
    owner_ids = (await catalog.project_owner_ids(session, [project.id]))[project.id]
    if not can_create_dataset(principal, owner_ids):
        raise Forbidden("only the project's owner groups and admins create datasets in it")
    if not principal.is_admin and data.owner_group not in principal.groups:
        raise Forbidden(f"owner_group must be one of your groups: {sorted(principal.groups)}")
    groups = await users.ensure_groups(session, [data.owner_group, *data.shared_with])
    dataset = Dataset(
        project_id=project.id,
        code=data.code,
        name=data.name,
        description=data.description,
        owner_group_id=groups[data.owner_group],
        public=data.public,
        created_by=principal.user_id,
    )
    shared = {groups[g] for g in data.shared_with} - {dataset.owner_group_id}
    await catalog.add_dataset(session, dataset, shared)
    await audit.record_by(
        session,
        principal,
        action="dataset.created",
        target_type="dataset",
        target_id=dataset.id,
        detail={"code": dataset.code, "project": project.code},
    )
    return (await datasets_out(session, principal, [(dataset, project)]))[0]


async def list_datasets(session: AsyncSession, principal: Principal, project_id: uuid.UUID | None) -> list[DatasetOut]:
    return await datasets_out(session, principal, await catalog.readable_datasets(session, principal, project_id))


async def load_dataset(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID) -> tuple[Dataset, Project]:
    found = await catalog.readable_dataset(session, principal, dataset_id)
    if found is None:
        raise NotFound("dataset not found")
    return found


async def get_dataset(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID) -> DatasetOut:
    return (await datasets_out(session, principal, [await load_dataset(session, principal, dataset_id)]))[0]


async def update_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, data: DatasetUpdate
) -> DatasetOut:
    dataset, project = await load_dataset(session, principal, dataset_id)
    if not can_manage_dataset(principal, dataset):
        raise Forbidden("only the owner group and admins change a dataset")
    changes = data.model_dump(exclude_unset=True)
    if data.name is not None:
        dataset.name = data.name
    if data.description is not None:
        dataset.description = data.description
    if data.public is not None:
        dataset.public = data.public
    if data.shared_with is not None:
        groups = await users.ensure_groups(session, data.shared_with)
        await catalog.set_dataset_shares(session, dataset.id, set(groups.values()) - {dataset.owner_group_id})
    await session.flush()
    await audit.record_by(
        session,
        principal,
        action="dataset.updated",
        target_type="dataset",
        target_id=dataset.id,
        detail=changes,
    )
    return (await datasets_out(session, principal, [(dataset, project)]))[0]


async def datasets_out(
    session: AsyncSession, principal: Principal, rows: list[tuple[Dataset, Project]]
) -> list[DatasetOut]:
    shares = await catalog.dataset_share_ids(session, [d.id for d, _ in rows])
    names = await users.group_names(
        session, {d.owner_group_id for d, _ in rows} | {g for ids in shares.values() for g in ids}
    )
    return [
        DatasetOut(
            id=d.id,
            project_id=p.id,
            project_code=p.code,
            code=d.code,
            name=d.name,
            description=d.description,
            owner_group=names[d.owner_group_id],
            shared_with=sorted(names[g] for g in shares[d.id]),
            public=d.public,
            created_at=d.created_at,
            permissions=DatasetPermissions(
                upload=can_manage_dataset(principal, d),
                manage=can_manage_dataset(principal, d),
                download=can_download(principal, d, p),
            ),
        )
        for d, p in rows
    ]
