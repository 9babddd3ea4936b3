"""Run one sync of a CRM into the knowledge base, resumably.

Per stream (accounts before deals before contacts before notes, so children find their parent):

1. A run reads the window ``[watermark - OVERLAP, start of this run)`` of modification times (all
   of time on the first run and with ``--full``), in ascending id order. The window and the last id
   written are saved in the state database after every batch, so a killed run resumes where it
   stopped; a batch read again is unchanged and costs nothing (content hashes).
2. Each batch is mapped to Closer rows and goes through the same builder and ingest as a CSV export
   (``read_rows`` → ``ingest``): access comes from the CRM's owner and teams, children inherit their
   parent's. A record that can no longer be represented (e.g. a deal without a company) is removed.
3. Deletions: records the CRM deleted come in the pages (Salesforce) or from the source's own
   list afterwards (HubSpot's archived records, on a slower cadence: ``bot.crm_sync.kept``); a full
   run instead removes every record of that stream it did not see (never on a run that saw nothing).
4. The watermark moves to the start of the run.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tqdm import tqdm

from bot.errors import CrmError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.crm import COLUMNS, SOURCE_TYPE, read_rows
from bot.knowledge.disk_keys import DiskKeys
from bot.knowledge.ingest import IngestReport, batched, delete_records, ingest, remove
from bot.knowledge.problems import Problem
from bot.knowledge.records import SourceType
from bot.knowledge.store import PAGE, writer_lock
from bot.state.store import StateStore, SyncCursor

from .http import CallCounter
from .kept import Kept
from .source import OVERLAP, CrmSource, Mapped, Stream

BATCH = 1000  # records per write (and per association look-up)
LEASE_SECONDS = 900.0


@dataclass(kw_only=True)
class SyncReport(IngestReport):
    """An ingest report (its counts, problems, notices and seconds) and what a sync adds to it: the
    records read per stream, the streams resumed, the API calls."""

    crm: str
    read: dict[str, int] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    calls: int = 0
    retries: int = 0

    @property
    def records(self) -> int:
        return sum(self.read.values())

    def summary(self) -> str:
        streams = ", ".join(f"{n} {name}" for name, n in self.read.items())
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        line = (
            f"{self.crm}: read {self.records} ({streams}); {self.counts()}; {self.chunks} chunks embedded; "
            f"{self.calls} API calls ({self.retries} retried) in {self.seconds:.1f}s, {rate:.0f} records/s"
        )
        if self.resumed:
            line += f"; resumed {', '.join(self.resumed)}"
        if self.problems:
            line += f"; {len(self.problems)} record(s) skipped (reasons above)"
        return line


def record_id(record: dict[str, Any]) -> str:
    """A CRM record's id (HubSpot: ``id``, Salesforce: ``Id``)."""
    return str(record["id"] if "id" in record else record["Id"])


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(owner: str) -> bool:
    """True if ``owner`` was a process on this machine that is gone (a killed sync): take its lease."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SyncRun:
    def __init__(
        self,
        source: CrmSource,
        kb: KnowledgeBase,
        state: StateStore,
        counter: CallCounter,
        *,
        full: bool = False,
        progress: bool = False,
        now: datetime | None = None,
    ) -> None:
        self.source, self.kb, self.state, self.counter = source, kb, state, counter
        self.full, self.progress = full, progress
        self.now = now or datetime.now(UTC)
        self.report = SyncReport(crm=source.name)
        refresh = timedelta(minutes=kb.settings.crm_sync_refresh_minutes)
        self.kept = Kept(state, source.name, max_age=refresh, now=self.now, refresh=full)

    # --- the run -----------------------------------------------------------------------------------------

    def run(self) -> SyncReport:
        started = time.perf_counter()
        crm = self.source.name
        if not self.state.claim_sync_lease(crm, seconds=LEASE_SECONDS, owner=_owner(), take_from=_dead_here):
            raise CrmError(f"another `closer sync {crm}` is running (state database lease); try again later")
        try:
            self.source.prepare(self.kept)
            for stream in self.source.streams:
                self._stream(stream)
        finally:
            self.report.notices += self.source.notices
            self.state.release_sync_lease(crm, owner=_owner())
            self.report.calls, self.report.retries = self.counter.calls, self.counter.retries
            self.report.seconds = time.perf_counter() - started
        return self.report

    def _start(self, stream: Stream) -> SyncCursor:
        crm = self.source.name
        cur = self.state.sync_cursor(crm, stream.name)
        if cur.running and (cur.full or not self.full):
            self.report.resumed.append(f"{stream.name} after id {cur.after_id or '(start)'}")
            return cur
        full = self.full or cur.watermark is None
        start = None if full or cur.watermark is None else cur.watermark - OVERLAP
        cur = SyncCursor(cur.watermark, start, self.now, None, full)
        if full:
            self.state.clear_sync_seen(crm, stream.name)
        self.state.save_sync_cursor(crm, stream.name, cur)
        return cur

    def _stream(self, stream: Stream) -> None:
        crm = self.source.name
        cur = self._start(stream)
        until = cur.window_end
        assert until is not None
        count = 0
        batch: list[dict[str, Any]] = []
        gone: list[str] = []  # deleted, said by the pages themselves
        last: str | None = None
        with tqdm(desc=f"{crm} {stream.name}", unit="rec", disable=not self.progress, file=sys.stderr) as bar:
            for page in self.source.pages(stream, since=cur.window_start, until=until,
                                          after_id=cur.after_id):  # fmt: skip
                if page.total is not None and bar.total is None:
                    bar.total = page.total
                batch += page.records
                gone += page.gone
                last = page.last_id
                count += len(page.records)
                bar.update(len(page.records) + len(page.gone))
                if len(batch) + len(gone) >= BATCH:
                    cur = self._flush(stream, cur, batch, gone, last)
                    batch, gone = [], []
            if last is not None and (batch or gone):
                cur = self._flush(stream, cur, batch, gone, last)
        self.report.read[stream.name] = self.report.read.get(stream.name, 0) + count
        if stream.kind is not None:
            if cur.full:
                if self._prune(stream):
                    self.kept.deletions_known(stream.name, until)
            else:
                gone = self.source.deleted(stream, since=cur.window_start, until=until)
                self._remove(stream.kind, gone)
        self.state.save_sync_cursor(crm, stream.name, SyncCursor(watermark=until))
        self.state.clear_sync_seen(crm, stream.name)

    def _flush(self, stream: Stream, cur: SyncCursor, records: list[dict[str, Any]], gone: list[str],
               last_id: str) -> SyncCursor:  # fmt: skip
        if records:
            self._write(self.source.map(stream, records))
        if gone and stream.kind is not None:
            self._remove(stream.kind, gone)
        if cur.full and stream.kind is not None:
            self.state.add_sync_seen(self.source.name, stream.name, [record_id(r) for r in records])
        cur = replace(cur, after_id=last_id)
        self.state.save_sync_cursor(self.source.name, stream.name, cur)
        self.state.renew_sync_lease(self.source.name, seconds=LEASE_SECONDS, owner=_owner())
        return cur

    # --- writing -----------------------------------------------------------------------------------------

    def _write(self, mapped: Mapped) -> None:
        store, settings = self.kb.store, self.kb.settings
        with writer_lock(settings):
            export = read_rows(mapped.rows, lookup=store.parent)
            expected = {
                f"{SOURCE_TYPE[stem]}:{row[COLUMNS[stem][0]]}"
                for stem, rows in mapped.rows.items()
                for _, row in rows
            }
            if export.records:
                kinds = sorted({r.source_type for r in export.records})
                rep = ingest(export.records, kinds, store=store, embedder=self.kb.embedder, only_these=True)
                self.report.absorb(rep)
            self.report.problems += export.problems
            for kind, sid, reason in mapped.skipped:
                self.report.problems.append(Problem(f"{self.source.name} {kind} {sid}", None, reason))
            # Rows that did not become records, and skipped records, must not linger with stale access.
            produced = {r.key for r in export.records}
            failed = sorted(expected - produced)
            failed += [f"{kind}:{sid}" for kind, sid, _ in mapped.skipped]
            if failed:
                self.report.removed += remove(failed, ["account", "deal", "contact", "note"], store=store)

    def _remove(self, kind: SourceType, ids: list[str]) -> None:
        if ids:
            with writer_lock(self.kb.settings):
                self.report.removed += remove([f"{kind}:{i}" for i in ids], [kind], store=self.kb.store)

    def _prune(self, stream: Stream) -> bool:
        """Remove what a full run did not see; False if it saw nothing at all (then nothing is removed).

        The stored keys are compared with the ids the run saw (in the state database) a page at a
        time, and the unseen ones gathered on disk before any is deleted: memory stays flat."""
        assert stream.kind is not None
        crm, store = self.source.name, self.kb.store
        keys = store.source_keys([stream.kind], origin=f"{crm}:{stream.name}")
        if not self.state.has_sync_seen(crm, stream.name):
            if next(keys, None) is not None:
                self.report.notices.append(Problem(
                    f"{crm} {stream.name}", None, "none returned at all: nothing removed (check the token's "
                    "permissions; if the CRM really is empty, delete the store)"))  # fmt: skip
                return False
            return True
        with DiskKeys() as gone:
            for page in batched(keys, PAGE):
                ids = [key.split(":", 1)[1] for key in page]
                seen = self.state.sync_seen_among(crm, stream.name, ids)
                gone.update(i for i in ids if i not in seen)
            with writer_lock(self.kb.settings):
                kind = stream.kind
                removed = delete_records(([f"{kind}:{i}" for i in ids] for ids in gone.batches(PAGE)), [kind],
                                         store=store)  # fmt: skip
                if removed:
                    store.bump_generation()
        self.report.removed += removed
        return True
