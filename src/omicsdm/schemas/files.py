"""Files and versions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from omicsdm.db.models import ChecksumState


class VersionOut(BaseModel):
    id: uuid.UUID
    file_id: uuid.UUID
    dataset_id: uuid.UUID
    name: str
    version: int
    size: int
    etag: str
    sha256: str | None
    content_type: str
    checksum_state: ChecksumState
    submitted_by: str | None
    submitted_at: datetime
    restored: bool = False
