"""Deal snoozes: "Snooze this deal for a week" from a rep's deal digest.

Revision ID: 0002
Revises: 0001
Created: 2026-11-25

Written out in full, like 0001, so it keeps creating the same table however ``bot.state.tables``
changes later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "deal_snoozes",
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("deal_id", sa.String(128), nullable=False),
        sa.Column("snoozed_until", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_email", "deal_id", name=op.f("pk_deal_snoozes")),
    )


def downgrade() -> None:
    op.drop_table("deal_snoozes")
