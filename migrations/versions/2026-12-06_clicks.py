"""public [PDF]/[FAQ] click counters: pdf_clicks, and the clicks of the last days that keep a
reload from counting twice and rate-limit a visitor

Revision ID: clicks
Revises: day_index
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "clicks"
down_revision: str | None = "day_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clicks",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("paper_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("visitor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('pdf', 'faq')", name=op.f("ck_clicks_kind")),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_clicks_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("day", "paper_id", "kind", "visitor", name=op.f("pk_clicks")),
    )
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.create_index("ix_clicks_visitor_created", ["visitor", "created_at"], unique=False)

    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pdf_clicks", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_column("pdf_clicks")

    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_clicks_visitor_created")

    op.drop_table("clicks")
