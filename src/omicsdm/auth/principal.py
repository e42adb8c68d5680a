"""The authenticated caller, as every permission rule sees it."""

from __future__ import annotations

import time
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


PRINCIPAL_CACHE_SECONDS = 10.0


class PrincipalCache:
    """Bearer token → the Principal it resolved to, for at most PRINCIPAL_CACHE_SECONDS and never
    past the token's own expiry. Per process (each app has its own).

    Verifying a JWT and reading the caller's user and groups cost about as much as a small page of
    the overview; a browser or script sends the same token with every request. Only a resolution
    that found the database already in step with the token is kept (nothing written that a rollback
    could undo), and only for signed tokens, whose claims cannot change: personal API tokens are
    looked up every time, so a revoked one stops at once.
    """

    def __init__(self, ttl: float = PRINCIPAL_CACHE_SECONDS, max_entries: int = 4096) -> None:
        self._ttl, self._max = ttl, max_entries
        self._entries: dict[str, tuple[Principal, float, float]] = {}  # token -> (principal, until monotonic, exp)

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, until, expires_at = entry
        if time.monotonic() >= until or time.time() >= expires_at:
            del self._entries[token]
            return None
        return principal

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[token] = (principal, time.monotonic() + self._ttl, expires_at)

    def clear(self) -> None:
        self._entries.clear()
