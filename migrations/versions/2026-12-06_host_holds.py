"""Retry-After holds per host, kept across runs and processes (http.py)

Revision ID: host_holds
Revises: 57ea115b3296
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "host_holds"
down_revision: str | None = "57ea115b3296"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
