"""device_authorizations: `omicsdm login` approved on the web page (RFC 8628 device authorization grant)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEVICE_STATE = postgresql.ENUM("pending", "approved", "denied", "issued", name="device_state", create_type=False)


def upgrade() -> None:
    DEVICE_STATE.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "device_authorizations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("device_code_hash", sa.String(64), nullable=False, comment="sha256 hex of the device code"),
        sa.Column("user_code_hash", sa.String(64), nullable=False, comment="sha256 hex of the user code"),
        sa.Column("client_name", sa.String(100), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("token_name", sa.String(255), nullable=False),
        sa.Column("token_days", sa.Integer(), nullable=True, comment="Lifetime of the token to issue; NULL = never"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("poll_interval", sa.Integer(), nullable=False, comment="Seconds the command must wait between polls"),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", DEVICE_STATE, server_default="pending", nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_device_authorizations_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_device_authorizations_token_id_api_tokens"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_authorizations")),
        sa.UniqueConstraint("device_code_hash", name=op.f("uq_device_authorizations_device_code_hash")),
        sa.UniqueConstraint("user_code_hash", name=op.f("uq_device_authorizations_user_code_hash")),
    )
    op.create_index(op.f("ix_device_authorizations_expires_at"), "device_authorizations", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_device_authorizations_expires_at"), table_name="device_authorizations")
    op.drop_table("device_authorizations")
    DEVICE_STATE.drop(op.get_bind(), checkfirst=True)
