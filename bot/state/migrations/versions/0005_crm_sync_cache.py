"""CRM sync: reference data (owners, pipelines) and slow-cadence checks kept between runs.

Revision ID: 0005
Revises: 0004
Created: 2026-12-03

Written out in full, like 0001, so it keeps creating the same table however ``bot.state.tables``
changes later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "crm_sync_cache",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm", "name", name=op.f("pk_crm_sync_cache")),
    )


def downgrade() -> None:
    op.drop_table("crm_sync_cache")
