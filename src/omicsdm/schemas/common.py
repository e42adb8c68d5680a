"""Shared types for the API contract."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Code = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    Field(description="Short identifier: letters, digits, '.', '_', '-'", examples=["cohort-2024"]),
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]


class Problem(BaseModel):
    """RFC 9457 problem details; every error response has this body."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class Message(BaseModel):
    detail: str
