"""Retry-After holds per host, kept across runs and processes (http.py)

Revision ID: host_holds
Revises: 57ea115b3296
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "host_holds"
down_revision: str | None = "57ea115b3296"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "host_holds",
        sa.Column("host", sa.String(length=300), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_host_holds")),
    )


def downgrade() -> None:
    op.drop_table("host_holds")
