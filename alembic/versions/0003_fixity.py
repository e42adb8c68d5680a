"""fixity: the state of the last re-read of each version's stored bytes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIXITY = sa.Enum("unchecked", "verified", "recorded", "corrupt", name="fixity_state")


def upgrade() -> None:
    FIXITY.create(op.get_bind(), checkfirst=True)
    op.add_column("file_versions", sa.Column("fixity", FIXITY, server_default="unchecked", nullable=False))
    op.add_column("file_versions", sa.Column("fixity_checked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "file_versions",
        sa.Column("fixity_note", sa.Text(), nullable=True, comment="Why the last check found the version corrupt"),
    )
    op.add_column(
        "file_versions",
        sa.Column(
            "fixity_requested_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Queued for a check ahead of the periodic order (admin request)",
        ),
    )
    op.create_index(
        "ix_file_versions_fixity_due", "file_versions", [sa.text("fixity_checked_at NULLS FIRST"), "id"], unique=False
    )
    op.create_index(
        "ix_file_versions_fixity_requested",
        "file_versions",
        ["fixity_requested_at"],
        unique=False,
        postgresql_where=sa.text("fixity_requested_at IS NOT NULL"),
    )
    # A SHA-256 may be recorded once where none was declared (fixity 'recorded'), never changed after.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION omicsdm_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'file versions are never deleted (mark the file deleted instead)';
          END IF;
          IF NEW.file_id <> OLD.file_id OR NEW.version <> OLD.version OR NEW.object_key <> OLD.object_key
             OR NEW.size <> OLD.size OR NEW.etag <> OLD.etag
             OR (OLD.sha256 IS NOT NULL AND NEW.sha256 IS DISTINCT FROM OLD.sha256) THEN
            RAISE EXCEPTION 'a recorded file version cannot change';
          END IF;
          RETURN NEW;
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION omicsdm_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'file versions are never deleted (mark the file deleted instead)';
          END IF;
          IF NEW.file_id <> OLD.file_id OR NEW.version <> OLD.version OR NEW.object_key <> OLD.object_key
             OR NEW.size <> OLD.size OR NEW.etag <> OLD.etag THEN
            RAISE EXCEPTION 'a recorded file version cannot change';
          END IF;
          RETURN NEW;
        END $$
        """
    )
    op.drop_index(
        "ix_file_versions_fixity_requested",
        table_name="file_versions",
        postgresql_where=sa.text("fixity_requested_at IS NOT NULL"),
    )
    op.drop_index("ix_file_versions_fixity_due", table_name="file_versions")
    op.drop_column("file_versions", "fixity_requested_at")
    op.drop_column("file_versions", "fixity_note")
    op.drop_column("file_versions", "fixity_checked_at")
    op.drop_column("file_versions", "fixity")
    FIXITY.drop(op.get_bind(), checkfirst=True)
