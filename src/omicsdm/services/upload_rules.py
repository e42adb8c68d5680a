"""What a file name and a size must be before an upload may start."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

from omicsdm.errors import InvalidInput, TooLarge

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 16 * MIB  # measured best for the browser's synchronous MD5 (see docs/benchmarks.md)
MAX_NAME_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# Bidirectional overrides make "report‮fdp.exe" display as "reportexe.pdf".
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
# The same rules as a JSON Schema pattern, so that clients know them before asking (the spec carries
# it; tests/test_upload_rules.py checks it agrees with normalise_name). Byte lengths cannot be said
# in a pattern: those stay normalise_name's alone.
_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\\/\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_SEGMENT = (
    rf"(?:[^{_FORBIDDEN}\s.]|[^{_FORBIDDEN}\s.][^{_FORBIDDEN}]*[^{_FORBIDDEN}\s]"
    rf"|\.[^{_FORBIDDEN}]+[^{_FORBIDDEN}\s]|\.[^{_FORBIDDEN}\s.])"
)
NAME_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"


def normalise_name(raw: str, allowed_extensions: Sequence[str] = ()) -> str:
    """The NFC form of a relative path like 'run1/sample.fastq.gz', or InvalidInput saying why not."""
    name = unicodedata.normalize("NFC", raw)
    if not name:
        raise InvalidInput("file name is empty")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidInput(f"file name is longer than {MAX_NAME_BYTES} bytes in UTF-8")
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise InvalidInput(f"file name contains the control character U+{ord(char):04X}")
    if "\\" in name:
        raise InvalidInput("file name contains a backslash; use '/' between folders")
    if name.startswith("/"):
        raise InvalidInput("file name must be relative (no leading '/')")
    for segment in name.split("/"):
        if segment == "":
            raise InvalidInput("file name has an empty folder segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise InvalidInput("file name may not contain '.' or '..' segments")
        if segment != segment.strip():
            raise InvalidInput("file and folder names may not start or end with white space")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(f"a file or folder name is longer than {MAX_SEGMENT_BYTES} bytes")
    if allowed_extensions:
        lowered = name.lower()
        if not any(lowered.endswith("." + ext) for ext in allowed_extensions):
            raise InvalidInput(f"file type not allowed; allowed endings: {', '.join(allowed_extensions)}")
    return name


def choose_part_size(size: int, requested: int | None, max_file_size: int) -> int:
    """The client's part size when it fits the file, otherwise the smallest MiB multiple that does."""
    if size < 0:
        raise InvalidInput("size must not be negative")
    if size > max_file_size:
        raise TooLarge(f"file is larger than the limit of {max_file_size} bytes")
    needed = max(MIN_PART_SIZE, math.ceil(size / MAX_PARTS))
    if requested is not None:
        if not MIN_PART_SIZE <= requested <= MAX_PART_SIZE:
            raise InvalidInput(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        if requested >= needed:
            return requested
    return max(DEFAULT_PART_SIZE, math.ceil(needed / MIB) * MIB)


def part_count(size: int, part_size: int) -> int:
    return max(1, math.ceil(size / part_size))
