"""overview: live files of one dataset by size, with their names, in one index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:45:00

The overview filtered to one dataset and sorted by size (the benchmark's "filtered" page) walked
the size index of every dataset and fetched each row to test its dataset and name: 7,500 rows read
for 50 shown at a million versions; its capped count AND-ed a trigram bitmap of a third of all
files. With the dataset first and the name included, the page and its count read only index entries
of that dataset (index-only: the name filter is evaluated on the included name).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_files_live_dataset_size ON files (dataset_id, size, id) INCLUDE (name) "
        "WHERE deleted_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_files_live_dataset_size")
