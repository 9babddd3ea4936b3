"""The knowledge base as the use cases see it: ingest and search, built once from Settings."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from bot.config import Settings
from bot.errors import InputError, PrivacyError
from bot.identity.viewer import Viewer
from bot.knowledge.crm import read_crm, stream_crm
from bot.knowledge.crm_mapping import CrmMapping, ReadOptions
from bot.knowledge.docs import DocLimits, doc_files, iter_docs, read_docs
from bot.knowledge.embedder import Embedder, LocalEmbedder, OpenAIEmbedder
from bot.knowledge.index import SearchIndex
from bot.knowledge.ingest import IngestReport, ingest
from bot.knowledge.problems import Findings
from bot.knowledge.records import Record, SourceType
from bot.knowledge.refresh import IndexKeeper
from bot.knowledge.search import Hit, HybridSearcher, SearchTuning
from bot.knowledge.store import ChunkStore, describe, writer_lock

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
CRM_KINDS: tuple[SourceType, ...] = ("account", "deal", "contact", "note")
ORIGIN, SAMPLE_ORIGIN = "origin", "closer-sample"  # a field on every record the sample loads


def _from_sample(record: Record) -> Record:
    return dataclasses.replace(record, fields={**record.fields, ORIGIN: SAMPLE_ORIGIN})


def _unmarked(record: Record) -> Record:
    return dataclasses.replace(record, fields={k: v for k, v in record.fields.items() if k != ORIGIN})


def _hit(index: SearchIndex, row: int) -> Hit:
    m = index.meta(row)
    return Hit(m.source_id, m.source_type, m.title, 1.0, index.text(row), m.deal_id, m.account_id, m.chunk_id)


def release_free_memory() -> None:
    """Hand memory freed by a (re)load back to the OS; loading 100k chunks leaves ~100 MB behind."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def make_embedder(settings: Settings) -> Embedder:
    """The knowledge base's embedder. Remote embeddings go to the endpoint of the route every request
    takes when privacy is enforced or private by default; otherwise to the standard endpoint."""
    if settings.embedding_provider == "openai":
        if (
            settings.privacy_enforced or settings.privacy_default == "private"
        ) and settings.private_llm_base_url:
            base, key = settings.private_llm_base_url, settings.private_llm_api_key
        elif settings.privacy_enforced or settings.privacy_default == "private":
            raise PrivacyError(
                "remote embeddings with private mode need PRIVATE_LLM_BASE_URL; nothing was sent"
            )
        else:
            base, key = settings.llm_base_url, settings.llm_api_key
        return OpenAIEmbedder(base_url=base, api_key=key, model=settings.embedding_model)
    return LocalEmbedder(
        settings.embedding_model_dir, threads=settings.embedding_threads,
        precision=settings.embedding_precision, cache_dir=settings.cache_dir,
    )  # fmt: skip


def doc_limits(settings: Settings) -> DocLimits:
    return DocLimits(
        max_bytes=settings.doc_max_bytes, max_chars=settings.doc_max_chars,
        pdf_max_pages=settings.pdf_max_pages, pdf_max_page_bytes=settings.pdf_max_page_bytes,
    )  # fmt: skip


def tuning_of(settings: Settings) -> SearchTuning:
    return SearchTuning(
        dense_weight=settings.search_dense_weight,
        candidates=settings.search_candidates,
        identifier_boost=settings.search_identifier_boost,
        feedback_weight=settings.search_feedback_weight,
    )


