"""papers asked for by id, queued for the worker (ingest.ensure_papers)

Revision ID: paper_queue
Revises: host_holds
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "paper_queue"
down_revision: str | None = "host_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
