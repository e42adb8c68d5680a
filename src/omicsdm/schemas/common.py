"""Shared types for the API contract.

Every value that reaches PostgreSQL is bounded here, once, to what its column can hold: integers to
INTEGER/BIGINT, strings free of NUL (PostgreSQL cannot store U+0000 in text). Schemas and query
parameters use these types instead of bare `int` and `str`, so odd input is a 422, never a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
NO_NUL = r"^[^\x00]*$"

Code = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    Field(description="Short identifier: letters, digits, '.', '_', '-'", examples=["cohort-2024"]),
]
# Free text that PostgreSQL can store; length limits are added where the field is declared.
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True, pattern=NO_NUL)]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True, pattern=NO_NUL)]
VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX)]
ByteCount = Annotated[int, Field(ge=0, le=INT64_MAX)]


def text(max_length: int, *, min_length: int = 0) -> Any:
    """A NUL-free string field of bounded length (as `Annotated[str, text(255)]`)."""
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_NUL)


class Problem(BaseModel):
    """RFC 9457 problem details; every error response has this body."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    code: str = Field(description="Stable machine-readable error code (docs/api.md lists them); branch on this")
    detail: str
    errors: list[dict[str, Any]] | None = None


class Message(BaseModel):
    detail: str
