"""day navigation answered from per-day records, whatever the history length

Revision ID: day_index
Revises: paper_queue
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "day_index"
down_revision: str | None = "paper_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "day_categories",
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("category", "date", name=op.f("pk_day_categories")),
    )
    # every (category, day) the stored listings already have; later ingests add theirs
    op.execute(
        "INSERT INTO day_categories (category, date) "
        "SELECT DISTINCT pc.category, l.date FROM listings l "
        "JOIN paper_categories pc ON pc.paper_id = l.paper_id"
    )


def downgrade() -> None:
    op.drop_table("day_categories")
