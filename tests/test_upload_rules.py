"""The name rule in the spec (a JSON Schema pattern) says what normalise_name enforces, character for character."""

from __future__ import annotations

import random
import re

import pytest

from omicsdm.errors import InvalidInput
from omicsdm.services.upload_rules import NAME_PATTERN, normalise_name

CASES = [
    "a", ".", "..", "...", ".a", "a.", "a/b", "/a", "a/", "a//b", " a", "a ", "a b", "a\\b", "a\x00", "é/ü.txt",
    "run1/x.fastq.gz", "a/./b", "a/../b", "\u202eabc", "x\u0093", ".. ", " ", "\t", "a\u00a0", "\u00a0a", ".\u00a0",
    "a/.b/c.", "..a", "\ufeffa", "a\u2028b", "tab\tname", "a\u200fb", "dir/ sub/x", "x/y /z",
]  # fmt: skip


def accepted(name: str) -> bool:
    try:
        normalise_name(name)
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize("name", CASES)
def test_pattern_agrees_with_the_service(name: str) -> None:
    assert bool(re.fullmatch(NAME_PATTERN, name)) == accepted(name)


def test_pattern_agrees_on_random_names() -> None:
    alphabet = "ab./ \t\\\x00\x85\u00a0\u202e\u2028é"
    rng = random.Random(7)
    for _ in range(5000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        assert bool(re.fullmatch(NAME_PATTERN, name)) == accepted(name), repr(name)
