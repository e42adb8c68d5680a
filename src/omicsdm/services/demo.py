"""Demo data for the embedded default: one project and one dataset owned by the demo group."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.db.models import Dataset, Project
from omicsdm.repository import catalog, users

DEMO_USER = "demo"
DEMO_GROUP = "lab-demo"
DEMO_PROJECT = "demo"
DEMO_DATASET = "demo-data"


async def seed(session: AsyncSession, admin_group: str) -> None:
    """Idempotent: a second run finds everything in place and changes nothing."""
    groups = await users.ensure_groups(session, [DEMO_GROUP, admin_group])
    project = await catalog.project_by_code(session, DEMO_PROJECT)
    if project is None:
        project = Project(code=DEMO_PROJECT, name="Demo project", description="Created by `omicsdm dev`.")
        await catalog.add_project(session, project, [groups[DEMO_GROUP]])
    if await catalog.dataset_by_code(session, project.id, DEMO_DATASET) is None:
        dataset = Dataset(
            project_id=project.id,
            code=DEMO_DATASET,
            name="Demo dataset",
            description="Upload anything here.",
            owner_group_id=groups[DEMO_GROUP],
        )
        await catalog.add_dataset(session, dataset, [])
