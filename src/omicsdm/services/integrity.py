"""What a person can rely on for one version, in words (file history, manifests, `omicsdm versions`)."""

from __future__ import annotations

from datetime import UTC, datetime

from omicsdm.db.models import ChecksumState, Fixity


def ago(when: datetime, now: datetime) -> str:
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def describe(
    checksum_state: ChecksumState,
    fixity: Fixity,
    checked_at: datetime | None,
    sha256: str | None,
    note: str | None = None,
    now: datetime | None = None,
) -> str:
    now = now or datetime.now(UTC)
    when = ago(checked_at, now) if checked_at else ""
    if fixity is Fixity.CORRUPT:
        return f"Corrupt, found {when}: {note or 'the stored bytes differ'}. Not downloadable; ask an administrator."
    if fixity is Fixity.VERIFIED:
        return f"SHA-256 verified {when} (the stored bytes were re-read)"
    if fixity is Fixity.RECORDED:
        return f"SHA-256 computed from the stored bytes {when} (none was declared at upload)"
    at_upload = "part checksums matched at upload" if checksum_state is ChecksumState.VERIFIED else "size checked"
    if sha256:
        return f"SHA-256 declared by the uploader, {at_upload}; not re-read yet"
    return f"No SHA-256 yet; {at_upload}"
