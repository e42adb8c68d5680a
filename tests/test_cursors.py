"""Cursors: what the service hands out comes back as the same value; anything forged is a 422."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from omicsdm.errors import InvalidInput
from omicsdm.services.cursors import VALUE_PARSERS, decode_cursor, encode_cursor

ID = uuid.UUID(int=7)


def raw(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("name", "run1/a.fastq.gz"),
        ("-comment", ""),
        ("submitter", "alice"),
        ("dataset", "rnaseq"),
        ("-project", "atlas"),
        ("version", 2**31 - 1),
        ("-size", 2**63 - 1),
        ("size", 0),
        ("-submitted_at", datetime(2026, 11, 30, 12, 0, 1, 123456, tzinfo=UTC)),
        ("deleted_at", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_round_trip(sort: str, value: Any) -> None:
    assert decode_cursor(encode_cursor(sort, value, ID), sort) == (value, ID)


def test_every_sort_column_has_a_parser() -> None:
    from omicsdm.repository.overview import SORT_COLUMNS

    assert set(SORT_COLUMNS) == set(VALUE_PARSERS)


@pytest.mark.parametrize(
    ("cursor", "sort"),
    [
        (raw({"s": "size", "v": "abc", "i": str(ID)}), "size"),
        (raw({"s": "size", "v": -1, "i": str(ID)}), "size"),
        (raw({"s": "size", "v": 2**63, "i": str(ID)}), "size"),
        (raw({"s": "size", "v": True, "i": str(ID)}), "size"),
        (raw({"s": "size", "v": 1.5, "i": str(ID)}), "size"),
        (raw({"s": "version", "v": 2**31, "i": str(ID)}), "version"),
        (raw({"s": "-submitted_at", "v": 5, "i": str(ID)}), "-submitted_at"),
        (raw({"s": "-submitted_at", "v": {"t": "soon"}, "i": str(ID)}), "-submitted_at"),
        (raw({"s": "-submitted_at", "v": {"t": 5}, "i": str(ID)}), "-submitted_at"),
        (raw({"s": "name", "v": "a\x00b", "i": str(ID)}), "name"),
        (raw({"s": "name", "v": None, "i": str(ID)}), "name"),
        (raw({"s": "name", "v": {"t": "x"}, "i": str(ID)}), "name"),
        (raw({"s": "name", "v": "x", "i": "nope"}), "name"),
        (raw({"s": "name", "v": "x", "i": 5}), "name"),
        (raw({"s": "name", "v": "x"}), "name"),
        (raw({"s": "bogus", "v": "x", "i": str(ID)}), "bogus"),
        (raw([1, 2]), "name"),
        (raw("just a string"), "name"),
        ("!!!", "name"),
        ("", "name"),
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), "name"),
        (raw({"s": "name", "v": "x", "i": str(ID)}), "-name"),  # another sort order
    ],
)
def test_forged_cursors_are_invalid_input(cursor: str, sort: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, sort)


def test_naive_timestamps_are_taken_as_utc() -> None:
    value, _ = decode_cursor(
        raw({"s": "-submitted_at", "v": {"t": "2026-01-01T00:00:00"}, "i": str(ID)}), "-submitted_at"
    )
    assert value == datetime(2026, 1, 1, tzinfo=UTC)