class KnowledgeBase:
    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.keeper = IndexKeeper(store, settings, on_rebuilt=release_free_memory)
        self.searcher = HybridSearcher(self.index, embedder, tuning=tuning_of(settings))

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
        emb = embedder or make_embedder(settings)
        # The dimension is asked only to create a new store: a remote embedder is not called to open one.
        store = ChunkStore.open(settings, embedder_id=emb.model_id, dimension=lambda: emb.dimension)
        return cls(settings, emb, store)

    # --- search -------------------------------------------------------------------------------------------

    def index(self) -> SearchIndex:
        """The current index; caught up when another ingest has changed the store (refresh.py).

        Raises StoreError when the store cannot be read (``/healthz`` then says so).
        """
        return self.keeper.current()

    def viewer(self, email: str) -> Viewer:
        return Viewer.of(email, admins=self.settings.admins)

    def is_empty(self) -> bool:
        return len(self.index()) == 0

    def people(self) -> frozenset[str]:
        """Everyone a loaded record names as owner or team, and the admins (lower-case emails)."""
        return self.index().readers() | self.settings.admins

    def search(
        self,
        query: str,
        *,
        viewer: Viewer,
        k: int = 10,
        embedder: Embedder | None = None,
        rewrites: Sequence[str] = (),
    ) -> list[Hit]:
        return self.searcher.search(query, viewer=viewer, k=k, embedder=embedder, rewrites=rewrites)

    def deal_context(self, deal: str, *, viewer: Viewer, notes: int = 6, contacts: int = 3) -> list[Hit]:
        """A deal the viewer may see (by id, or by a unique part of its name), then its latest notes
        and its account's contacts. Not found and not allowed look the same, on purpose."""
        index = self.index()
        mask = index.visible(viewer)
        rows = [r for r in index.rows_of_source(f"deal:{deal}").tolist() if mask[r]]
        if not rows:
            wanted = deal.strip().lower()
            deals = {r: index.meta(r) for r in np.flatnonzero(mask & index.where("type", "deal")).tolist()}
            matches = {m.source_id: r for r, m in deals.items() if wanted in m.title.lower()}
            if len(matches) > 1:
                names = ", ".join(f"{deals[r].title} ({sid})" for sid, r in sorted(matches.items())[:5])
                raise InputError(f"{deal!r} matches several deals: {names}; use the deal id")
            rows = list(matches.values())
        if not rows:
            raise InputError(f"no deal {deal!r} that you can see")
        head = index.meta(rows[0])
        picked = [rows[0]]
        on_deal = mask & index.where("type", "note") & index.where("deal", head.deal_id)
        note_metas = {r: index.meta(r) for r in np.flatnonzero(on_deal).tolist()}
        note_rows = sorted(note_metas, key=lambda r: note_metas[r].updated_at, reverse=True)
        seen_notes: set[str] = set()
        for r in note_rows:
            if note_metas[r].source_id not in seen_notes and len(seen_notes) < notes:
                seen_notes.add(note_metas[r].source_id)
                picked.append(r)
        contact = mask & index.where("type", "contact")
        contact_rows = [r for r in index.rows_of_account(head.account_id).tolist() if contact[r]][:contacts]
        picked += contact_rows
        return [_hit(index, r) for r in picked]

    # --- ingest -------------------------------------------------------------------------------------------

    def ingest_crm(
        self, folder: Path, *, prune: bool = False, allow_empty: bool = False, progress: bool = False,
        options: ReadOptions | None = None, mapping: CrmMapping | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> IngestReport:  # fmt: skip
        """Closer's own export, or with ``mapping`` a CRM's native CSV exports (``--format``/``--map``).

        The export is read as it is written (constant memory whatever its size); problems and notices
        go to ``echo`` as they are found."""
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder")
        with writer_lock(self.settings):
            findings = Findings(echo)
            export = stream_crm(folder, findings, lookup=self.store.parent, options=options, mapping=mapping)
            if not export.kinds:
                if findings.problems:
                    raise InputError(f"nothing could be read in {folder}: {findings.problems[0]}")
                if mapping is not None:
                    kinds = "companies/accounts, deals/opportunities, contacts or notes"
                    raise InputError(f"{folder} has no {mapping.name} export (CSV files of {kinds})")
                raise InputError(
                    f"{folder} has none of accounts, deals, contacts, notes (.csv or .jsonl); for a CRM's "
                    "own export add --format hubspot, --format salesforce or --map FILE"
                )
            return ingest(
                export.records(), sorted(export.kinds), store=self.store, embedder=self.embedder,
                findings=findings, prune=prune, allow_empty=allow_empty, progress=progress,
                fraction=export.fraction,
            )  # fmt: skip

    def ingest_docs(
        self, folder: Path, *, prune: bool = False, allow_empty: bool = False, progress: bool = False,
        echo: Callable[[str], None] | None = None,
    ) -> IngestReport:  # fmt: skip
        """Docs are read, embedded and written one by one; problems go to ``echo`` as they are found."""
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder")
        with writer_lock(self.settings):
            findings = Findings(echo)
            files = doc_files(folder, findings.problem)
            started = 0

            def counted() -> Iterator[Path]:
                nonlocal started
                for path in files:
                    started += 1
                    yield path

            records = iter_docs(folder, counted(), findings.problem, limits=doc_limits(self.settings))
            return ingest(
                records, ["doc"], store=self.store, embedder=self.embedder, findings=findings,
                prune=prune, allow_empty=allow_empty, progress=progress,
                fraction=lambda: started / len(files) if files else 1.0,
            )  # fmt: skip

    def ingest_sample(
        self, *, progress: bool = False, echo: Callable[[str], None] | None = None
    ) -> tuple[IngestReport, IngestReport]:
        """Add the sample company next to whatever is loaded. Nothing else is removed, and nothing of
        yours is replaced: if a stored record that did not come from the sample has one of the
        sample's ids, nothing is loaded and the error names it."""
        with writer_lock(self.settings):
            export = read_crm(SAMPLE_DIR / "crm", lookup=self.store.parent)
            doc_records, doc_problems = read_docs(SAMPLE_DIR / "docs")
            crm_records = [_from_sample(r) for r in export.records]
            docs = [_from_sample(r) for r in doc_records]
            self._refuse_clashes([*crm_records, *docs], [*CRM_KINDS, "doc"])
            crm_findings, doc_findings = Findings(echo), Findings(echo)
            for problem in export.problems:
                crm_findings.problem(problem)
            for problem in doc_problems:
                doc_findings.problem(problem)
            crm = ingest(crm_records, sorted(export.kinds), store=self.store, embedder=self.embedder,
                         findings=crm_findings, progress=progress)  # fmt: skip
            return crm, ingest(docs, ["doc"], store=self.store, embedder=self.embedder,
                               findings=doc_findings, progress=progress)  # fmt: skip

    def _refuse_clashes(self, sample: list[Record], kinds: list[SourceType]) -> None:
        ours = {r.key: r for r in sample}
        for key, state in self.store.sources(kinds, keys=list(ours)).items():
            mine = ours.get(key)
            if mine is None or state.content_hash in (mine.content_hash, _unmarked(mine).content_hash):
                continue  # not the sample's id, or the sample itself (also as loaded before it was marked)
            meta = self.store.first_meta(key) or {}
            if meta.get(f"f_{ORIGIN}") != SAMPLE_ORIGIN:
                raise InputError(
                    f"the store already holds a record {key} that is not the sample's; the sample was not "
                    f"loaded, so nothing of yours is replaced (use another CHROMA_PATH for the demo, or "
                    f"remove {describe(self.settings)} if it only ever held an older sample)"
                )
