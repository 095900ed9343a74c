"""listings: the day index covers a listing's paper and whether it was derived

A day's list reads, for every listing of the day, its paper and ``derived``: with them in the
index on (date, kind) the listings' rows are not read at all (a union day at a million papers:
a third less CPU cold). It replaces that index, whose columns lead this one.

Revision ID: listings_cover
Revises: generations
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "listings_cover"
down_revision: str | None = "generations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.drop_index("ix_listings_date_kind")
        batch.create_index(
            "ix_listings_date_kind_paper", ["date", "kind", "paper_id", "derived"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.drop_index("ix_listings_date_kind_paper")
        batch.create_index("ix_listings_date_kind", ["date", "kind"], unique=False)
