"""Write records into the store incrementally: unchanged records (same content hash) cost nothing.

Changed records are replaced whole; ``prune`` removes records of the ingested source types that are
gone from a full export. Chunk ids are deterministic and a record counts as stored only when all of
its chunks carry its hash, so a run killed half-way is completed, not duplicated, by the next run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from bot.knowledge.embedder import Embedder
from bot.knowledge.problems import Problem
from bot.knowledge.records import Record, SourceType
from bot.knowledge.store import ChunkStore, access_meta

BATCH_CHUNKS = 64


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

    def summary(self) -> str:
        parts = [
            f"{self.added} added",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
            f"{self.removed} removed",
        ]
        line = f"{', '.join(parts)}; {self.chunks} chunks embedded in {self.seconds:.1f}s"
        if self.problems:
            line += f"; {len(self.problems)} problem(s) — those rows/files were skipped"
        if self.prune_skipped:
            line += "; --prune not applied because of the problems (nothing removed)"
        return line


def _batches(records: Sequence[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    count = 0
    for record in records:
        batch.append(record)
        count += len(record.chunks)
        if count >= size:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


def ingest(
    records: Sequence[Record],
    kinds: Sequence[SourceType],
    *,
    store: ChunkStore,
    embedder: Embedder,
    problems: Sequence[Problem] = (),
    prune: bool = False,
    progress: bool = False,
    only_these: bool = False,
) -> IngestReport:
    """``only_these``: read back only the stored state of ``records`` (a batch of a larger sync),
    not of every record of ``kinds``; cannot be combined with ``prune``."""
    if prune and only_these:
        raise ValueError("prune needs the state of every record of the kinds, not only_these")
    started = time.perf_counter()
    report = IngestReport(problems=list(problems))
    previous = store.sources(kinds, keys=[r.key for r in records] if only_these else None)
    todo: list[Record] = []
    regranted: list[Record] = []  # same text, new access: a metadata rewrite, nothing to embed
    for record in records:
        state = previous.get(record.key)
        if state is not None and state.complete and state.content_hash == record.content_hash:
            if state.access == access_meta(record.access):
                report.unchanged += 1
            else:
                regranted.append(record)
                report.updated += 1
            continue
        todo.append(record)
        if state is None:
            report.added += 1
        else:
            report.updated += 1
    store.set_access(regranted, previous)
    total = sum(len(r.chunks) for r in todo)
    with tqdm(total=total, unit="chunk", desc="embedding", disable=not progress or total == 0) as bar:
        for batch in _batches(todo, BATCH_CHUNKS):
            texts = [c.text for r in batch for c in r.chunks]
            vectors = embedder.embed(texts) if texts else np.zeros((0, embedder.dimension), np.float32)
            store.write(batch, vectors, previous)
            report.chunks += len(texts)
            bar.update(len(texts))
    # Children stored by earlier ingests follow their parent's access, changed or not (this also
    # repairs a store written before access was propagated).
    inherited = store.inherit_access([r for r in records if r.source_type in ("account", "deal")])
    if prune:
        if report.problems:
            # A skipped row is not a deleted record: never prune on a partial reading.
            report.prune_skipped = True
        else:
            present = {r.key for r in records}
            gone = [state for key, state in previous.items() if key not in present]
            store.delete(gone)
            report.removed = len(gone)
    if todo or regranted or inherited or report.removed:
        store.bump_generation()
    report.seconds = time.perf_counter() - started
    return report


def remove(keys: Sequence[str], kinds: Sequence[SourceType], *, store: ChunkStore) -> int:
    """Delete the stored records with these ``type:id`` keys (e.g. deleted in the CRM); returns how many."""
    gone = list(store.sources(kinds, keys=keys).values())
    if gone:
        store.delete(gone)
        store.bump_generation()
    return len(gone)
