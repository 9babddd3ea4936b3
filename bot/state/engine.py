"""Engines for ``STATE_URL``, and the one-line :class:`StateError` messages that never show a password.

SQLite (the default) gets WAL, so readers never wait for the writer, and a 5 s busy timeout, so
concurrent writers from several threads or processes queue instead of failing. PostgreSQL gets
pre-ping (replicas live for days; the server may drop idle connections) and a connect timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from bot.errors import StateError
from bot.observability import mask_secrets

__all__ = ["POSTGRES_INSTALL", "describe", "open_engine", "state_error"]

# The one way to get the PostgreSQL driver, run in the Closer folder (quoted for zsh too).
POSTGRES_INSTALL = "pip install -e '.[postgres]'"

BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 10  # used only when the URL does not set connect_timeout itself


def parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        # Not echoed: an unparseable URL may still hold a password.
        raise StateError("setting STATE_URL: not a database URL like sqlite:///./data/state.db") from None


def describe(url: URL) -> str:
    """``STATE_URL=<url with the password masked>``, for messages and logs."""
    return f"STATE_URL={url.render_as_string(hide_password=True)}"


def _first_line(exc: BaseException, url: URL) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(orig).strip() or type(orig).__name__
    line = text.splitlines()[0].strip()
    return mask_secrets(line, [str(url.password)] if url.password else [])  # drivers should never echo it


def state_error(url: URL, exc: BaseException, doing: str = "cannot be used") -> StateError:
    return StateError(f"state database {describe(url)} {doing} ({_first_line(exc, url)})")


def _is_sqlite_file(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: the next line may wait
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def open_engine(url: URL) -> Engine:
    """An engine for ``url``; raises :class:`StateError` if the dialect, driver or folder is missing."""
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite" and not _is_sqlite_file(url):
        # In memory (tests): one shared connection, or every checkout would see an empty database.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif backend == "sqlite":
        if not str(url.database).startswith("file:"):
            try:
                Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise state_error(url, exc, "cannot create its folder") from None
    else:
        kwargs["pool_pre_ping"] = True
        if backend == "postgresql" and "connect_timeout" not in url.query:
            kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError as exc:
        raise state_error(url, exc, "names an unknown kind of database") from None
    except ImportError as exc:
        doing = f"needs a database driver that is not installed (`{POSTGRES_INSTALL}`)"
        raise state_error(url, exc, doing) from None
    except (ArgumentError, TypeError) as exc:
        raise state_error(url, exc, "has options this database does not accept") from None
    if _is_sqlite_file(url):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
