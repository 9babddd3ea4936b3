"""Keeping a process's search index current: snapshot at start, change log while running.

- At start: the snapshot in CACHE_DIR (bot/knowledge/snapshot.py) if there is one, caught up with
  the store's change log; otherwise a full build from the store, written as the snapshot as it goes.
- When the store's generation changes: the chunk ids changed since the index's generation come from
  the change log (bot/knowledge/store.py), those chunks are read from the store, and the index gets
  them as a small second segment, their old rows dead (``SearchIndex.with_changes``). Searches wait
  only for that (a 1% change of a large store is a few seconds).
- When the log cannot tell (another writer, a bulk copy, a pruned log) or the changes since the
  last full build pass ``DELTA_MAX_SHARE`` of the index: a full rebuild. A small index is rebuilt in
  the request (as before, ingest-then-search sees its own writes); a large one in a background thread
  while searches keep the old index — never an error, at the price of a second index in memory.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import Settings
from bot.errors import StoreError
from bot.knowledge import snapshot
from bot.knowledge.index import SearchIndex
from bot.knowledge.store import ChunkStore

DELTA_MAX_SHARE = 0.2  # rows changed since the last full build, as a share of the index, before a rebuild
DELTA_MIN_ROWS = 1000  # ... but a small index may always catch up this many
SYNC_REBUILD_ROWS = 50_000  # an index this small is rebuilt in the request, a larger one in the background
log = logging.getLogger(__name__)


class IndexKeeper:
    def __init__(
        self, store: ChunkStore, settings: Settings, *, on_rebuilt: Callable[[], None] | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._index: SearchIndex | None = None
        self._generation: str | None = None
        self._checked = 0.0
        self._rebuild: threading.Thread | None = None
        self._root = snapshot.snapshot_root(settings)
        self._on_rebuilt = on_rebuilt
        self.last = ""  # how the index was last brought up to date: snapshot, delta, full, background

    def current(self) -> SearchIndex:
        """The current index, refreshed at most every INDEX_REFRESH_SECONDS.

        Raises StoreError when the store cannot be read and there is no index yet, or on a check.
        """
        with self._lock:
            now = time.monotonic()
            due = now - self._checked >= self.settings.index_refresh_seconds
            if self._index is None or (due and self._rebuild is None):
                self._checked = now
                try:
                    self._refresh()
                except StoreError:
                    self._checked = 0.0  # look again on the next request, not a refresh period later
                    raise
            assert self._index is not None
            return self._index

    def wait(self) -> None:
        """Block until a background rebuild (if any) has finished."""
        thread = self._rebuild
        if thread is not None:
            thread.join()

    def _refresh(self) -> None:
        generation = self.store.generation()
        if self._index is not None and generation == self._generation:
            return
        if self._generation is not None:
            self.store.reopen()  # a new generation, maybe written by another process
        if self._index is None:
            s = self.settings
            loaded = snapshot.load(self._root, k1=s.search_bm25_k1, b=s.search_bm25_b)
            if loaded is not None and self._catch_up(*loaded, generation):
                self.last = "snapshot" if loaded[1] == generation else "snapshot+delta"
                return
            self._index = self._build(generation)
            self._generation, self.last = generation, "full"
            return
        assert self._generation is not None
        if self._catch_up(self._index, self._generation, generation):
            self.last = "delta"
            return
        if len(self._index) < SYNC_REBUILD_ROWS:
            self._index = None  # let the old index go before the new one is built
            self._index = self._build(generation)
            self._generation, self.last = generation, "full"
            return
        self._rebuild = threading.Thread(target=self._background, args=(generation,), daemon=True,
                                         name="index-rebuild")  # fmt: skip
        self._rebuild.start()

    def _catch_up(self, index: SearchIndex, since: str, generation: str) -> bool:
        """Bring ``index`` (of generation ``since``) to ``generation`` from the change log."""
        if since == generation:
            self._index, self._generation = index, generation
            return True
        limit = max(DELTA_MIN_ROWS, int(DELTA_MAX_SHARE * len(index))) - index.changed_rows()
        changed = self.store.changes_since(since, generation, limit=limit) if limit > 0 else None
        if changed is None:
            return False
        pages = list(self.store.pages(sorted(changed)))
        present = {m.chunk_id for metas, _, _ in pages for m in metas}
        self._index = index.with_changes(pages, changed - present) if changed else index
        self._generation = generation
        return True

    def _build(self, generation: str) -> SearchIndex:
        """A full build from the store, written as the snapshot as it goes and served memory-mapped.
        When CACHE_DIR cannot be written, the build goes to a private temporary folder instead,
        deleted once mapped (the mapping keeps its files readable), so memory stays as low; when no
        folder can be written at all, the index is built in memory."""
        s = self.settings
        k1, b = s.search_bm25_k1, s.search_bm25_b
        try:
            index = snapshot.build(self.store.pages(), self._root, generation, k1=k1, b=b)
        except OSError as exc:
            log.warning(
                "index snapshot not written to %s (%s); building in a temporary folder", self._root, exc
            )
            try:
                with tempfile.TemporaryDirectory(prefix="closer-index-") as tmp:
                    index = snapshot.build(self.store.pages(), Path(tmp), generation, k1=k1, b=b)
            except OSError as exc:
                log.warning("no temporary folder for the index (%s); building it in memory", exc)
                index = SearchIndex.from_pages(self.store.pages(), k1=k1, b=b)
        if self._on_rebuilt is not None:
            self._on_rebuilt()
        return index

    def _background(self, generation: str) -> None:
        try:
            index = self._build(generation)
        except StoreError as exc:
            log.warning("index rebuild failed, the previous index stays in use: %s", exc)
            with self._lock:
                self._rebuild, self._checked = None, 0.0
            return
        with self._lock:
            self._index, self._generation, self.last = index, generation, "background"
            self._rebuild = None
