"""ORM models. Constraints here make the rules true in the database itself."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, uuid.UUID: UUID(as_uuid=True)}


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()"))


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    __table_args__ = (CheckConstraint("name <> ''", name="name_not_empty"),)


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = _uuid_pk()
    subject: Mapped[str] = mapped_column(String(255), unique=True, comment="OIDC sub, or dev:<name>")
    username: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _now()
    last_seen_at: Mapped[datetime] = _now()


class Membership(Base):
    __tablename__ = "memberships"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[uuid.UUID] = _uuid_pk()
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    file_download_allowed: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=text("true"), comment="False: only owner groups may download"
    )
    created_at: Mapped[datetime] = _now()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9._-]*$'", name="code_slug"),)


class ProjectOwner(Base):
    __tablename__ = "project_owners"
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), primary_key=True)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[uuid.UUID] = _uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    owner_group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = _now()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        UniqueConstraint("project_id", "code", name="uq_datasets_project_code"),
        CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9._-]*$'", name="code_slug"),
    )


class DatasetShare(Base):
    __tablename__ = "dataset_shares"
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), primary_key=True, index=True)


class File(Base):
    """A logical file: a name in a dataset. Its bytes live in FileVersion rows, one object each."""

    __tablename__ = "files"
    id: Mapped[uuid.UUID] = _uuid_pk()
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(Text)
    version_count: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="Highest version number handed out; bumped under the row lock"
    )
    latest_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("file_versions.id", use_alter=True, ondelete="SET NULL")
    )
    # Copies of the latest version's facts, kept in step at completion, so the overview sorts and
    # pages a million rows from one table's indexes instead of joining versions first.
    size: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    submitted_at: Mapped[datetime] = _now()
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        UniqueConstraint("dataset_id", "name", name="uq_files_dataset_name"),
        CheckConstraint("name <> '' AND octet_length(name) <= 1024", name="name_valid"),
        CheckConstraint("version_count >= 0", name="version_count_nonneg"),
        Index("ix_files_live_submitted", "submitted_at", "id", postgresql_where=text("deleted_at IS NULL")),
        Index(
            "ix_files_live_dataset_submitted",
            "dataset_id",
            "submitted_at",
            "id",
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_files_live_name", "name", "id", postgresql_where=text("deleted_at IS NULL")),
        Index("ix_files_live_size", "size", "id", postgresql_where=text("deleted_at IS NULL")),
        Index(  # one dataset by size, index-only with its name filter (migration 0005)
            "ix_files_live_dataset_size",
            "dataset_id",
            "size",
            "id",
            postgresql_include=["name"],
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_files_live_version", "version_count", "id", postgresql_where=text("deleted_at IS NULL")),
        Index("ix_files_deleted", "deleted_at", "id", postgresql_where=text("deleted_at IS NOT NULL")),
        Index(
            "ix_files_annotations",
            "annotations",
            postgresql_using="gin",
            postgresql_ops={"annotations": "jsonb_path_ops"},
        ),
    )


class ChecksumState(enum.StrEnum):
    VERIFIED = "verified"  # part MD5s declared by the client matched the S3 multipart ETag
    SIZE_ONLY = "size_only"  # S3 confirmed the size; no part checksums to compare


class Fixity(enum.StrEnum):
    """What the last re-read of the stored bytes found (omicsdm verify)."""

    UNCHECKED = "unchecked"
    VERIFIED = "verified"  # the SHA-256 of the stored bytes equals the declared one
    RECORDED = "recorded"  # no SHA-256 was declared: the computed one was stored and is the reference now
    CORRUPT = "corrupt"  # differs, or the object is missing or has another size: never served silently


class FileVersion(Base):
    __tablename__ = "file_versions"
    id: Mapped[uuid.UUID] = _uuid_pk()
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("files.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(Text, unique=True)
    s3_version_id: Mapped[str | None] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(64), comment="Declared by the uploader, hex")
    content_type: Mapped[str] = mapped_column(String(255))
    checksum_state: Mapped[ChecksumState] = mapped_column(
        Enum(ChecksumState, name="checksum_state", values_callable=lambda e: [m.value for m in e])
    )
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime] = _now()
    upload_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("upload_sessions.id", ondelete="SET NULL"), unique=True
    )
    fixity: Mapped[Fixity] = mapped_column(
        Enum(Fixity, name="fixity_state", values_callable=lambda e: [m.value for m in e]),
        default=Fixity.UNCHECKED,
        server_default=Fixity.UNCHECKED.value,
    )
    fixity_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fixity_note: Mapped[str | None] = mapped_column(Text, comment="Why the last check found the version corrupt")
    fixity_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Queued for a check ahead of the periodic order (admin request)"
    )
    __table_args__ = (
        UniqueConstraint("file_id", "version", name="uq_file_versions_file_version"),
        Index("ix_file_versions_fixity_due", text("fixity_checked_at NULLS FIRST"), "id"),
        Index(
            "ix_file_versions_fixity_requested",
            "fixity_requested_at",
            postgresql_where=text("fixity_requested_at IS NOT NULL"),
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("size >= 0", name="size_nonneg"),
        CheckConstraint("sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    )


class UploadState(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class UploadSession(Base):
    """One browser/CLI multipart upload; owns a server-allocated, never-reused object key."""

    __tablename__ = "upload_sessions"
    id: Mapped[uuid.UUID] = _uuid_pk()
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(Text)
    object_key: Mapped[str] = mapped_column(Text, unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    s3_upload_id: Mapped[str | None] = mapped_column(String(1024), unique=True)
    state: Mapped[UploadState] = mapped_column(
        Enum(UploadState, name="upload_state", values_callable=lambda e: [m.value for m in e]),
        default=UploadState.PENDING,
        server_default=UploadState.PENDING.value,
    )
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_nonneg"),
        CheckConstraint("part_size >= 5242880 AND part_size <= 5368709120", name="part_size_range"),
        CheckConstraint("sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        Index("ix_upload_sessions_pending_created", "created_at", postgresql_where=text("state = 'pending'")),
    )


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = _now()
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id", "at"),)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="sha256 hex of the secret")
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeviceState(enum.StrEnum):
    PENDING = "pending"  # waiting for the user to approve or deny on the web page
    APPROVED = "approved"  # approved; the next poll receives the token
    DENIED = "denied"
    ISSUED = "issued"  # the token was handed out: the device code is spent


class DeviceAuthorization(Base):
    """One `omicsdm login` waiting for a user's approval (RFC 8628 device authorization grant).

    Only hashes of the device code (the command's secret) and of the user code (shown to the user) are
    stored; the token's secret is made at the poll that receives it and never stored.
    """

    __tablename__ = "device_authorizations"
    id: Mapped[uuid.UUID] = _uuid_pk()
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="sha256 hex of the device code")
    user_code_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="sha256 hex of the user code")
    client_name: Mapped[str] = mapped_column(String(100))
    hostname: Mapped[str] = mapped_column(String(255))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    token_name: Mapped[str] = mapped_column(String(255))
    token_days: Mapped[int | None] = mapped_column(Integer, comment="Lifetime of the token to issue; NULL = never")
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    poll_interval: Mapped[int] = mapped_column(Integer, comment="Seconds the command must wait between polls")
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[DeviceState] = mapped_column(
        Enum(DeviceState, name="device_state", values_callable=lambda e: [m.value for m in e]),
        default=DeviceState.PENDING,
        server_default=DeviceState.PENDING.value,
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    token_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
