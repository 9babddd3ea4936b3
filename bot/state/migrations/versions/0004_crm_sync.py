"""CRM sync: a resumable cursor per CRM and object stream, and the ids a full sync has seen.

Revision ID: 0004
Revises: 0003
Created: 2026-12-03

Written out in full, like 0001, so it keeps creating the same tables however ``bot.state.tables``
changes later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crm_sync_state",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("watermark", TZ, nullable=True),
        sa.Column("window_start", TZ, nullable=True),
        sa.Column("window_end", TZ, nullable=True),
        sa.Column("after_id", sa.String(128), nullable=True),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("crm", "stream", name=op.f("pk_crm_sync_state")),
    )
    op.create_table(
        "crm_sync_seen",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("crm", "stream", "source_id", name=op.f("pk_crm_sync_seen")),
    )


def downgrade() -> None:
    op.drop_table("crm_sync_seen")
    op.drop_table("crm_sync_state")
