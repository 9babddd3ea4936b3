"""The first schema: privacy preferences, audit log, exactly-once claims, digests, feedback.

Revision ID: 0001
Revises:
Created: 2026-05-01

Written out in full rather than imported from ``bot.state.tables``: a revision must keep creating
the same schema however the tables module changes later. Names are given in full, marked with
``op.f`` so the metadata's naming convention is not applied to them a second time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

TZ = sa.DateTime(timezone=True)
ROUTE_CHECK = "route IN ('standard', 'private')"


def upgrade() -> None:
    op.create_table(
        "user_prefs",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_user_prefs")),
    )
    op.create_table(
        "channel_prefs",
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_prefs")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("surface", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("endpoint_host", sa.String(255), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.CheckConstraint(ROUTE_CHECK, name=op.f("ck_audit_log_route")),
        sa.CheckConstraint(
            "outcome IN ('ok', 'degraded', 'refused', 'error')", name=op.f("ck_audit_log_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_request_id"), "audit_log", ["request_id"])
    op.create_table(
        "events_seen",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_events_seen")),
    )
    op.create_index(op.f("ix_events_seen_at"), "events_seen", ["at"])
    op.create_table(
        "digests_sent",
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("digest_date", sa.Date(), nullable=False),
        sa.Column("claimed_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('claimed', 'sent', 'failed')", name=op.f("ck_digests_sent_status")),
        sa.PrimaryKeyConstraint("user_email", "digest_date", name=op.f("pk_digests_sent")),
    )
    op.create_table(
        "digest_snapshots",
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("digest_date", sa.Date(), nullable=False),
        sa.Column("deal_id", sa.String(128), nullable=False),
        sa.Column("stage", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("user_email", "digest_date", "deal_id", name=op.f("pk_digest_snapshots")),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.CheckConstraint("rating IN (1, -1)", name=op.f("ck_feedback_rating")),
        sa.CheckConstraint(ROUTE_CHECK, name=op.f("ck_feedback_route")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    op.create_index(op.f("ix_feedback_at"), "feedback", ["at"])
    op.create_index(op.f("ix_feedback_request_id"), "feedback", ["request_id"])


def downgrade() -> None:
    for table in ("feedback", "digest_snapshots", "digests_sent", "events_seen", "audit_log"):
        op.drop_table(table)
    op.drop_table("channel_prefs")
    op.drop_table("user_prefs")
