"""history imports: version dates, derived listings, import checkpoints

Revision ID: history
Revises: accounts
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "history"
down_revision: str | None = "accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("versions", sa.JSON(), nullable=True))
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("derived", sa.Boolean(), server_default="0", nullable=False))
    op.create_table(
        "import_checkpoints",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_import_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("import_checkpoints")
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("derived")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("versions")
