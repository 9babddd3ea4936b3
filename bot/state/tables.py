"""The schema as SQLAlchemy Core tables: one :data:`metadata`, dialect-neutral (SQLite, PostgreSQL).

This is the *current* shape the store's queries are written against. The database is created and
changed only by the Alembic revisions in ``migrations/versions``; a test checks the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = [
    "audit_log",
    "channel_prefs",
    "crm_sync_cache",
    "crm_sync_seen",
    "crm_sync_state",
    "deal_snoozes",
    "digest_snapshots",
    "digests_sent",
    "events_seen",
    "feedback",
    "metadata",
    "private_threads",
    "user_prefs",
]

# Explicit constraint names, so later batch migrations on SQLite can find and alter them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EMAIL = 320  # RFC 5321's longest address
SHORT = 64  # ids, hosts' labels, surfaces, actions, statuses
REASON = 200
DETAIL = 500
HOST = 255
MODEL = 200
KEY = 255
STAGE = 128  # CRM deal ids and stage names


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: stored as UTC (``timestamptz`` on PostgreSQL), always returned timezone-aware.

    SQLite keeps no offset, so values are converted to UTC before they are written and read back
    as UTC; a naive value is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING)

user_prefs = Table(
    "user_prefs",
    metadata,
    Column("email", String(EMAIL), primary_key=True),
    Column("private", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

channel_prefs = Table(
    "channel_prefs",
    metadata,
    Column("channel_id", String(SHORT), primary_key=True),
    Column("private", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# No column for prompt or answer text, by design.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(SHORT), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("user_email", String(EMAIL), nullable=False),
    Column("surface", String(SHORT), nullable=False),
    Column("action", String(SHORT), nullable=False),
    Column("route", String(16), nullable=False),
    Column("reason", String(REASON), nullable=False),
    Column("endpoint_host", String(HOST), nullable=True),
    Column("model", String(MODEL), nullable=True),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", String(DETAIL), nullable=True),
    CheckConstraint("route IN ('standard', 'private')", name="route"),
    CheckConstraint("outcome IN ('ok', 'degraded', 'refused', 'error')", name="outcome"),
    Index(None, "at"),
    Index(None, "request_id"),
)

events_seen = Table(
    "events_seen",
    metadata,
    Column("key", String(KEY), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "at"),
)

digests_sent = Table(
    "digests_sent",
    metadata,
    Column("user_email", String(EMAIL), primary_key=True),
    Column("digest_date", Date, primary_key=True),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    CheckConstraint("status IN ('claimed', 'sent', 'failed')", name="status"),
)

digest_snapshots = Table(
    "digest_snapshots",
    metadata,
    Column("user_email", String(EMAIL), primary_key=True),
    Column("digest_date", Date, primary_key=True),
    Column("deal_id", String(STAGE), primary_key=True),
    Column("stage", String(STAGE), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user_email", String(EMAIL), nullable=False),
    Column("request_id", String(SHORT), nullable=False),
    Column("rating", SmallInteger, nullable=False),
    Column("sources", Text, nullable=False),  # JSON list of "type:id"
    Column("route", String(16), nullable=False),
    CheckConstraint("rating IN (1, -1)", name="rating"),
    CheckConstraint("route IN ('standard', 'private')", name="route"),
    Index(None, "at"),
    Index(None, "request_id"),
)

# A rep's "snooze this deal for a week" from a digest: the deal stays out of their digests before
# ``snoozed_until`` (revision 0002).
deal_snoozes = Table(
    "deal_snoozes",
    metadata,
    Column("user_email", String(EMAIL), primary_key=True),
    Column("deal_id", String(STAGE), primary_key=True),
    Column("snoozed_until", Date, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# A conversation thread (``channel:thread_ts``) that has had a private turn: every later request in
# it goes the private route too, on every replica (revision 0003). The key and a time, no content.
private_threads = Table(
    "private_threads",
    metadata,
    Column("thread_key", String(KEY), primary_key=True),
    Column("marked_at", UTCDateTime, nullable=False),
)

# Live CRM sync (revision 0004): where each object stream of each CRM stands, so a killed sync resumes.
# ``watermark``: everything modified before it is synced. A run in progress has ``window_end`` set and
# pages by id from ``after_id``. The row with stream "*" holds the run lease (``lease_until``).
crm_sync_state = Table(
    "crm_sync_state",
    metadata,
    Column("crm", String(32), primary_key=True),
    Column("stream", String(SHORT), primary_key=True),
    Column("watermark", UTCDateTime, nullable=True),
    Column("window_start", UTCDateTime, nullable=True),
    Column("window_end", UTCDateTime, nullable=True),
    Column("after_id", String(STAGE), nullable=True),
    Column("full", Boolean, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("lease_owner", String(REASON), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The ids a full sync has read so far, so that a resumed full sync still prunes exactly what is gone.
crm_sync_seen = Table(
    "crm_sync_seen",
    metadata,
    Column("crm", String(32), primary_key=True),
    Column("stream", String(SHORT), primary_key=True),
    Column("source_id", String(STAGE), primary_key=True),
)

# What a CRM sync reads besides records and keeps between runs (revision 0005): reference data that has
# no "changed since" filter (HubSpot owners and deal pipelines, as JSON in ``value``) and the time of
# checks made on a slower cadence (``value`` null); ``fetched_at`` says how old each is.
crm_sync_cache = Table(
    "crm_sync_cache",
    metadata,
    Column("crm", String(32), primary_key=True),
    Column("name", String(SHORT), primary_key=True),
    Column("value", Text, nullable=True),
    Column("fetched_at", UTCDateTime, nullable=False),
)
