"""Shared types for the API contract.

Every value that reaches PostgreSQL is bounded here, once, to what its column can hold: integers to
INTEGER/BIGINT, strings free of NUL (PostgreSQL cannot store U+0000 in text). Schemas and query
parameters use these types instead of bare `int` and `str`, so odd input is a 422, never a 500.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints

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
# Stripped, so it must hold one visible character (the spec says so too: "\t" alone is no name).
NAME = r"^[^\x00]*[^\s\x00][^\x00]*$"
Title = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True, pattern=NAME)]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True, pattern=NAME)]
Flag = StrictBool  # JSON true/false only: 0 and "yes" are not booleans
# What a person reads instead of pydantic's "String should match pattern '…'" (errors._message).
PATTERN_MESSAGES: dict[str, str] = {
    NO_NUL: "must not contain NUL (U+0000) characters",
    NAME: "must contain a visible character and no NUL (U+0000) characters",
}
VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX)]


def _json_integer(value: Any) -> Any:
    """A JSON Schema integer: 438 and 438.0 (the same number in JSON), never false, "438" or 438.5."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    return int(value)


# JSON bodies only (a query parameter arrives as a string): {"size": false} once started a 0-byte upload.
ByteCount = Annotated[int, Field(ge=0, le=INT64_MAX), BeforeValidator(_json_integer)]


_NUMBER = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*")


def _iso_only(value: Any) -> Any:
    """pydantic reads numbers as Unix times; the API promises ISO 8601 date-times, so numbers are refused."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("give an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]


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
    request_id: str | None = Field(
        None, description="The request's id (also the X-Request-ID response header); quote it when reporting a problem"
    )


class Message(BaseModel):
    detail: str
