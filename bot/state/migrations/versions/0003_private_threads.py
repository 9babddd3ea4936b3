"""Private threads: a conversation thread that has had a private turn stays private for good.

Revision ID: 0003
Revises: 0002
Created: 2026-12-03

Only the thread's key (``channel:thread_ts``) and when it went private: no content. Written out in
full, like 0001, so it keeps creating the same table however ``bot.state.tables`` changes later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "private_threads",
        sa.Column("thread_key", sa.String(255), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("thread_key", name=op.f("pk_private_threads")),
    )


def downgrade() -> None:
    op.drop_table("private_threads")
