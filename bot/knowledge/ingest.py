"""Write records into the store incrementally: unchanged records (same content hash) cost nothing.

Changed records are replaced whole; ``prune`` removes records of the ingested source types that are
gone from a full export. Chunk ids are deterministic and a record counts as stored only when all of
its chunks carry its hash, so a run killed half-way is completed, not duplicated, by the next run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from bot.errors import InputError
from bot.knowledge.disk_keys import DiskKeys
from bot.knowledge.embedder import Embedder
from bot.knowledge.problems import Findings, Problem
from bot.knowledge.records import Record, SourceType
from bot.knowledge.store import PAGE, ChunkStore, SourceState, access_meta

# Chunks gathered before one embed call: the local embedder sorts a call's texts by token length and
# batches neighbours, so a wider window pads less (docs/benchmarks.md, "Embedder throughput").
EMBED_WINDOW = 512
# The progress bar says the time left in words ("ETA 01:02:03"), with the rate it comes from.
BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed} elapsed, ETA {remaining}, {rate_fmt}]"
STATE_BATCH = 500  # records whose stored state is read in one look-up
LARGE_CHUNKS = 500  # a record this big is embedded after the others, with a notice


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    prune_skipped: bool = False
    notices: list[Problem] = field(default_factory=list)  # worth saying, not errors (a detected encoding)

    def counts(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, {self.removed} removed"
        )

    def absorb(self, other: IngestReport) -> None:
        """Add ``other``'s counts, problems and notices to this report (one run made of several ingests)."""
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.chunks += other.chunks
        self.problems += other.problems
        self.notices += other.notices

    def summary(self) -> str:
        line = f"{self.counts()}; {self.chunks} chunks embedded in {self.seconds:.1f}s"
        if self.problems:
            line += f"; {len(self.problems)} problem(s) — those rows/files were skipped"
        if self.prune_skipped:
            line += "; --prune not applied because of the problems (nothing removed)"
        return line


def refuse_empty_prune(kinds: Sequence[SourceType], read: Counter[str], stored: Counter[str]) -> None:
    """``--prune`` with nothing read of a kind would remove every stored record of it: a 0-byte or
    header-only file or an empty folder is far likelier a mistake than a wish. Say so instead."""
    for kind in kinds:
        if read[kind] == 0 and stored[kind]:
            raise InputError(
                f"--prune refused: no {kind} records were read, so all {stored[kind]} stored ones would be "
                "removed; nothing was changed (check the input, or add --allow-empty to remove them)"
            )


