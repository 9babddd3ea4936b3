"""``closer migrate-store --from-path DIR``: copy an embedded store into the configured one.

The upgrade path from one process (embedded Chroma in ``CHROMA_PATH``) to several (a Chroma server,
``CHROMA_URL``): every chunk — id, text, metadata and vector — is copied as stored, so nothing is
embedded again. Pages are upserted, so a run that is stopped half-way is completed by the next one
and a second run changes nothing. Both stores must have been built with the same embedder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import InputError, StoreError
from bot.knowledge.store import COLLECTION, PAGE, ChunkStore, describe, open_client, writer_lock

__all__ = ["MigrationReport", "migrate_store"]


@dataclass(frozen=True)
class MigrationReport:
    source: str
    target: str
    embedder: str
    copied: int
    added: int
    target_count: int

    def summary(self) -> str:
        updated = self.copied - self.added
        return (
            f"copied {self.copied:,} chunks from the {self.source} to the {self.target} "
            f"({self.added:,} new, {updated:,} already there and overwritten); "
            f"the {self.target} now holds {self.target_count:,} chunks built with {self.embedder}"
        )


def _source_collection(settings: Settings) -> Any:
    from chromadb.errors import NotFoundError

    try:
        return open_client(settings).get_collection(COLLECTION, embedding_function=None)
    except NotFoundError:
        raise InputError(
            f"{settings.chroma_path} holds no Closer store (no {COLLECTION} collection)"
        ) from None


def _configured_embedder_id(settings: Settings) -> str:
    from bot.knowledge.base import make_embedder

    return make_embedder(settings).model_id


def migrate_store(settings: Settings, source: Path, *, progress: bool = False) -> MigrationReport:
    """Copy every chunk of the embedded store in ``source`` into the store ``settings`` name.

    Refuses (:class:`StoreError`) when the source was built with another embedder than the target
    or than the one configured; holds the single-writer lock of every embedded store it touches.
    """
    if not source.is_dir():
        raise InputError(f"--from-path {source} is not a folder")
    if not settings.chroma_url and source.resolve() == settings.chroma_path.resolve():
        raise InputError(f"--from-path {source} is the configured store itself; set CHROMA_URL to a server")
    if not (source / "chroma.sqlite3").is_file():  # checked first: opening would create a store there
        raise InputError(f"{source} holds no Closer store (no chroma.sqlite3 in it)")
    src_settings = settings.model_copy(update={"chroma_url": None, "chroma_path": source})
    with writer_lock(src_settings), writer_lock(settings):
        src = _source_collection(src_settings)
        meta = src.metadata or {}
        embedder_id, dimension = str(meta.get("embedder", "")), int(meta.get("dimension", 0))
        configured = _configured_embedder_id(settings)
        if embedder_id != configured:
            raise StoreError(
                f"the store in {source} was built with embedder {embedder_id or 'unknown'}, but {configured} "
                "is configured; set the EMBEDDING_PROVIDER it was built with, or re-ingest instead"
            )
        # Creates the target collection as an ingest would, or refuses one built with another embedder.
        target = ChunkStore.open(settings, embedder_id=embedder_id, dimension=dimension)
        dest = open_client(settings).get_collection(COLLECTION, embedding_function=None)
        copied, added = _copy(src, dest, progress=progress)
        target.bump_generation(unlogged=True)  # running replicas reload their whole index
        return MigrationReport(
            source=describe(src_settings),
            target=describe(settings),
            embedder=embedder_id,
            copied=copied,
            added=added,
            target_count=target.count(),
        )


def _copy(src: Any, dest: Any, *, progress: bool) -> tuple[int, int]:
    from tqdm import tqdm

    copied = added = 0
    include = ["documents", "metadatas", "embeddings"]
    with tqdm(total=int(src.count()), unit="chunk", desc="migrate", disable=not progress) as bar:
        while True:
            page = src.get(include=include, limit=PAGE, offset=copied)
            ids = list(page["ids"])
            if not ids:
                break
            present = set(dest.get(ids=ids, include=[])["ids"])
            dest.upsert(
                ids=ids,
                embeddings=page["embeddings"],
                documents=page["documents"],
                metadatas=page["metadatas"],
            )
            copied += len(ids)
            added += len(ids) - len(present)
            bar.update(len(ids))
    return copied, added
