"""The Chroma store: embedded (``CHROMA_PATH``) by default, a Chroma server when ``CHROMA_URL`` is set.

Chroma is the store of record: chunk texts, vectors and metadata (source, access, content hash).
Searching happens in :mod:`bot.knowledge.index`, loaded from here and reloaded when the store's
generation token changes (every ingest that writes sets a new one).

An embedded store must have one writer process: several writers corrupted its index in a test here.
:func:`writer_lock` refuses a second one with a clear message; a Chroma server has no such limit.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np

from bot.config import Settings
from bot.errors import CloserError, StoreBusyError, StoreError
from bot.knowledge.disk_keys import DiskKeys
from bot.knowledge.index import ChunkMeta, Page
from bot.knowledge.records import Access, Parent, Record, SourceType, Visibility, access_parent, key_of_chunk
from bot.privacy.secrets import mask_secrets, masked_url, secrets_of

COLLECTION = "closer_chunks"
CHANGES = "closer_changes"  # the change log: which chunk ids each generation touched
CHANGE_PART = 5000  # chunk ids per change-log record
CHANGE_ADD = 4  # change-log records written per call
CHANGE_LOG_KEEP = 256  # change-log records kept (older generations are answered with a full reload)
PAGE = 1000  # rows a get() returns: smaller pages keep the transient memory of a load down
IN_LIST = 500  # ids per "$in" filter: SQLite caps the variables of one statement


@dataclass(frozen=True)
class SourceState:
    """What the store holds for one record: its content hash and whether all its chunks are there."""

    content_hash: str
    chunk_ids: tuple[str, ...]
    complete: bool
    access: dict[str, str] | None = None  # the access fields all chunks carry; None when they differ


def open_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        port = url.port or (443 if url.scheme == "https" else 8000)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "", port=port, ssl=url.scheme == "https", settings=chroma_settings
            )
        except Exception as exc:  # noqa: BLE001 - chromadb raises bare Exception/ValueError on connect
            detail = mask_secrets(str(exc), secrets_of(settings))
            raise StoreError(f"cannot reach the {describe(settings)} ({detail})") from None
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def describe(settings: Settings) -> str:
    return (
        f"Chroma server {masked_url(settings.chroma_url)}"
        if settings.chroma_url
        else f"embedded store {settings.chroma_path}"
    )


@contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Hold the single-writer lock of an embedded store (a no-op for a Chroma server)."""
    if settings.chroma_url:
        yield
        return
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    path = settings.chroma_path / ".closer-writer.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusyError(
                f"another closer process is writing to {settings.chroma_path}; wait for it to finish "
                "(or use a Chroma server via CHROMA_URL for concurrent writers)"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock, also when the process dies


def access_meta(access: Access) -> dict[str, str]:
    """The metadata fields that say who may read a chunk."""
    return {"visibility": access.visibility, "owner": access.owner, "readers": ";".join(access.readers)}


def _access_of(meta: dict[str, Any]) -> dict[str, str]:
    return {key: str(meta.get(key, "")) for key in ("visibility", "owner", "readers")}


def _meta_of(record: Record, position: int, n_chunks: int) -> dict[str, str | int]:
    meta: dict[str, str | int] = {
        "source_type": record.source_type,
        "source_id": record.source_id,
        "source_key": record.key,
        "title": record.title,
        "deal_id": record.deal_id,
        "account_id": record.account_id,
        **access_meta(record.access),
        "updated_at": record.updated_at,
        "content_hash": record.content_hash,
        "n_chunks": n_chunks,
        "position": position,
    }
    for key, value in record.fields.items():
        if value and key != "body":
            meta[f"f_{key}"] = value
    return meta


