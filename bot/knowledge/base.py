"""The knowledge base as the use cases see it: ingest and search, built once from Settings."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time
from pathlib import Path

from bot.config import Settings
from bot.errors import InputError
from bot.identity.viewer import Viewer
from bot.knowledge.crm import read_crm
from bot.knowledge.docs import read_docs
from bot.knowledge.embedder import Embedder, LocalEmbedder, OpenAIEmbedder
from bot.knowledge.index import SearchIndex
from bot.knowledge.ingest import IngestReport, ingest
from bot.knowledge.records import SourceType
from bot.knowledge.search import Hit, HybridSearcher, SearchTuning
from bot.knowledge.store import ChunkStore, writer_lock

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
CRM_KINDS: tuple[SourceType, ...] = ("account", "deal", "contact", "note")


def release_free_memory() -> None:
    """Hand memory freed by a (re)load back to the OS; loading 100k chunks leaves ~100 MB behind."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedding_provider == "openai":
        return OpenAIEmbedder(
            base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.embedding_model
        )
    return LocalEmbedder(settings.embedding_model_dir, threads=settings.embedding_threads)


def tuning_of(settings: Settings) -> SearchTuning:
    return SearchTuning(
        dense_weight=settings.search_dense_weight,
        candidates=settings.search_candidates,
        identifier_boost=settings.search_identifier_boost,
    )


class KnowledgeBase:
    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self._lock = threading.Lock()
        self._index: SearchIndex | None = None
        self._generation: str | None = None
        self._checked = 0.0
        self.searcher = HybridSearcher(self.index, embedder, tuning=tuning_of(settings))

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
        emb = embedder or make_embedder(settings)
        store = ChunkStore.open(settings, embedder_id=emb.model_id, dimension=emb.dimension)
        return cls(settings, emb, store)

    # --- search -------------------------------------------------------------------------------------------

    def index(self) -> SearchIndex:
        """The current index; reloaded when another ingest has changed the store."""
        with self._lock:
            now = time.monotonic()
            if self._index is None or now - self._checked >= self.settings.index_refresh_seconds:
                self._checked = now
                generation = self.store.generation()
                if self._index is None or generation != self._generation:
                    metas, texts, vectors = self.store.load()
                    s = self.settings
                    self._index = None  # let the old index go before the new one is built
                    self._index = SearchIndex(metas, texts, vectors, k1=s.search_bm25_k1, b=s.search_bm25_b)
                    del metas, texts, vectors
                    release_free_memory()
                    self._generation = generation
            return self._index

    def viewer(self, email: str) -> Viewer:
        return Viewer.of(email, admins=self.settings.admins)

    def search(self, query: str, *, viewer: Viewer, k: int = 10) -> list[Hit]:
        return self.searcher.search(query, viewer=viewer, k=k)

    # --- ingest -------------------------------------------------------------------------------------------

    def ingest_crm(self, folder: Path, *, prune: bool = False, progress: bool = False) -> IngestReport:
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder")
        with writer_lock(self.settings):
            export = read_crm(folder, lookup=self.store.parent)
            if not export.kinds:
                raise InputError(f"{folder} has none of accounts, deals, contacts, notes (.csv or .jsonl)")
            return ingest(
                export.records, sorted(export.kinds), store=self.store, embedder=self.embedder,
                problems=export.problems, prune=prune, progress=progress,
            )  # fmt: skip

    def ingest_docs(self, folder: Path, *, prune: bool = False, progress: bool = False) -> IngestReport:
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder")
        with writer_lock(self.settings):
            records, problems = read_docs(folder)
            return ingest(
                records, ["doc"], store=self.store, embedder=self.embedder,
                problems=problems, prune=prune, progress=progress,
            )  # fmt: skip

    def ingest_sample(self, *, progress: bool = False) -> tuple[IngestReport, IngestReport]:
        crm = self.ingest_crm(SAMPLE_DIR / "crm", prune=True, progress=progress)
        docs = self.ingest_docs(SAMPLE_DIR / "docs", prune=True, progress=progress)
        return crm, docs
