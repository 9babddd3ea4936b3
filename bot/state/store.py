"""The state database: privacy preferences, the audit log, exactly-once claims, digests, feedback.

One :class:`StateStore` per process, shared by its threads. Every write is one short transaction,
and every "only once" guarantee is a primary key or a conditional UPDATE checked by its row count,
so it holds across threads, processes and replicas on SQLite or PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Engine, Insert, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.errors import StateError
from bot.state.engine import describe, open_engine, parse, state_error
from bot.state.migrate import current_revision, upgrade
from bot.state.rows import AuditRow, DigestStatus, FeedbackRow, utc_now
from bot.state.tables import (
    KEY,
    STAGE,
    audit_log,
    channel_prefs,
    crm_sync_cache,
    crm_sync_seen,
    crm_sync_state,
    deal_snoozes,
    digest_snapshots,
    digests_sent,
    events_seen,
    feedback,
    private_threads,
    user_prefs,
)

__all__ = ["AuditRow", "FeedbackRow", "StateStore", "SyncCursor"]

SUPPORTED = ("sqlite", "postgresql")
SEEN_IN_LIST = 500  # ids per "IN (...)" of a look-up in crm_sync_seen (SQLite caps the variables)


@dataclass(frozen=True)
class SyncCursor:
    """Where one object stream of one CRM stands (see ``crm_sync_state`` in tables.py)."""

    watermark: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    after_id: str | None = None
    full: bool = False

    @property
    def running(self) -> bool:
        """A run was started and not finished: the next run resumes it."""
        return self.window_end is not None


def _email(email: str) -> str:
    return email.strip().lower()


def _fit(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Cut free text to its column's length: PostgreSQL would refuse it, SQLite would keep it all."""
    out = dict(values)
    for name, value in values.items():
        length = getattr(table.c[name].type, "length", None)
        if isinstance(value, str) and length and len(value) > length:
            out[name] = value[:length]
    return out