class ChunkStore:
    """The chunks of every record, and a change log so a running index can catch up incrementally.

    The change log (collection ``closer_changes``) has, for each generation, the generation before it
    and every chunk id written, updated or deleted in between. A writer marks the collection
    (``writing``) before its first change; a generation written while another writer's mark was
    there (a concurrent writer, or one that crashed before publishing its generation) is logged as
    incomplete, and readers then reload everything instead of trusting the log.
    """

    def __init__(self, client: Any, collection: Any, settings: Settings) -> None:
        self._client = client
        self._col = collection
        self._settings = settings
        self._touched: DiskKeys | None = None  # chunk ids changed since the last generation, on disk
        self._session = uuid.uuid4().hex
        self._marked = False
        self._foreign = False

    @classmethod
    def open(cls, settings: Settings, *, embedder_id: str, dimension: int | Callable[[], int]) -> ChunkStore:
        """Open (or create) the collection. ``dimension`` may be a callable: it is asked only when the
        collection must be created, so opening an existing store never calls a remote embedder."""
        from chromadb.errors import NotFoundError

        client = open_client(settings)
        try:
            try:
                col = client.get_collection(COLLECTION, embedding_function=None)
            except NotFoundError:
                dim = dimension() if callable(dimension) else dimension
                col = client.get_or_create_collection(
                    COLLECTION,
                    embedding_function=None,
                    metadata={"embedder": embedder_id, "dimension": dim, "generation": "empty"},
                    configuration={"hnsw": {"space": "cosine"}},
                )
        except CloserError:
            raise
        except Exception as exc:  # noqa: BLE001 - connection errors surface here for a server
            detail = mask_secrets(f"{type(exc).__name__}: {exc}", secrets_of(settings))
            raise StoreError(f"cannot open the {describe(settings)} ({detail})") from None
        built_with = (col.metadata or {}).get("embedder")
        if built_with and built_with != embedder_id:
            raise StoreError(
                f"the {describe(settings)} was built with embedder {built_with}, but {embedder_id} is "
                "configured; use the same EMBEDDING_PROVIDER and EMBEDDING_PRECISION, or ingest into a new "
                "store"
            )
        return cls(client, col, settings)

    def count(self) -> int:
        return int(self._col.count())

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Chroma's own errors (a deleted collection, a server down) as one StoreError line."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb raises many types (InternalError, NotFoundError, httpx)
            raise StoreError(
                f"cannot read the {describe(self._settings)} ({type(exc).__name__}: {_one_line(exc)})"
            ) from None

    def generation(self) -> str:
        # Re-read: another process (or replica) may have written since we opened the collection.
        with self._reading():
            self._col = self._client.get_collection(COLLECTION, embedding_function=None)
            return str((self._col.metadata or {}).get("generation", ""))

    def reopen(self) -> None:
        """Drop what the client has cached. An embedded client keeps its vector segments in memory:
        once another process has written, they are stale and reads fail until they are reloaded."""
        if self._settings.chroma_url:
            return  # a Chroma server serves every client the current data
        with self._reading():
            with contextlib.suppress(Exception):
                self._client.close()  # releases chromadb's shared per-path System when we were its last user
            self._client = open_client(self._settings)
            self._col = self._client.get_collection(COLLECTION, embedding_function=None)

    def _current_meta(self) -> dict[str, Any]:
        self._col = self._client.get_collection(COLLECTION, embedding_function=None)
        return dict(self._col.metadata or {})

    def _changing(self, ids: Sequence[str]) -> None:
        """Record ``ids`` for the change log; mark the collection before this writer's first change."""
        if not self._marked:
            meta = self._current_meta()
            if str(meta.get("writing", "")) not in ("", self._session):
                self._foreign = True
            meta["writing"] = self._session
            self._col.modify(metadata=meta)
            self._marked = True
        if self._touched is None:
            self._touched = DiskKeys()
        self._touched.update(ids)

    def bump_generation(self, *, unlogged: bool = False) -> None:
        """Publish a new generation, logging the chunk ids changed since the previous one.

        ``unlogged``: the collection was changed by other means (a bulk copy), so readers must reload
        everything."""
        meta = self._current_meta()
        previous = str(meta.get("generation", ""))
        complete = not (unlogged or self._foreign) and str(meta.get("writing", "")) in ("", self._session)
        generation = uuid.uuid4().hex
        self._log_changes(generation, previous, self._touched, complete)
        meta["generation"] = generation
        meta["writing"] = ""
        self._col.modify(metadata=meta)
        if self._touched is not None:
            self._touched.close()
            self._touched = None
        self._marked = self._foreign = False

    def _change_log(self) -> Any:
        return self._client.get_or_create_collection(
            CHANGES, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    def _log_changes(self, generation: str, previous: str, touched: DiskKeys | None, complete: bool) -> None:
        """Log ``touched`` (sorted) in records of ``CHANGE_PART`` ids, added a few at a time: however
        many chunks an ingest changed, their ids are never all in memory."""
        log = self._change_log()
        n = -(-len(touched) // CHANGE_PART) if touched is not None else 0
        parts = touched.batches(CHANGE_PART) if touched is not None and n else iter([[]])
        now = time.time()
        meta = {"generation": generation, "previous": previous, "parts": max(n, 1), "complete": complete,
                "at": now}  # fmt: skip
        number = 0
        while group := list(itertools.islice(parts, CHANGE_ADD)):
            log.add(
                ids=[f"{generation}:{number + i}" for i in range(len(group))],
                embeddings=[[1.0]] * len(group),
                documents=["\n".join(part) for part in group],
                metadatas=[meta] * len(group),
            )
            number += len(group)
        if log.count() > CHANGE_LOG_KEEP:
            stamps = log.get(include=["metadatas"])
            ordered = sorted(zip(stamps["ids"], stamps["metadatas"], strict=True), key=lambda p: p[1]["at"])
            old = [cid for cid, _ in ordered[: len(ordered) - CHANGE_LOG_KEEP]]
            log.delete(ids=old)

    def changes_since(self, generation: str, until: str, *, limit: int) -> set[str] | None:
        """Chunk ids changed between ``generation`` and ``until`` (a later one), or None when the log
        cannot tell (a generation not logged, logged incomplete, pruned) or more than ``limit`` changed."""
        with self._reading():
            current = until
            changed: set[str] = set()
            for _ in range(CHANGE_LOG_KEEP):
                if current == generation:
                    return changed
                got = self._change_log().get(
                    where={"generation": current}, include=["metadatas", "documents"]
                )
                metas = got["metadatas"] or []
                if not metas or len(metas) != int(metas[0]["parts"]) or not all(m["complete"] for m in metas):
                    return None
                for doc in got["documents"] or []:
                    changed.update(cid for cid in str(doc).split("\n") if cid)
                if len(changed) > limit:
                    return None
                current = str(metas[0]["previous"])
            return None

    def _pages(self, where: dict[str, Any] | None, include: list[str]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self._col.get(where=where, include=include, limit=PAGE, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def sources(
        self, kinds: Sequence[SourceType], *, keys: Sequence[str] | None = None, origin: str | None = None
    ) -> dict[str, SourceState]:
        """State of every stored record of the given source types, keyed by ``type:id``; only those
        ``keys`` when given, only records synced from ``origin`` (``f_crm_source``) when given."""
        where: dict[str, Any] = {"source_type": {"$in": list(kinds)}}
        if origin is not None:
            where = {"$and": [where, {"f_crm_source": origin}]}
        if keys is None:
            return self._states([where])
        wanted = list(dict.fromkeys(keys))
        return self._states(
            [
                {"$and": [where, {"source_key": {"$in": wanted[i : i + PAGE]}}]}
                for i in range(0, len(wanted), PAGE)
            ]
        )

    def source_keys(self, kinds: Sequence[SourceType], *, origin: str | None = None) -> Iterator[str]:
        """The ``type:id`` key of every stored record of these source types (only those synced from
        ``origin`` when given), read page by page (a key may come more than once: one per chunk that
        is not next to its record's others). Pages of chunk ids only: a page of metadata is ~1 MB that
        Chroma's HTTP client leaves to the cyclic garbage collector, so many of them pile up."""
        where: dict[str, Any] = {"source_type": {"$in": list(kinds)}}
        if origin is not None:
            where = {"$and": [where, {"f_crm_source": origin}]}
        last = None
        for page in self._pages(where, []):
            for chunk in page["ids"]:
                key = key_of_chunk(chunk)
                if key != last:
                    yield key
                last = key

    def _states(self, wheres: list[dict[str, Any]]) -> dict[str, SourceState]:
        seen: dict[str, tuple[str, list[str], int, bool, dict[str, str] | None]] = {}
        pages = (page for where in wheres for page in self._pages(where, ["metadatas"]))
        for page in pages:
            for cid, meta in zip(page["ids"], page["metadatas"], strict=True):
                key = str(meta["source_key"])
                access = _access_of(meta)
                digest, ids, _, same, first = seen.get(key, (str(meta["content_hash"]), [], 0, True, access))
                ids.append(cid)
                same = same and digest == meta["content_hash"]
                seen[key] = (digest, ids, int(meta["n_chunks"]), same, first if first == access else None)
        return {
            key: SourceState(digest, tuple(ids), same and len(ids) == declared, access)
            for key, (digest, ids, declared, same, access) in seen.items()
        }

    def write(self, records: Sequence[Record], vectors: np.ndarray, previous: dict[str, SourceState]) -> None:
        """Upsert the chunks of ``records`` (vectors in chunk order) and drop chunks they no longer have."""
        ids, docs, metas = [], [], []
        for record in records:
            for chunk in record.chunks:
                ids.append(chunk.chunk_id)
                docs.append(chunk.text)
                metas.append(_meta_of(record, chunk.position, len(record.chunks)))
        keep = set(ids)
        stale = [
            cid for r in records if r.key in previous for cid in previous[r.key].chunk_ids if cid not in keep
        ]
        self._changing([*ids, *stale])
        if ids:
            self._col.upsert(ids=ids, embeddings=vectors, documents=docs, metadatas=metas)
        if stale:
            self._col.delete(ids=stale)

    def set_access(self, records: Sequence[Record], previous: dict[str, SourceState]) -> None:
        """Rewrite who may read ``records`` (already stored with their current text): metadata only."""
        ids: list[str] = []
        metas: list[dict[str, str]] = []
        for record in records:
            wanted = access_meta(record.access)
            ids += previous[record.key].chunk_ids
            metas += [wanted] * len(previous[record.key].chunk_ids)
        self._update(ids, metas)

    def inherit_access(self, parents: Sequence[Record]) -> int:
        """Give the stored children of ``parents`` (accounts, deals) their parent's access.

        Contacts and notes carry a copy of their parent's access, so a partial export that changes
        only a deal or an account must reach them too (:func:`records.access_parent` is the rule).
        Returns how many chunks changed.
        """
        wanted = {r.key: access_meta(r.access) for r in parents if r.source_type in ("account", "deal")}
        accounts = [r.source_id for r in parents if r.source_type == "account"]
        deals = [r.source_id for r in parents if r.source_type == "deal"]
        of_account = {
            "$or": [{"source_type": "contact"}, {"$and": [{"source_type": "note"}, {"deal_id": ""}]}]
        }
        wheres: list[dict[str, Any]] = []
        for start in range(0, len(accounts), IN_LIST):
            wheres.append({"$and": [of_account, {"account_id": {"$in": accounts[start : start + IN_LIST]}}]})
        for start in range(0, len(deals), IN_LIST):
            wheres.append(
                {"$and": [{"source_type": "note"}, {"deal_id": {"$in": deals[start : start + IN_LIST]}}]}
            )
        changed: dict[str, dict[str, str]] = {}
        for where in wheres:
            for page in self._pages(where, ["metadatas"]):
                for cid, meta in zip(page["ids"], page["metadatas"], strict=True):
                    parent = access_parent(str(meta["source_type"]), str(meta.get("deal_id", "")),
                                           str(meta.get("account_id", "")))  # fmt: skip
                    if parent in wanted and _access_of(meta) != wanted[parent]:
                        changed[cid] = wanted[parent]
        self._update(list(changed), list(changed.values()))
        return len(changed)

    def _update(self, ids: list[str], metas: list[dict[str, str]]) -> None:
        # Chroma merges the given keys into each chunk's metadata; texts and vectors stay as they are.
        if ids:
            self._changing(ids)
        for start in range(0, len(ids), PAGE):
            self._col.update(ids=ids[start : start + PAGE], metadatas=metas[start : start + PAGE])

    def delete(self, states: Sequence[SourceState]) -> None:
        ids = [cid for state in states for cid in state.chunk_ids]
        if ids:
            self._changing(ids)
        for start in range(0, len(ids), PAGE):
            self._col.delete(ids=ids[start : start + PAGE])

    def first_meta(self, key: str) -> dict[str, Any] | None:
        """The metadata of one stored chunk of record ``key`` (``type:id``), or None."""
        page = self._col.get(where={"source_key": key}, include=["metadatas"], limit=1)
        return dict(page["metadatas"][0]) if page["ids"] else None

    def parent(self, kind: SourceType, source_id: str) -> Parent | None:
        """A stored account or deal, for the notes and contacts of a partial export."""
        meta = self.first_meta(f"{kind}:{source_id}")
        if meta is None:
            return None
        readers = tuple(r for r in str(meta.get("readers", "")).split(";") if r)
        visibility: Visibility = "public" if meta["visibility"] == "public" else "private"
        access = Access(visibility, owner=str(meta.get("owner", "")), team=readers)
        return Parent(access, str(meta["title"]), str(meta.get("account_id", "")))

    def pages(self, ids: Sequence[str] | None = None) -> Iterator[Page]:
        """Everything the search index needs, a page at a time (all chunks, or only those ``ids``
        that are still stored). Raises StoreError when the store cannot be read."""
        with self._reading():
            if ids is None:
                for page in self._pages(None, ["metadatas", "documents", "embeddings"]):
                    yield self._page(page)
                return
            wanted = list(ids)
            for start in range(0, len(wanted), PAGE):
                got = self._col.get(
                    ids=wanted[start : start + PAGE], include=["metadatas", "documents", "embeddings"]
                )
                if got["ids"]:
                    yield self._page(got)

    def _page(self, page: dict[str, Any]) -> Page:
        metas: list[ChunkMeta] = []
        for cid, meta in zip(page["ids"], page["metadatas"], strict=True):
            readers = str(meta.get("readers", ""))
            metas.append(
                ChunkMeta(
                    chunk_id=cid,
                    source_type=str(meta["source_type"]),
                    source_id=str(meta["source_id"]),
                    title=str(meta.get("title", "")),
                    deal_id=str(meta.get("deal_id", "")),
                    account_id=str(meta.get("account_id", "")),
                    visibility=str(meta.get("visibility", "private")),
                    readers=tuple(r for r in readers.split(";") if r),
                    updated_at=str(meta.get("updated_at", "")),
                )
            )
        dim = int((self._col.metadata or {}).get("dimension", 0))
        vectors = np.asarray(page["embeddings"], np.float32).reshape(len(metas), dim)
        return metas, [str(d) for d in page["documents"]], vectors

    # --- reports (the deal digest): metadata only, kept out of the search index ------------------------

    def metadatas(self, kind: SourceType) -> Iterator[dict[str, Any]]:
        """The stored metadata of every chunk of one source type (no texts, no vectors).

        Deal fields are there as ``f_<column>`` (``f_stage``, ``f_amount``, ``f_close_date`` …), notes
        carry ``f_created_at``; ``visibility``, ``owner`` and ``readers`` are the access fields.
        """
        for page in self._pages({"source_type": kind}, ["metadatas"]):
            yield from (dict(meta) for meta in page["metadatas"])

    def note_texts(self, deal_ids: Sequence[str]) -> list[tuple[dict[str, Any], str]]:
        """(metadata, text) of every note chunk on the given deals."""
        if not deal_ids:
            return []
        where = {"$and": [{"source_type": "note"}, {"deal_id": {"$in": list(deal_ids)}}]}
        out: list[tuple[dict[str, Any], str]] = []
        for page in self._pages(where, ["metadatas", "documents"]):
            out += [(dict(m), str(d)) for m, d in zip(page["metadatas"], page["documents"], strict=True)]
        return out
