"""Overview cursors: the last row's sort value and id, opaque to clients, checked on the way back in.

A cursor is client input like any other: its value goes into the page query, so it is validated
against the type of the sort column it claims to continue (a forged `{"s":"size","v":"abc"}` must
be a 422, never a database error).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from omicsdm.errors import InvalidInput
from omicsdm.schemas.common import INT32_MAX, INT64_MAX

MAX_TEXT = 20_000


def _text(value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value or len(value) > MAX_TEXT:
        raise ValueError("expected text")
    return value


def _integer(limit: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
            raise ValueError("expected a bounded integer")
        return value

    return parse


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, dict) or not isinstance(value.get("t"), str):
        raise ValueError("expected a timestamp")
    when = datetime.fromisoformat(value["t"])
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# Sort key -> parser of its value; the keys are those of repository.overview.SORT_COLUMNS.
VALUE_PARSERS: dict[str, Callable[[Any], Any]] = {
    "name": _text,
    "comment": _text,
    "submitter": _text,
    "dataset": _text,
    "project": _text,
    "version": _integer(INT32_MAX),
    "size": _integer(INT64_MAX),
    "submitted_at": _timestamp,
    "deleted_at": _timestamp,
}


def encode_cursor(sort: str, value: Any, file_id: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps({"s": sort, "v": value, "i": str(file_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    """(sort value, file id) for `sort` ('-name', 'size'...), or InvalidInput for anything forged or stale."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or not isinstance(data.get("i"), str):
            raise ValueError("not a cursor")
        file_id = uuid.UUID(data["i"])
        claimed = data.get("s")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput("malformed cursor; start again without a cursor") from exc
    if claimed != sort:
        raise InvalidInput("this cursor belongs to another sort order; start again without a cursor")
    parse = VALUE_PARSERS.get(sort.removeprefix("-"))
    try:
        if parse is None:
            raise ValueError("unknown sort")
        value = parse(data.get("v"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput("malformed cursor; start again without a cursor") from exc
    return value, file_id
