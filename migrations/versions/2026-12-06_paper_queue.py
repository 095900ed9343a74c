"""papers asked for by id, queued for the worker (ingest.ensure_papers)

Revision ID: paper_queue
Revises: host_holds
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "paper_queue"
down_revision: str | None = "host_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_queue",
        sa.Column("paper_id", sa.String(length=40), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_paper_queue")),
    )
    with op.batch_alter_table("paper_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_paper_queue_attempts_requested", ["attempts", "requested_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("paper_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_paper_queue_attempts_requested")
    op.drop_table("paper_queue")