def ingest(
    records: Iterable[Record],
    kinds: Sequence[SourceType],
    *,
    store: ChunkStore,
    embedder: Embedder,
    findings: Findings | None = None,
    prune: bool = False,
    allow_empty: bool = False,
    progress: bool = False,
    fraction: Callable[[], float] | None = None,
    only_these: bool = False,
) -> IngestReport:
    """Write ``records`` (a list, or a generator that reads as it goes) into ``store``.

    Memory stays flat whatever the size of the input or of the store: records are taken
    ``STATE_BATCH`` (or ``EMBED_WINDOW`` chunks) at a time, their stored state is read for those keys
    only, and the changed ones are embedded ``EMBED_WINDOW`` chunks at a time and written, so the
    first ones are searchable while later ones are still read. A record of more than
    ``LARGE_CHUNKS`` chunks waits until the others are done, with a notice. ``findings`` may still
    grow while ``records`` is consumed (a streamed reading). ``fraction()``: the share of the input
    read so far (a stream's bytes; for a list, the share of records seen), from which the progress
    bar estimates its total and the time
    left. ``only_these``: the caller passes a batch of a larger whole, so nothing may be pruned.
    """
    if prune and only_these:
        raise ValueError("prune needs the state of every record of the kinds, not only_these")
    started = time.perf_counter()
    findings = findings or Findings()
    report = IngestReport()
    if prune and not allow_empty and isinstance(records, Sequence):
        read_kinds = Counter(r.source_type for r in records)
        refuse_empty_prune(kinds, read_kinds, _stored(store, [k for k in kinds if not read_kinds[k]]))
    read: Counter[str] = Counter()
    present = DiskKeys()  # the keys read, filled for prune: on disk, so memory stays flat
    pending: list[Record] = []  # read, stored state not looked up yet
    batch: list[tuple[Record, SourceState | None]] = []  # to embed and write
    large: list[tuple[Record, SourceState | None]] = []
    seen, queued, inherited, pending_chunks = (
        0,
        0,
        0,
        0,
    )  # inherited: stored chunks whose access followed a parent's
    if fraction is None and isinstance(records, Sequence):
        total = len(records)
        fraction = lambda: seen / total if total else 1.0  # noqa: E731

    def flush() -> None:
        texts = [c.text for r, _ in batch for c in r.chunks]
        vectors = embedder.embed(texts) if texts else np.zeros((0, embedder.dimension), np.float32)
        store.write([r for r, _ in batch], vectors, {r.key: s for r, s in batch if s is not None})
        report.chunks += len(texts)
        bar.update(len(texts))
        batch.clear()

    def look_up() -> None:
        nonlocal queued, inherited
        states = store.sources(kinds, keys=[r.key for r in pending])
        regranted: list[Record] = []  # same text, new access: a metadata rewrite, nothing to embed
        for record in pending:
            state = states.get(record.key)
            if state is not None and state.complete and state.content_hash == record.content_hash:
                if state.access == access_meta(record.access):
                    report.unchanged += 1
                else:
                    regranted.append(record)
                    report.updated += 1
                continue
            if state is None:
                report.added += 1
            else:
                report.updated += 1
            queued += len(record.chunks)
            if len(record.chunks) > LARGE_CHUNKS:
                findings.notice(Problem(record.key, None, f"{len(record.chunks):,} chunks to embed; "
                                        "it is done after the others, and takes a while"))  # fmt: skip
                large.append((record, state))
                continue
            batch.append((record, state))
            if sum(len(r.chunks) for r, _ in batch) >= EMBED_WINDOW:
                flush()
        store.set_access(regranted, states)
        # Children stored by earlier ingests follow their parent's access, changed or not (this also
        # repairs a store written before access was propagated).
        inherited += store.inherit_access([r for r in pending if r.source_type in ("account", "deal")])
        pending.clear()

    with present:
        with tqdm(total=0, unit="chunk", desc="embedding", disable=not progress, bar_format=BAR) as bar:
            for record in records:
                seen += 1
                read[record.source_type] += 1
                if prune:
                    present.add(record.key)
                pending.append(record)
                pending_chunks += len(record.chunks)
                # A window's worth of chunks, or a large record (its notice is said as it is read).
                if (
                    len(pending) >= STATE_BATCH
                    or pending_chunks >= EMBED_WINDOW
                    or len(record.chunks) > LARGE_CHUNKS
                ):
                    look_up()
                    pending_chunks = 0
                done = fraction() if fraction else 0.0
                if done > 0:
                    bar.total = max(bar.n, round((queued + pending_chunks) / done))
            if pending:
                look_up()
            if batch:
                flush()
            bar.total = queued
            for one in large:
                batch.append(one)
                flush()
        report.problems, report.notices = findings.problems, findings.notices
        if prune:
            if report.problems:
                # A skipped row is not a deleted record: never prune on a partial reading.
                report.prune_skipped = True
            else:
                report.removed = _prune(store, kinds, present, read, allow_empty=allow_empty)
    if report.added or report.updated or inherited or report.removed:
        store.bump_generation()
    report.seconds = time.perf_counter() - started
    return report


def _prune(store: ChunkStore, kinds: Sequence[SourceType], present: DiskKeys, read: Counter[str], *,
           allow_empty: bool) -> int:  # fmt: skip
    """Delete the stored records of ``kinds`` whose keys are not in ``present``; returns how many.

    The stored keys are compared with ``present`` a page at a time and the gone ones gathered on
    disk, then deleted a page at a time: memory stays flat however large the store or the export."""
    with DiskKeys() as gone:
        counts: Counter[str] = Counter()
        for keys in batched(store.source_keys(kinds), PAGE):
            here = present.among(keys)
            for key in keys:
                if key not in here and gone.add(key):  # a key may come more than once
                    counts[key.split(":", 1)[0]] += 1
        if not allow_empty:
            refuse_empty_prune(kinds, read, counts)
        return delete_records(gone.batches(PAGE), kinds, store=store)


def _stored(store: ChunkStore, kinds: Sequence[SourceType]) -> Counter[str]:
    """How many records of each of ``kinds`` the store holds (read page by page)."""
    counts: Counter[str] = Counter()
    if not kinds:
        return counts
    with DiskKeys() as keys:
        for key in store.source_keys(kinds):
            if keys.add(key):
                counts[key.split(":", 1)[0]] += 1
    return counts


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def delete_records(
    batches: Iterable[Sequence[str]], kinds: Sequence[SourceType], *, store: ChunkStore
) -> int:
    """Delete the stored records whose ``type:id`` keys come in ``batches`` (each read and deleted in
    turn, so any number may be deleted in flat memory); returns how many. The caller publishes."""
    removed = 0
    for keys in batches:
        gone = list(store.sources(kinds, keys=keys).values())
        store.delete(gone)
        removed += len(gone)
    return removed


def remove(keys: Sequence[str], kinds: Sequence[SourceType], *, store: ChunkStore) -> int:
    """Delete the stored records with these ``type:id`` keys (e.g. deleted in the CRM); returns how many."""
    removed = delete_records([keys], kinds, store=store)
    if removed:
        store.bump_generation()
    return removed
