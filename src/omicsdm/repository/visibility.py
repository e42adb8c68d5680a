"""Read permission as SQL predicates, so listings and single loads apply the very same rule.

A dataset is readable by admins, its owner group, every group it is shared with, and by everyone
when it is public. A project is visible to admins, its owner groups and whoever can read one of its
datasets. Files inherit their dataset's readability.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, exists, literal, or_, select, true

from omicsdm.auth.principal import Principal
from omicsdm.db.models import Dataset, DatasetShare, Project, ProjectOwner


def dataset_readable(principal: Principal) -> ColumnElement[bool]:
    if principal.is_admin:
        return true()
    return readable_by(group_array(principal.group_ids))


def group_array(group_ids: Iterable[int]) -> ColumnElement[Any]:
    """Group ids as one array parameter: the statement's text is the same for any number of groups."""
    return literal(sorted(group_ids), ARRAY(Integer))


def readable_by(groups: ColumnElement[Any]) -> ColumnElement[bool]:
    """The rule for a non-admin whose group ids are the array `groups` (a value or a bound parameter)."""
    return or_(
        Dataset.public.is_(True),
        Dataset.owner_group_id == any_(groups),
        exists(
            select(DatasetShare.dataset_id).where(
                DatasetShare.dataset_id == Dataset.id, DatasetShare.group_id == any_(groups)
            )
        ),
    )


def project_visible(principal: Principal) -> ColumnElement[bool]:
    if principal.is_admin:
        return true()
    groups = list(principal.group_ids)
    return or_(
        exists(
            select(ProjectOwner.project_id).where(
                ProjectOwner.project_id == Project.id, ProjectOwner.group_id.in_(groups)
            )
        ),
        exists(select(Dataset.id).where(Dataset.project_id == Project.id, dataset_readable(principal))),
    )
