"""Projects and datasets."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.db.models import Dataset, DatasetShare, Project, ProjectOwner
from omicsdm.errors import Conflict
from omicsdm.repository.visibility import dataset_readable, project_visible


async def add_project(session: AsyncSession, project: Project, owner_group_ids: Iterable[int]) -> Project:
    session.add(project)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a project with code {project.code!r} already exists") from exc
    await set_project_owners(session, project.id, owner_group_ids)
    return project


async def set_project_owners(session: AsyncSession, project_id: uuid.UUID, group_ids: Iterable[int]) -> None:
    await session.execute(delete(ProjectOwner).where(ProjectOwner.project_id == project_id))
    ids = sorted(set(group_ids))
    if ids:
        await session.execute(insert(ProjectOwner).values([{"project_id": project_id, "group_id": g} for g in ids]))


async def project_owner_ids(session: AsyncSession, project_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    wanted = set(project_ids)
    result: dict[uuid.UUID, set[int]] = {pid: set() for pid in wanted}
    if wanted:
        rows = await session.execute(
            select(ProjectOwner.project_id, ProjectOwner.group_id).where(ProjectOwner.project_id.in_(wanted))
        )
        for pid, gid in rows.all():
            result[pid].add(gid)
    return result


async def visible_projects(session: AsyncSession, principal: Principal) -> list[Project]:
    rows = await session.execute(select(Project).where(project_visible(principal)).order_by(Project.code))
    return list(rows.scalars())


async def visible_project(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> Project | None:
    rows = await session.execute(select(Project).where(Project.id == project_id, project_visible(principal)))
    return rows.scalar_one_or_none()


async def add_dataset(session: AsyncSession, dataset: Dataset, shared_group_ids: Iterable[int]) -> Dataset:
    session.add(dataset)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"the project already has a dataset with code {dataset.code!r}") from exc
    await set_dataset_shares(session, dataset.id, shared_group_ids)
    return dataset


async def set_dataset_shares(session: AsyncSession, dataset_id: uuid.UUID, group_ids: Iterable[int]) -> None:
    await session.execute(delete(DatasetShare).where(DatasetShare.dataset_id == dataset_id))
    ids = sorted(set(group_ids))
    if ids:
        await session.execute(insert(DatasetShare).values([{"dataset_id": dataset_id, "group_id": g} for g in ids]))


async def dataset_share_ids(session: AsyncSession, dataset_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    wanted = set(dataset_ids)
    result: dict[uuid.UUID, set[int]] = {did: set() for did in wanted}
    if wanted:
        rows = await session.execute(
            select(DatasetShare.dataset_id, DatasetShare.group_id).where(DatasetShare.dataset_id.in_(wanted))
        )
        for did, gid in rows.all():
            result[did].add(gid)
    return result


async def readable_datasets(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID | None = None
) -> list[tuple[Dataset, Project]]:
    stmt = select(Dataset, Project).join(Project, Project.id == Dataset.project_id).where(dataset_readable(principal))
    if project_id is not None:
        stmt = stmt.where(Dataset.project_id == project_id)
    rows = await session.execute(stmt.order_by(Project.code, Dataset.code))
    return [(d, p) for d, p in rows.all()]


async def readable_dataset(
    session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Dataset, Project] | None:
    stmt = (
        select(Dataset, Project)
        .join(Project, Project.id == Dataset.project_id)
        .where(Dataset.id == dataset_id, dataset_readable(principal))
    )
    if for_update:
        stmt = stmt.with_for_update(of=Dataset)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def project_by_code(session: AsyncSession, code: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.code == code))).scalar_one_or_none()


async def dataset_by_code(session: AsyncSession, project_id: uuid.UUID, code: str) -> Dataset | None:
    stmt = select(Dataset).where(Dataset.project_id == project_id, Dataset.code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def readable_dataset_ids(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: uuid.UUID | None = None,
    dataset_id: uuid.UUID | None = None,
    manageable_only: bool = False,
) -> list[uuid.UUID]:
    """Ids of the datasets the caller reads (or manages). Listings filter with `= ANY(ids)`, whose
    plans (and counts) beat an embedded subquery."""
    stmt = select(Dataset.id).where(dataset_readable(principal))
    if project_id is not None:
        stmt = stmt.where(Dataset.project_id == project_id)
    if dataset_id is not None:
        stmt = stmt.where(Dataset.id == dataset_id)
    if manageable_only and not principal.is_admin:
        stmt = stmt.where(Dataset.owner_group_id.in_(list(principal.group_ids)))
    return list((await session.execute(stmt)).scalars())
