"""Bring a state database to the newest schema with Alembic, run from code (no ``alembic.ini``).

Several processes may open the same fresh database at once (replicas starting together, a CronJob
next to the server). One upgrades; the others wait for it and find nothing left to do:

- PostgreSQL: the upgrade runs in one transaction (its DDL is transactional) that first takes
  ``pg_advisory_xact_lock``; the lock goes with the commit or rollback, even if the process dies.
- SQLite: the upgrade runs in one ``BEGIN IMMEDIATE`` transaction, so the file's write lock is held
  from before the version is read until the commit; the others queue on the busy timeout. pysqlite
  would otherwise run DDL outside any transaction, so the connection is switched to manual mode.

On either, a failure that means "someone else got there first" ("already exists", "database is
locked") is retried a few times before it becomes a :class:`StateError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from bot.errors import StateError
from bot.state.engine import describe, state_error

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
PG_LOCK_KEY = 0x436C6F7365720001  # "Closer" + 1: any fixed bigint that no other app here uses
ATTEMPTS = 5
_RACE_MARKERS = ("already exists", "database is locked", "duplicate key")


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic config for the revisions in ``migrations/``; pass a connection to run on it.

    For developers, e.g. a new revision: ``command.revision(alembic_config(url=...), "msg",
    autogenerate=True)``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of Closer knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise StateError(f"no schema revisions found in {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _sqlite_write_lock(conn: Connection) -> Iterator[None]:
    raw = conn.connection.driver_connection
    legacy = raw.isolation_level  # type: ignore[union-attr]
    raw.isolation_level = None  # type: ignore[union-attr]  # we issue BEGIN/COMMIT ourselves
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    finally:
        raw.isolation_level = legacy  # type: ignore[union-attr]


def _upgrade_once(engine: Engine, head: str) -> None:
    with engine.connect() as conn:
        at = current_revision(conn)
        conn.rollback()
        if at == head:  # the common case: no lock taken
            return
        if conn.dialect.name == "sqlite":
            with _sqlite_write_lock(conn):
                command.upgrade(alembic_config(conn), "head")
            return
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            command.upgrade(alembic_config(conn), "head")


def upgrade(engine: Engine) -> None:
    """Upgrade to head; raises :class:`StateError` with a one-line, password-free message."""
    head = head_revision()
    for attempt in range(ATTEMPTS):
        try:
            _upgrade_once(engine, head)
            return
        except DBAPIError as exc:
            raced = any(marker in str(exc.orig).lower() for marker in _RACE_MARKERS)
            if not raced or attempt == ATTEMPTS - 1:
                raise state_error(engine.url, exc, "cannot be opened") from None
            time.sleep(0.05 * 2**attempt)
        except CommandError as exc:  # e.g. the database is at a revision newer than this code
            raise StateError(
                f"state database {describe(engine.url)} has a schema this version of Closer does not "
                f"know (newest known: {head}; {str(exc).splitlines()[0]}); upgrade Closer"
            ) from None
