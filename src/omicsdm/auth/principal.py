"""The authenticated caller, as every permission rule sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    subject: str
    username: str
    group_ids: frozenset[int]
    groups: frozenset[str]
    is_admin: bool
    via: str  # "oidc", "dev", "api-token"

    def in_group(self, group_id: int) -> bool:
        return group_id in self.group_ids