class StateStore:
    """Open with :meth:`open`; safe to share between threads; :meth:`close` when done."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> StateStore:
        """Connect to ``url`` (``STATE_URL``) and upgrade its schema to head.

        Raises :class:`StateError`, naming STATE_URL with its password masked, when the URL is
        malformed, its driver is missing, or the database cannot be reached or migrated.
        """
        parsed = parse(url)
        if parsed.get_backend_name() not in SUPPORTED:
            shown = parsed.render_as_string(hide_password=True)
            raise StateError(f"setting STATE_URL: {shown} is not a sqlite:// or postgresql:// database URL")
        engine = open_engine(parsed)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({describe(self._engine.url)})"

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One transaction; database failures other than a key conflict become :class:`StateError`."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise state_error(self._engine.url, exc) from None

    def _upsert(self, conn: Connection, table: Table, values: dict[str, Any]) -> None:
        keys = [c.name for c in table.primary_key]
        stmt: Insert
        if conn.dialect.name == "postgresql":
            pg = postgresql.insert(table).values(values)
            stmt = pg.on_conflict_do_update(index_elements=keys, set_={k: pg.excluded[k] for k in values})
        else:
            lite = sqlite.insert(table).values(values)
            stmt = lite.on_conflict_do_update(index_elements=keys, set_={k: lite.excluded[k] for k in values})
        conn.execute(stmt)

    # --- schema --------------------------------------------------------------------------------------

    def schema_revision(self) -> str:
        """The Alembic revision the database is at (after :meth:`open`, the head)."""
        with self._begin() as conn:
            revision = current_revision(conn)
        if revision is None:
            raise StateError(f"state database {describe(self._engine.url)} has no schema revision")
        return revision

    # --- privacy preferences -------------------------------------------------------------------------

    def user_private(self, email: str) -> bool | None:
        """The user's saved preference, or None if they never set one."""
        with self._begin() as conn:
            query = select(user_prefs.c.private).where(user_prefs.c.email == _email(email))
            return conn.execute(query).scalar_one_or_none()

    def set_user_private(self, email: str, private: bool) -> None:
        with self._begin() as conn:
            values = {"email": _email(email), "private": private, "updated_at": utc_now()}
            self._upsert(conn, user_prefs, values)

    def channel_private(self, channel_id: str) -> bool | None:
        with self._begin() as conn:
            query = select(channel_prefs.c.private).where(channel_prefs.c.channel_id == channel_id)
            return conn.execute(query).scalar_one_or_none()

    def set_channel_private(self, channel_id: str, private: bool) -> None:
        with self._begin() as conn:
            values = {"channel_id": channel_id, "private": private, "updated_at": utc_now()}
            self._upsert(conn, channel_prefs, values)

    def thread_private(self, thread_key: str) -> bool:
        """Has this conversation thread had a private turn? Then it stays private."""
        with self._begin() as conn:
            query = select(private_threads.c.thread_key).where(private_threads.c.thread_key == thread_key)
            return conn.execute(query).first() is not None

    def mark_thread_private(self, thread_key: str) -> None:
        """Make the thread private for good (idempotent; holds across replicas)."""
        if not thread_key or len(thread_key) > KEY:
            raise ValueError(f"a thread key must have 1 to {KEY} characters")
        try:
            with self._begin() as conn:
                conn.execute(insert(private_threads).values(thread_key=thread_key, marked_at=utc_now()))
        except IntegrityError:
            pass  # already private

    # --- audit ---------------------------------------------------------------------------------------

    def record_audit(self, row: AuditRow) -> None:
        values = {name: getattr(row, name) for name in AuditRow.__dataclass_fields__}
        with self._begin() as conn:
            conn.execute(insert(audit_log).values(_fit(audit_log, values)))

    def audit_rows(self, limit: int = 100) -> list[AuditRow]:
        """The latest ``limit`` rows, newest first."""
        columns = [audit_log.c[name] for name in AuditRow.__dataclass_fields__]
        query = select(*columns).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        with self._begin() as conn:
            return [AuditRow(**r) for r in conn.execute(query).mappings()]

    # --- exactly once --------------------------------------------------------------------------------

    def claim_event(self, key: str) -> bool:
        """True for the first caller with ``key`` (a Slack event id, a button action id), then False.

        Holds across threads, processes and replicas: the key is the table's primary key.
        """
        if not key or len(key) > KEY:
            raise ValueError(f"an event key must have 1 to {KEY} characters")
        try:
            with self._begin() as conn:
                conn.execute(insert(events_seen).values(key=key, at=utc_now()))
        except IntegrityError:
            return False
        return True

    def prune_events(self, *, before: datetime) -> int:
        """Forget claims made before ``before`` (retries stop after minutes); returns how many."""
        with self._begin() as conn:
            return conn.execute(delete(events_seen).where(events_seen.c.at < before)).rowcount

    # --- digests -------------------------------------------------------------------------------------

    def _digest(self, email: str, day: date) -> ColumnElement[bool]:
        return (digests_sent.c.user_email == _email(email)) & (digests_sent.c.digest_date == day)

    def claim_digest(self, email: str, day: date, *, retry_failed: bool = True) -> bool:
        """True if this caller may send ``email``'s digest for ``day``: nobody claimed it yet, or
        (with ``retry_failed``) the last attempt failed. At most one caller wins each time.

        A claim whose sender died before :meth:`mark_digest` stays "claimed": that day is not retried.
        """
        now = utc_now()
        try:
            with self._begin() as conn:
                new = {"user_email": _email(email), "digest_date": day, "claimed_at": now}
                conn.execute(insert(digests_sent).values({**new, "status": "claimed", "attempts": 1}))
            return True
        except IntegrityError:
            if not retry_failed:
                return False
        retry = (
            update(digests_sent)
            .where(self._digest(email, day), digests_sent.c.status == "failed")
            .values(status="claimed", claimed_at=now, attempts=digests_sent.c.attempts + 1)
        )
        with self._begin() as conn:
            return conn.execute(retry).rowcount == 1

    def mark_digest(self, email: str, day: date, status: Literal["sent", "failed"]) -> None:
        """Record how a claimed digest went. A digest marked "sent" stays sent."""
        if status not in ("sent", "failed"):
            raise ValueError(f"status must be 'sent' or 'failed', got {status!r}")
        stmt = (
            update(digests_sent)
            .where(self._digest(email, day), digests_sent.c.status != "sent")
            .values(status=status, sent_at=utc_now() if status == "sent" else None)
        )
        with self._begin() as conn:
            if conn.execute(stmt).rowcount == 0 and self._status(conn, email, day) is None:
                raise ValueError(f"no digest was claimed for {_email(email)} on {day.isoformat()}")

    def _status(self, conn: Connection, email: str, day: date) -> DigestStatus | None:
        status: DigestStatus | None = conn.execute(
            select(digests_sent.c.status).where(self._digest(email, day))
        ).scalar()
        return status

    def digest_status(self, email: str, day: date) -> DigestStatus | None:
        """ "claimed", "sent", "failed", or None if nobody claimed that digest."""
        with self._begin() as conn:
            return self._status(conn, email, day)

    def save_snapshot(self, email: str, day: date, stages: Mapping[str, str]) -> None:
        """Keep ``deal_id -> stage`` as sent in ``day``'s digest (replacing any earlier save that day)."""
        owner = _email(email)
        same_day = (digest_snapshots.c.user_email == owner) & (digest_snapshots.c.digest_date == day)
        rows = [
            {"user_email": owner, "digest_date": day, "deal_id": deal, "stage": stage}
            for deal, stage in stages.items()
        ]
        with self._begin() as conn:
            conn.execute(delete(digest_snapshots).where(same_day))
            if rows:
                conn.execute(insert(digest_snapshots), rows)

    def last_snapshot(self, email: str, before: date) -> dict[str, str]:
        """``deal_id -> stage`` from the latest saved snapshot strictly before ``before``; {} if none.

        A digest with no deals saves no rows, so the next comparison is with the one before it.
        """
        owner = _email(email)
        mine = digest_snapshots.c.user_email == owner
        latest = (
            select(func.max(digest_snapshots.c.digest_date))
            .where(mine, digest_snapshots.c.digest_date < before)
            .scalar_subquery()
        )
        query = select(digest_snapshots.c.deal_id, digest_snapshots.c.stage).where(
            mine, digest_snapshots.c.digest_date == latest
        )
        with self._begin() as conn:
            return {deal: stage for deal, stage in conn.execute(query)}

    # --- digest snoozes ------------------------------------------------------------------------------

    def snooze_deal(self, email: str, deal_id: str, until: date) -> None:
        """Keep ``deal_id`` out of ``email``'s digests on days before ``until`` (a later call replaces)."""
        if not deal_id or len(deal_id) > STAGE:
            raise ValueError(f"a deal id must have 1 to {STAGE} characters")
        values = {
            "user_email": _email(email),
            "deal_id": deal_id,
            "snoozed_until": until,
            "created_at": utc_now(),
        }
        with self._begin() as conn:
            self._upsert(conn, deal_snoozes, values)

    def snoozed_deals(self, email: str, on: date) -> dict[str, date]:
        """``deal_id -> snoozed_until`` of ``email``'s snoozes still in force on day ``on``."""
        query = select(deal_snoozes.c.deal_id, deal_snoozes.c.snoozed_until).where(
            deal_snoozes.c.user_email == _email(email), deal_snoozes.c.snoozed_until > on
        )
        with self._begin() as conn:
            return {deal: until for deal, until in conn.execute(query)}

    # --- feedback ------------------------------------------------------------------------------------

    def record_feedback(self, row: FeedbackRow) -> None:
        values = {name: getattr(row, name) for name in FeedbackRow.__dataclass_fields__}
        values["sources"] = json.dumps(list(row.sources))
        with self._begin() as conn:
            conn.execute(insert(feedback).values(_fit(feedback, values)))

    def feedback_rows(
        self, limit: int = 100, *, user_email: str | None = None, request_id: str | None = None
    ) -> list[FeedbackRow]:
        """The latest ``limit`` ratings, newest first, optionally for one user or one answer."""
        columns = [feedback.c[name] for name in FeedbackRow.__dataclass_fields__]
        query = select(*columns).order_by(feedback.c.at.desc(), feedback.c.id.desc()).limit(limit)
        if user_email is not None:
            query = query.where(feedback.c.user_email == _email(user_email))
        if request_id is not None:
            query = query.where(feedback.c.request_id == request_id)
        with self._begin() as conn:
            return [
                FeedbackRow(**{**r, "sources": tuple(json.loads(r["sources"]))})
                for r in conn.execute(query).mappings()
            ]

    # --- CRM sync cursors ----------------------------------------------------------------------------

    def sync_cursor(self, crm: str, stream: str) -> SyncCursor:
        row_of = (crm_sync_state.c.crm == crm) & (crm_sync_state.c.stream == stream)
        with self._begin() as conn:
            row = conn.execute(select(crm_sync_state).where(row_of)).mappings().first()
        if row is None:
            return SyncCursor()
        return SyncCursor(
            row["watermark"], row["window_start"], row["window_end"], row["after_id"], row["full"]
        )

    def save_sync_cursor(self, crm: str, stream: str, cursor: SyncCursor) -> None:
        values = {
            "crm": crm, "stream": stream, "watermark": cursor.watermark, "window_start": cursor.window_start,
            "window_end": cursor.window_end, "after_id": cursor.after_id, "full": cursor.full,
            "updated_at": utc_now(),
        }  # fmt: skip
        with self._begin() as conn:
            self._upsert(conn, crm_sync_state, values)

    def add_sync_seen(self, crm: str, stream: str, ids: list[str]) -> None:
        """Remember ids read by a full sync (idempotent: an id read twice is kept once)."""
        if not ids:
            return
        with self._begin() as conn:
            have = set(
                conn.execute(
                    select(crm_sync_seen.c.source_id).where(
                        crm_sync_seen.c.crm == crm,
                        crm_sync_seen.c.stream == stream,
                        crm_sync_seen.c.source_id.in_(ids),
                    )
                ).scalars()
            )
            new = [
                {"crm": crm, "stream": stream, "source_id": i} for i in dict.fromkeys(ids) if i not in have
            ]
            if new:
                conn.execute(insert(crm_sync_seen), new)

    def has_sync_seen(self, crm: str, stream: str) -> bool:
        """Whether the full sync of ``stream`` has remembered any id so far."""
        query = select(crm_sync_seen.c.source_id).where(
            crm_sync_seen.c.crm == crm, crm_sync_seen.c.stream == stream
        )
        with self._begin() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def sync_seen_among(self, crm: str, stream: str, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` the full sync of ``stream`` has read (asked a batch at a time, so the
        ids a sync saw are never all in memory)."""
        found: set[str] = set()
        with self._begin() as conn:
            for start in range(0, len(ids), SEEN_IN_LIST):
                query = select(crm_sync_seen.c.source_id).where(
                    crm_sync_seen.c.crm == crm,
                    crm_sync_seen.c.stream == stream,
                    crm_sync_seen.c.source_id.in_(ids[start : start + SEEN_IN_LIST]),
                )
                found.update(conn.execute(query).scalars())
        return found

    def clear_sync_seen(self, crm: str, stream: str) -> None:
        with self._begin() as conn:
            conn.execute(
                delete(crm_sync_seen).where(crm_sync_seen.c.crm == crm, crm_sync_seen.c.stream == stream)
            )

    def sync_cache(self, crm: str, name: str) -> tuple[Any, datetime] | None:
        """What a sync kept under ``name`` (JSON, None for a bare check mark) and when, or None."""
        row_of = (crm_sync_cache.c.crm == crm) & (crm_sync_cache.c.name == name)
        with self._begin() as conn:
            row = conn.execute(
                select(crm_sync_cache.c.value, crm_sync_cache.c.fetched_at).where(row_of)
            ).first()
        if row is None:
            return None
        return (None if row[0] is None else json.loads(row[0])), row[1]

    def save_sync_cache(self, crm: str, name: str, value: Any, *, at: datetime | None = None) -> None:
        values = {"crm": crm, "name": name, "value": None if value is None else json.dumps(value),
                  "fetched_at": at or utc_now()}  # fmt: skip
        with self._begin() as conn:
            self._upsert(conn, crm_sync_cache, values)

    def claim_sync_lease(self, crm: str, *, seconds: float, owner: str,
                         take_from: Callable[[str], bool] | None = None) -> bool:  # fmt: skip
        """True if ``owner`` may sync ``crm`` now: nobody else holds an unexpired lease, or
        ``take_from(holder)`` says the holder is gone. One winner at a time across processes and
        replicas (a conditional UPDATE checked by its row count)."""
        now = utc_now()
        until = now + timedelta(seconds=seconds)
        lease = (crm_sync_state.c.crm == crm) & (crm_sync_state.c.stream == "*")
        try:
            with self._begin() as conn:
                row = {"crm": crm, "stream": "*", "full": False, "lease_owner": owner}
                conn.execute(insert(crm_sync_state).values(**row, lease_until=until, updated_at=now))
            return True
        except IntegrityError:
            pass
        with self._begin() as conn:
            holder = conn.execute(select(crm_sync_state.c.lease_owner, crm_sync_state.c.lease_until)
                                  .where(lease)).first()  # fmt: skip
            free = (crm_sync_state.c.lease_until.is_(None)) | (crm_sync_state.c.lease_until < now)
            free = free | (crm_sync_state.c.lease_owner == owner)
            if holder is not None and holder[0] and take_from is not None and take_from(holder[0]):
                free = free | (crm_sync_state.c.lease_owner == holder[0])
            stmt = update(crm_sync_state).where(lease, free).values(
                lease_until=until, lease_owner=owner, updated_at=now)  # fmt: skip
            return conn.execute(stmt).rowcount == 1

    def renew_sync_lease(self, crm: str, *, seconds: float, owner: str) -> None:
        mine = (crm_sync_state.c.crm == crm) & (crm_sync_state.c.stream == "*") & (
            crm_sync_state.c.lease_owner == owner)  # fmt: skip
        until = utc_now() + timedelta(seconds=seconds)
        with self._begin() as conn:
            conn.execute(update(crm_sync_state).where(mine).values(lease_until=until, updated_at=utc_now()))

    def release_sync_lease(self, crm: str, *, owner: str) -> None:
        mine = (crm_sync_state.c.crm == crm) & (crm_sync_state.c.stream == "*") & (
            crm_sync_state.c.lease_owner == owner)  # fmt: skip
        with self._begin() as conn:
            conn.execute(update(crm_sync_state).where(mine).values(
                lease_until=None, lease_owner=None, updated_at=utc_now()))  # fmt: skip
