"""Projects and datasets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from omicsdm.schemas.common import Code, Flag, GroupName, Title, text

Description = Annotated[str, text(10_000)]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"code": "liver-atlas", "name": "Liver atlas", "owner_groups": ["lab-a"]}]},
    )
    code: Code
    name: Title
    description: Description = ""
    owner_groups: list[GroupName] = Field(default_factory=list, max_length=100)
    file_download_allowed: Flag = Field(True, description="False: only owner groups of a dataset may download")


class ProjectOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    description: str
    owner_groups: list[str]
    file_download_allowed: bool
    created_at: datetime


class DatasetCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "project_id": "6f1c2d0e-8b1a-4c55-9f1e-2b7d3c4a5e60",
                    "code": "rnaseq-batch1",
                    "name": "RNA-seq batch 1",
                    "owner_group": "lab-a",
                }
            ]
        },
    )
    project_id: uuid.UUID
    code: Code
    name: Title
    description: Description = ""
    owner_group: GroupName
    shared_with: list[GroupName] = Field(default_factory=list, max_length=100)
    public: Flag = False


class DatasetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Title | None = None
    description: Description | None = None
    shared_with: list[GroupName] | None = Field(None, max_length=100)
    public: Flag | None = None


class DatasetPermissions(BaseModel):
    upload: bool
    manage: bool
    download: bool


class DatasetOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    code: str
    name: str
    description: str
    owner_group: str
    shared_with: list[str]
    public: bool
    created_at: datetime
    permissions: DatasetPermissions
