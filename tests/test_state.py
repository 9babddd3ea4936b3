"""The state database: preferences, audit rows, exactly-once claims, digests, feedback, migrations.

Runs on a SQLite file in a temp folder; set TEST_POSTGRES_URL (a server URL whose user may create
databases, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) to run every test on a fresh
PostgreSQL database too. Races use real threads and real (spawned) processes.
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.errors import StateError
from bot.state import AuditRow, FeedbackRow, StateStore, head_revision
from bot.state.tables import metadata

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL")
PROCS = 4  # racing processes; two would do, four make a lost race likelier to show
SPAWN = mp.get_context("spawn")  # no fork of a process that has threads and open connections

AUDIT_COLUMNS = {
    "id", "request_id", "at", "user_email", "surface", "action", "route", "reason", "endpoint_host",
    "model", "prompt_tokens", "completion_tokens", "latency_ms", "outcome", "detail",
}  # fmt: skip


@pytest.fixture(params=["sqlite", *(["postgresql"] if PG_ADMIN_URL else [])])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for a database that does not exist yet (SQLite: not even its folder)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'state.db'}"
        return
    admin = sa.create_engine(str(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"closer_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(str(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def store(url: str) -> Iterator[StateStore]:
    with StateStore.open(url) as opened:
        yield opened


@pytest.fixture
def engine(store: StateStore, url: str) -> Iterator[sa.Engine]:
    """A second, plain engine on the same database, to look at what the store wrote."""
    plain = sa.create_engine(url)
    yield plain
    plain.dispose()


def audit(request_id: str, **overrides: Any) -> AuditRow:
    fields: dict[str, Any] = {
        "request_id": request_id, "user_email": "Maya@Example.com", "surface": "cli", "action": "ask",
        "route": "private", "reason": "user preference", "outcome": "ok", "endpoint_host": "llm.internal",
        "model": "m-1", "prompt_tokens": 120, "completion_tokens": 30, "latency_ms": 812.5,
    }  # fmt: skip
    return AuditRow(**{**fields, **overrides})


# --- racing workers (module level, so spawned processes can import them) ----------------------------


def _race(target: Any, *args: Any, procs: int = PROCS) -> list[Any]:
    """Run ``target(*args, barrier, queue)`` in ``procs`` processes at once; each puts one result."""
    barrier, queue = SPAWN.Barrier(procs), SPAWN.Queue()
    workers = [SPAWN.Process(target=target, args=(*args, barrier, queue)) for _ in range(procs)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    return results


def _open_worker(url: str, barrier: Any, queue: Any) -> None:
    barrier.wait(timeout=60)
    try:
        with StateStore.open(url) as store:
            queue.put(store.schema_revision())
    except StateError as exc:
        queue.put(f"failed: {exc}")


def _claim_events_worker(url: str, keys: list[str], barrier: Any, queue: Any) -> None:
    with StateStore.open(url) as store:
        barrier.wait(timeout=60)
        queue.put([key for key in keys if store.claim_event(key)])


def _claim_digests_worker(url: str, emails: list[str], day: date, barrier: Any, queue: Any) -> None:
    with StateStore.open(url) as store:
        barrier.wait(timeout=60)
        queue.put([email for email in emails if store.claim_digest(email, day)])


# --- opening and migrating ------------------------------------------------------------------------


def test_open_creates_the_folder_and_migrates_to_head(url: str, store: StateStore) -> None:
    assert store.schema_revision() == head_revision() == "0005"
    if url.startswith("sqlite"):
        assert Path(sa.make_url(url).database or "").is_file()


def test_migrated_schema_matches_the_tables_module(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(store: StateStore, engine: sa.Engine, url: str) -> None:
    if not url.startswith("sqlite"):
        pytest.skip("SQLite only")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_reopening_keeps_the_data(url: str) -> None:
    with StateStore.open(url) as first:
        first.set_user_private("a@x.example", True)
    with StateStore.open(url) as second:
        assert second.user_private("a@x.example") is True
        assert second.schema_revision() == head_revision()


def test_processes_opening_a_fresh_database_at_once_all_succeed(url: str) -> None:
    assert _race(_open_worker, url) == [head_revision()] * PROCS


def test_a_database_newer_than_the_code_is_a_state_error(
    url: str, store: StateStore, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(StateError, match=r"does not know.*upgrade Closer"):
        StateStore.open(url)


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is None, reason="no PostgreSQL driver installed")
def test_unreachable_postgres_is_a_state_error_without_the_password() -> None:
    with pytest.raises(StateError) as caught:
        StateStore.open("postgresql+psycopg://u:secret@127.0.0.1:1/db")
    message = str(caught.value)
    assert "STATE_URL=postgresql+psycopg://u:***@127.0.0.1:1/db" in message
    assert "secret" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("sqlite:////proc/nope/state.db", "STATE_URL=sqlite:////proc/nope/state.db cannot create its folder"),
        ("not a url", "not a database URL"),
        ("mysql://u:secret@db.example/closer", "mysql://u:***@db.example/closer is not a sqlite://"),
        ("postgresql+nodriver://u:secret@h/db", "STATE_URL=postgresql+nodriver://u:***@h/db"),
    ],
)
def test_a_bad_state_url_is_a_one_line_state_error(bad: str, expected: str) -> None:
    with pytest.raises(StateError) as caught:
        StateStore.open(bad)
    message = str(caught.value)
    assert expected in message
    assert "secret" not in message and "\n" not in message


def test_a_file_that_is_not_a_database_is_a_state_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite " * 100)
    with pytest.raises(StateError, match=r"STATE_URL=sqlite:///.*junk\.db cannot be opened"):
        StateStore.open(f"sqlite:///{junk}")


# --- privacy preferences --------------------------------------------------------------------------


def test_user_prefs_round_trip_upsert_and_ignore_email_case(store: StateStore) -> None:
    assert store.user_private("maya@example.com") is None
    store.set_user_private("Maya@Example.com", True)
    assert store.user_private("maya@example.com") is True
    store.set_user_private("maya@example.com", False)
    assert store.user_private("MAYA@example.com") is False
    assert store.user_private("tom@example.com") is None


def test_channel_prefs_round_trip_and_upsert(store: StateStore) -> None:
    assert store.channel_private("C123") is None
    store.set_channel_private("C123", True)
    store.set_channel_private("C456", False)
    assert (store.channel_private("C123"), store.channel_private("C456")) == (True, False)
    store.set_channel_private("C123", False)
    assert store.channel_private("C123") is False


# --- audit ----------------------------------------------------------------------------------------


def test_audit_rows_round_trip_newest_first(store: StateStore) -> None:
    start = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    rows = [audit(f"r{i}", at=start + timedelta(minutes=i)) for i in range(3)]
    store.record_audit(rows[1])
    store.record_audit(rows[0])
    store.record_audit(rows[2])
    back = store.audit_rows()
    assert back == [rows[2], rows[1], rows[0]]
    assert back[0].user_email == "maya@example.com" and back[0].at.tzinfo is not None
    assert store.audit_rows(limit=1) == [rows[2]]


def test_audit_keeps_instants_in_utc(store: StateStore) -> None:
    oslo = timezone(timedelta(hours=2))
    store.record_audit(audit("r1", at=datetime(2026, 5, 4, 11, 0, tzinfo=oslo)))
    (row,) = store.audit_rows()
    assert row.at == datetime(2026, 5, 4, 9, 0, tzinfo=UTC) and row.at.utcoffset() == timedelta(0)


def test_audit_row_defaults_to_now_and_refuses_bad_values() -> None:
    before = datetime.now(UTC)
    assert audit("r1").at >= before
    assert audit("r1", at=None).at >= before  # tolerated: callers may pass None for "now"
    with pytest.raises(ValueError, match="timezone-aware"):
        audit("r1", at=datetime(2026, 5, 4, 9, 0))
    with pytest.raises(ValueError, match="route"):
        audit("r1", route="public")
    with pytest.raises(ValueError, match="outcome"):
        audit("r1", outcome="fine")


def test_audit_table_has_no_content_columns(engine: sa.Engine) -> None:
    columns = sa.inspect(engine).get_columns("audit_log")
    assert {c["name"] for c in columns} == AUDIT_COLUMNS
    for column in columns:  # and none roomy enough to hold a prompt or an answer
        assert not isinstance(column["type"], sa.Text)
        if isinstance(column["type"], sa.String):
            assert column["type"].length is not None and column["type"].length <= 500


def test_long_audit_detail_is_cut_to_fit(store: StateStore) -> None:
    store.record_audit(audit("r1", detail="x" * 2000, reason="y" * 300))
    (row,) = store.audit_rows()
    assert row.detail == "x" * 500 and row.reason == "y" * 200


# --- exactly-once events --------------------------------------------------------------------------


def test_claim_event_is_true_once(store: StateStore) -> None:
    assert store.claim_event("Ev123") is True
    assert store.claim_event("Ev123") is False
    assert store.claim_event("Ev124") is True
    with pytest.raises(ValueError):
        store.claim_event("k" * 256)


def test_claim_event_is_true_once_across_threads(store: StateStore) -> None:
    keys = [f"Ev{i}" for i in range(40)]
    barrier, lock, won = threading.Barrier(8), threading.Lock(), Counter[str]()

    def claim() -> None:
        barrier.wait(timeout=30)
        for key in keys:
            if store.claim_event(key):
                with lock:
                    won[key] += 1

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert won == Counter(dict.fromkeys(keys, 1))


def test_claim_event_is_true_once_across_processes(store: StateStore, url: str) -> None:
    keys = [f"Ev{i}" for i in range(40)]
    wins = Counter(key for won in _race(_claim_events_worker, url, keys) for key in won)
    assert wins == Counter(dict.fromkeys(keys, 1))


def test_prune_events_forgets_old_claims(store: StateStore) -> None:
    assert store.claim_event("old")
    assert store.prune_events(before=datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert store.claim_event("old") is True
    assert store.prune_events(before=datetime.now(UTC) - timedelta(hours=1)) == 0


# --- digests --------------------------------------------------------------------------------------

DAY = date(2026, 5, 4)


def test_claim_digest_across_processes_has_one_winner_per_digest(store: StateStore, url: str) -> None:
    emails = [f"rep{i}@example.com" for i in range(20)]
    wins = Counter(e for won in _race(_claim_digests_worker, url, emails, DAY) for e in won)
    assert wins == Counter(dict.fromkeys(emails, 1))
    # after every one failed, exactly one process wins each retry
    for email in emails:
        store.mark_digest(email, DAY, "failed")
    wins = Counter(e for won in _race(_claim_digests_worker, url, emails, DAY) for e in won)
    assert wins == Counter(dict.fromkeys(emails, 1))


def test_failed_digest_may_be_claimed_again_once(store: StateStore) -> None:
    assert store.digest_status("maya@example.com", DAY) is None
    assert store.claim_digest("Maya@Example.com", DAY) is True
    assert store.digest_status("maya@example.com", DAY) == "claimed"
    assert store.claim_digest("maya@example.com", DAY) is False
    store.mark_digest("maya@example.com", DAY, "failed")
    assert store.digest_status("maya@example.com", DAY) == "failed"
    assert store.claim_digest("maya@example.com", DAY, retry_failed=False) is False
    assert store.claim_digest("maya@example.com", DAY) is True
    assert store.claim_digest("maya@example.com", DAY) is False


def test_sent_digest_is_never_claimed_again(store: StateStore) -> None:
    assert store.claim_digest("maya@example.com", DAY)
    store.mark_digest("maya@example.com", DAY, "sent")
    store.mark_digest("maya@example.com", DAY, "failed")  # too late: a sent digest stays sent
    assert store.digest_status("maya@example.com", DAY) == "sent"
    assert store.claim_digest("maya@example.com", DAY) is False
    assert store.claim_digest("maya@example.com", DAY + timedelta(days=1)) is True


def test_marking_an_unclaimed_digest_is_an_error(store: StateStore) -> None:
    with pytest.raises(ValueError, match="no digest was claimed"):
        store.mark_digest("maya@example.com", DAY, "sent")


def test_attempts_are_counted(store: StateStore, engine: sa.Engine) -> None:
    store.claim_digest("maya@example.com", DAY)
    store.mark_digest("maya@example.com", DAY, "failed")
    store.claim_digest("maya@example.com", DAY)
    store.mark_digest("maya@example.com", DAY, "sent")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT attempts, sent_at FROM digests_sent")).one()
    assert row.attempts == 2 and row.sent_at is not None


def test_last_snapshot_is_the_latest_strictly_before(store: StateStore) -> None:
    mon, tue, wed = DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)
    assert store.last_snapshot("maya@example.com", before=wed) == {}
    store.save_snapshot("maya@example.com", mon, {"DL-101": "proposal", "DL-102": "discovery"})
    store.save_snapshot("Maya@Example.com", tue, {"DL-101": "negotiation"})
    store.save_snapshot("tom@example.com", tue, {"DL-200": "won"})
    assert store.last_snapshot("maya@example.com", before=wed) == {"DL-101": "negotiation"}
    assert store.last_snapshot("maya@example.com", before=tue) == {
        "DL-101": "proposal",
        "DL-102": "discovery",
    }
    assert store.last_snapshot("maya@example.com", before=mon) == {}
    store.save_snapshot("maya@example.com", tue, {"DL-101": "won", "DL-103": "proposal"})  # a retry replaces
    assert store.last_snapshot("maya@example.com", before=wed) == {"DL-101": "won", "DL-103": "proposal"}


# --- feedback -------------------------------------------------------------------------------------


def test_feedback_round_trip_newest_first_and_filters(store: StateStore) -> None:
    start = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    up = FeedbackRow(user_email="Maya@Example.com", request_id="r1", rating=1, route="private",
                     sources=("deal:DL-101", "doc:pricing"), at=start)  # fmt: skip
    down = FeedbackRow(
        user_email="tom@example.com", request_id="r2", rating=-1, route="standard", at=start + timedelta(1)
    )
    store.record_feedback(up)
    store.record_feedback(down)
    assert store.feedback_rows() == [down, up]
    assert store.feedback_rows(user_email="MAYA@example.com") == [up]
    assert store.feedback_rows(request_id="r2") == [down]
    assert store.feedback_rows(limit=1) == [down]
    with pytest.raises(ValueError, match="rating"):
        FeedbackRow(user_email="a@x", request_id="r", rating=0, route="standard")  # type: ignore[arg-type]


def test_the_ids_a_full_sync_saw_are_asked_a_batch_at_a_time(store: StateStore) -> None:
    assert not store.has_sync_seen("hubspot", "notes")
    store.add_sync_seen("hubspot", "notes", [f"N{i}" for i in range(0, 1200, 2)])
    store.add_sync_seen("hubspot", "deals", ["N1"])
    assert store.has_sync_seen("hubspot", "notes") and not store.has_sync_seen("salesforce", "notes")
    asked = [f"N{i}" for i in range(1200)]  # more ids than one "IN (...)" takes
    assert store.sync_seen_among("hubspot", "notes", asked) == {f"N{i}" for i in range(0, 1200, 2)}
    assert store.sync_seen_among("hubspot", "notes", []) == set()
    store.clear_sync_seen("hubspot", "notes")
    assert not store.has_sync_seen("hubspot", "notes") and store.has_sync_seen("hubspot", "deals")
