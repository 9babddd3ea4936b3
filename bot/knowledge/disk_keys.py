"""A set of keys, each with the line it was first read on (and a text value, if set), kept in a
temporary SQLite database.

An export of millions of rows must not hold one Python object per row: the ids seen in a file (to
name both lines of a repeated id), the exported parents children inherit from, and the keys read
for ``--prune`` go here instead. SQLite keeps a
few MB of pages in memory and the rest in a temporary file of its own, deleted when the set is
closed; a look-up is a B-tree search, a few microseconds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType

CACHE_KB = 8192  # SQLite's page cache for one set; pages beyond it go to the temporary file
FETCH = 1000  # keys read at a time when the set is iterated


class DiskKeys:
    """Keys (``str``) with the line each was first added on; memory stays flat however many."""

    def __init__(self) -> None:
        # "" is SQLite's private temporary database: on disk once past the cache, removed on close.
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KB}"):
            self._db.execute(f"PRAGMA {pragma}")
        table = "CREATE TABLE keys (key TEXT PRIMARY KEY, line INTEGER NOT NULL, value TEXT) WITHOUT ROWID"
        self._db.execute(table)
        self._db.execute("BEGIN")  # never committed: nothing outlives the set, so no commit is needed

    def add(self, key: str, line: int = 0) -> bool:
        """Add ``key`` read on ``line``; False (and the first line kept) if it was there already."""
        cur = self._db.execute("INSERT OR IGNORE INTO keys (key, line) VALUES (?, ?)", (key, line))
        return cur.rowcount == 1

    def update(self, keys: Iterable[str]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO keys (key, line) VALUES (?, 0)", ((k,) for k in keys))

    def line(self, key: str) -> int | None:
        """The line ``key`` was first added on, or None if it is not in the set."""
        row = self._db.execute("SELECT line FROM keys WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def put(self, key: str, value: str) -> None:
        """Set ``key``'s value, replacing an earlier one (its line stays)."""
        upsert = "INSERT INTO keys VALUES (?, 0, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        self._db.execute(upsert, (key, value))

    def value(self, key: str) -> str | None:
        """``key``'s value, or None if it has none or is not in the set."""
        row = self._db.execute("SELECT value FROM keys WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.line(key) is not None

    def among(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` that are in the set."""
        query = "SELECT key FROM keys WHERE key IN (SELECT value FROM json_each(?))"
        return {str(row[0]) for row in self._db.execute(query, (json.dumps(list(keys)),))}

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM keys").fetchone()[0])

    def batches(self, size: int = FETCH) -> Iterator[list[str]]:
        """Every key, in sorted order, ``size`` at a time (keyset pagination: safe to add meanwhile)."""
        rows = self._db.execute("SELECT key FROM keys ORDER BY key LIMIT ?", (size,))
        while batch := [str(row[0]) for row in rows]:
            yield batch
            after = "SELECT key FROM keys WHERE key > ? ORDER BY key LIMIT ?"
            rows = self._db.execute(after, (batch[-1], size))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DiskKeys:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
