"""Write-side permission rules (read visibility is SQL, in repository/visibility.py).

Loaded rows are assumed readable already: callers load through the visibility predicates, so
whoever may not read a thing gets 404 before any of these rules is asked.
"""

from __future__ import annotations

from collections.abc import Set

from omicsdm.auth.principal import Principal
from omicsdm.db.models import Dataset, Project


def may_manage(principal: Principal, owner_group_id: int) -> bool:
    """Upload, edit, delete and restore files; change sharing: the owner group and admins."""
    return principal.is_admin or principal.in_group(owner_group_id)


def can_manage_dataset(principal: Principal, dataset: Dataset) -> bool:
    return may_manage(principal, dataset.owner_group_id)


def can_download(principal: Principal, dataset: Dataset, project: Project) -> bool:
    return project.file_download_allowed or can_manage_dataset(principal, dataset)


def can_create_dataset(principal: Principal, project_owner_ids: Set[int]) -> bool:
    return principal.is_admin or bool(principal.group_ids & project_owner_ids)
