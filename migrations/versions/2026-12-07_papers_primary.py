"""papers: the index on primary_category becomes one on (id, primary_category)

A day list ranks every listing of the day by its paper's primary category (new in a primary
category of the spec first). Read from the paper's row, each listing costs a seek in the primary
key's index and another in the widest table; an index on (id, primary_category) answers with the
first alone. At a million papers on SQLite, the listings' pass of a union day went from 5.0 to
3.2 ms, and a list page rendered cold (after an ingest) from 15.5 to 13.4 ms of CPU (latest
cs.LG 12.9 -> 10.9, a JSON day 8.6 -> 7.3: ``bench/request_cpu.py --cold``, medians). The index
on primary_category alone served no query (nothing filters on it), so it goes: the writes keep
one index entry per paper (a Kaggle import of 280k papers: 23,995 -> 24,089 papers/s).

Revision ID: papers_primary
Revises: listings_cover
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "papers_primary"
down_revision: str | None = "listings_cover"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_index("ix_papers_primary_category")
        batch.create_index(
            "ix_papers_id_primary_category", ["id", "primary_category"], unique=False
        )
    # SQLite plans by the statistics of the last ANALYZE, which know nothing of a new index:
    # it would seek the primary key's and read the row still. Postgres needs none for this.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _analysed(bind):
        op.execute("ANALYZE ix_papers_id_primary_category")


def _analysed(bind: sa.engine.Connection) -> bool:
    """Whether the database has planner statistics (an import's ANALYZE): a database that has
    none is planned without any, and keeps so."""
    found = bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
    return found.first() is not None


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_index("ix_papers_id_primary_category")
        batch.create_index("ix_papers_primary_category", ["primary_category"], unique=False)
