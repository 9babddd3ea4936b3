"""The in-memory search index: chunk metadata, vectors, BM25 and access postings, built from the store.

Access is a boolean row mask computed per query from postings (public rows, rows each email may
read). Dense and lexical scoring both run over the masked rows only, so the top-k cut never sees a
record the viewer may not read, and the records they may read are never crowded out.

Layout (issue 13, a million chunks in a few hundred MB): a run of rows is a :class:`Segment` of flat
columns — metadata as codes into sorted string tables, chunk texts in one byte blob read for the
hits only, vectors as int8 with a scale per row for the candidate pass and float32 for the exact
rescoring of the candidates (so rankings equal exact search), BM25 as a sparse matrix. A segment's
arrays can be memory-mapped from a snapshot (bot/knowledge/snapshot.py). An incremental refresh
adds a second segment for the changed rows and marks their old rows dead
(:meth:`SearchIndex.with_changes`); ``visible()`` never includes a dead row.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from bot.identity.viewer import Viewer
from bot.knowledge.columns import (
    EMPTY_ROWS,
    Interner,
    Postings,
    RowFile,
    RowView,
    StringTable,
    search_sorted_many,
)
from bot.knowledge.int8_dot import Int8Dot, int8_dot
from bot.knowledge.lexical import Bm25Part, LexicalIndex, build_part, identifiers
from bot.knowledge.spool import Pairs, Spool

T = TypeVar("T")
Page = tuple[Sequence["ChunkMeta"], Sequence[str], np.ndarray]  # metas, texts, vectors of some rows


@dataclass(frozen=True, slots=True)
class ChunkMeta:
    chunk_id: str
    source_type: str
    source_id: str
    title: str
    deal_id: str = ""
    account_id: str = ""
    visibility: str = "private"
    readers: tuple[str, ...] = ()
    updated_at: str = ""

    @property
    def source_key(self) -> str:
        return f"{self.source_type}:{self.source_id}"


def top_sources(
    rows: np.ndarray, scores: np.ndarray, n: int, sources: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The best-scoring row of each of the ``n`` best sources, best first.

    The cut counts sources, not chunks: a long record's many chunks must not crowd others out.
    """
    width = n
    while True:
        if len(rows) > width:
            part = np.argpartition(-scores, width - 1)[:width]
            cand_rows, cand_scores = rows[part], scores[part]
        else:
            cand_rows, cand_scores = rows, scores
        order = np.argsort(-cand_scores, kind="stable")
        cand_rows, cand_scores = cand_rows[order], cand_scores[order]
        _, first = np.unique(sources[cand_rows], return_index=True)
        if len(first) >= n or len(cand_rows) == len(rows):
            keep = np.sort(first)[:n]
            return cand_rows[keep], cand_scores[keep]
        width *= 4


def quantize(vectors: np.ndarray, *, block: int = 50_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int8 codes, a float32 scale per row and each row's code L1 norm (for the bound of an int8 × int8
    score): ``vectors ≈ codes * scale[:, None]``, each component within ``scale / 2`` (a block of rows
    at a time, so no float temporary of the whole matrix)."""
    codes = np.empty(vectors.shape, np.int8)
    scale = np.empty(len(vectors), np.float32)
    l1 = np.empty(len(vectors), np.int32)
    for lo in range(0, len(vectors), block):
        part = vectors[lo : lo + block]
        peak = np.abs(part).max(axis=1) if part.shape[1] else np.zeros(len(part), np.float32)
        scale[lo : lo + block] = np.where(peak > 0, peak / 127, 1.0)
        codes[lo : lo + block] = np.clip(np.rint(part / scale[lo : lo + block, None]), -127, 127)
        l1[lo : lo + block] = np.abs(codes[lo : lo + block]).sum(axis=1, dtype=np.int32)
    return codes, scale, l1


def quantize_query(query: np.ndarray) -> tuple[np.ndarray, float]:
    """int8 codes of a query vector and their step ``tau``: each component within ``tau / 2``."""
    peak = float(np.abs(query).max()) if len(query) else 0.0
    tau = peak / 127 if peak > 0 else 1.0
    return np.clip(np.rint(query / tau), -127, 127).astype(np.int8), tau


@dataclass
class Segment:
    """The columns of a run of rows (row numbers local to the segment)."""

    chunk_ids: StringTable  # row order
    id_order: np.ndarray  # rows sorted by chunk id, for :meth:`rows_of`
    types: StringTable
    type_codes: np.ndarray
    sources: StringTable  # sorted "type:id" keys
    source_codes: np.ndarray
    titles: StringTable
    title_codes: np.ndarray
    deals: StringTable
    deal_codes: np.ndarray
    accounts: StringTable
    account_codes: np.ndarray
    updated: StringTable
    updated_codes: np.ndarray
    reader_sets: StringTable  # "a@x;b@x"
    reader_codes: np.ndarray
    public: np.ndarray
    texts: StringTable  # row order
    codes: np.ndarray  # int8 vectors
    scale: np.ndarray
    code_l1: np.ndarray  # Σ|codes| per row
    exact: np.ndarray | RowFile  # float32 vectors (read with pread from a snapshot: columns.RowFile)
    readers: Postings
    idents: Postings
    source_rows: Postings
    account_rows: Postings

    def __len__(self) -> int:
        return len(self.public)

    @property
    def dim(self) -> int:
        return int(self.exact.shape[1])

    def __post_init__(self) -> None:
        self._id_keys: np.ndarray | None = None  # prefix keys of the chunk ids in id order, when needed
        for small in (self.types, self.deals, self.accounts):  # read for every candidate row
            small.cache()

    def meta(self, row: int) -> ChunkMeta:
        key = self.sources.get(int(self.source_codes[row]))
        readers = self.reader_sets.get(int(self.reader_codes[row]))
        return ChunkMeta(
            self.chunk_ids.get(row), self.types.get(int(self.type_codes[row])), key.split(":", 1)[1],
            self.titles.get(int(self.title_codes[row])), self.deals.get(int(self.deal_codes[row])),
            self.accounts.get(int(self.account_codes[row])), "public" if self.public[row] else "private",
            tuple(r for r in readers.split(";") if r), self.updated.get(int(self.updated_codes[row])),
        )  # fmt: skip

    def brief(self, row: int) -> tuple[str, str, str, str]:
        """(source type, "type:id" key, account id, deal id) of ``row``: what ranking reads per candidate."""
        kind, key = self.types.get(int(self.type_codes[row])), self.sources.get(int(self.source_codes[row]))
        return (
            kind,
            key,
            self.accounts.get(int(self.account_codes[row])),
            self.deals.get(int(self.deal_codes[row])),
        )

    def rows_of(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The row of each of ``chunk_ids`` (-1 where absent), many at once (a refresh's changes)."""
        if self._id_keys is None:
            self._id_keys = self.chunk_ids.prefix_keys()[self.id_order]
        found = search_sorted_many(
            lambda j: self.chunk_ids.get(int(self.id_order[j])), self._id_keys, chunk_ids
        )
        out = np.full(len(chunk_ids), -1, np.int64)
        out[found >= 0] = np.asarray(self.id_order)[found[found >= 0]]
        return out

    def account_records(self) -> list[tuple[str, str, int]]:
        account = self.types.find("account")
        if account < 0:
            return []
        return [
            (
                self.sources[int(self.source_codes[r])].split(":", 1)[1],
                self.titles[int(self.title_codes[r])],
                int(r),
            )
            for r in np.flatnonzero(self.type_codes == account)
        ]

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the segment by name (what a snapshot stores)."""
        out: dict[str, np.ndarray] = {}
        for name, value in vars(self).items():
            if name.startswith("_"):  # caches, not columns
                continue
            if isinstance(value, StringTable):
                out[f"{name}.blob"], out[f"{name}.offsets"] = value.blob, value.offsets
            elif isinstance(value, Postings):
                out[f"{name}.keys.blob"], out[f"{name}.keys.offsets"] = value.keys.blob, value.keys.offsets
                out[f"{name}.indptr"], out[f"{name}.rows"] = value.indptr, value.rows
            elif isinstance(value, RowFile):
                out[name] = value[np.arange(len(value))]
            else:
                out[name] = value
        return out

    @classmethod
    def of_arrays(cls, arrays: dict[str, np.ndarray]) -> Segment:
        fields: dict[str, object] = {}
        for name, kind in cls.__annotations__.items():
            if kind == "StringTable":
                fields[name] = StringTable(arrays[f"{name}.blob"], arrays[f"{name}.offsets"])
            elif kind == "Postings":
                keys = StringTable(arrays[f"{name}.keys.blob"], arrays[f"{name}.keys.offsets"])
                fields[name] = Postings(keys, arrays[f"{name}.indptr"], arrays[f"{name}.rows"])
            else:
                fields[name] = arrays[name]
        return cls(**fields)  # type: ignore[arg-type]


class _Columns:
    """What a build collects row by row before it becomes a :class:`Segment`: metadata as codes,
    the large columns (vectors, their int8 codes, texts) in spools — in ``spill``'s files if given."""

    def __init__(self, spill: Path | None) -> None:
        self.ids: list[str] = []
        self.types, self.sources, self.titles, self.deals = Interner(), Interner(), Interner(), Interner()
        self.accounts, self.updated, self.readers = Interner(), Interner(), Interner()
        self.public = array("b")
        self.text_blob = Spool(np.uint8, spill, "texts.blob")
        self.text_ends = array("q")
        self.exact = Spool(np.float32, spill, "exact")
        self.codes = Spool(np.int8, spill, "codes")
        self.scale = Spool(np.float32, spill, "scale")
        self.code_l1 = Spool(np.int32, spill, "code_l1")
        self.idents = Pairs(spill, "idents")
        self.dim = 0

    def texts_of(self, pages: Iterable[Page]) -> Iterator[str]:
        """Record the pages' columns and yield their texts (the BM25 build reads them once)."""
        row = 0
        size = 0
        for metas, texts, vectors in pages:
            vectors = np.asarray(vectors, np.float32)
            if vectors.ndim == 2:
                self.dim = vectors.shape[1]
            if len(metas):
                vectors = vectors.reshape(len(metas), self.dim)
                self.exact.append(vectors)
                codes, scale, code_l1 = quantize(vectors)
                self.codes.append(codes)
                self.scale.append(scale)
                self.code_l1.append(code_l1)
            blob, ident_keys, ident_rows = bytearray(), array("i"), array("i")
            for meta, text in zip(metas, texts, strict=True):
                self.ids.append(meta.chunk_id)
                self.types.add(meta.source_type)
                self.sources.add(meta.source_key)
                self.titles.add(meta.title)
                self.deals.add(meta.deal_id)
                self.accounts.add(meta.account_id)
                self.updated.add(meta.updated_at)
                self.readers.add(";".join(meta.readers))
                self.public.append(meta.visibility == "public")
                blob += text.encode()
                self.text_ends.append(size + len(blob))
                for ident in identifiers(text):
                    ident_keys.append(self.idents.keys.code(ident))
                    ident_rows.append(row)
                row += 1
                yield text
            size += len(blob)
            self.text_blob.append(np.frombuffer(blob, np.uint8))
            self.idents.add(ident_keys, ident_rows)

    def segment(self) -> Segment:
        n = len(self.ids)
        chunk_ids = StringTable.of(self.ids)
        id_order = np.argsort(np.array(self.ids, dtype=object), kind="stable").astype(np.int32)
        self.ids.clear()
        types, type_codes = self.types.table()
        sources, source_codes = self.sources.table()
        titles, title_codes = self.titles.table()
        deals, deal_codes = self.deals.table()
        accounts, account_codes = self.accounts.table()
        updated, updated_codes = self.updated.table()
        reader_sets, reader_codes = self.readers.table()
        public = np.frombuffer(self.public, np.int8).astype(bool) if n else np.zeros(0, bool)
        offsets = np.zeros(n + 1, np.int64)
        offsets[1:] = np.frombuffer(self.text_ends, np.int64) if n else offsets[1:]
        texts = StringTable(self.text_blob.finish(), offsets)
        exact = self.exact.finish(tail=(self.dim,))
        codes, scale = self.codes.finish(tail=(self.dim,)), self.scale.finish()
        code_l1 = self.code_l1.finish()
        doc = types.find("doc")
        not_doc = type_codes != doc if doc >= 0 else np.ones(n, bool)
        no_account = accounts.find("")
        account_of = np.where(not_doc, account_codes, -1)
        if no_account >= 0:
            account_of = np.where(account_codes == no_account, -1, account_of)
        account_rows = Postings.of_codes(accounts, np.where(account_of < 0, len(accounts), account_of),
                                         skip=len(accounts))  # fmt: skip
        return Segment(
            chunk_ids, id_order, types, type_codes.astype(np.int8), sources, source_codes, titles,
            title_codes, deals, deal_codes, accounts, account_codes, updated, updated_codes,
            reader_sets, reader_codes, public, texts, codes, scale, code_l1, exact,
            Postings.of_members(reader_sets, reader_codes, ";"),
            self.idents.postings(),
            Postings.of_codes(sources, source_codes), account_rows,
        )  # fmt: skip


def build_segment(
    pages: Iterable[Page], *, k1: float, b: float, base: LexicalIndex | None = None, spill: Path | None = None
) -> tuple[Segment, Bm25Part, LexicalIndex | None]:
    """A segment of ``pages`` and its BM25 part (a new lexical index without ``base``). With ``spill``
    (a folder), the large arrays are written there as the pages arrive and come back memory-mapped."""
    columns = _Columns(spill)
    part, stats = build_part(columns.texts_of(pages), k1=k1, b=b, base=base, spill=spill)
    lexical = LexicalIndex([part], stats, k1=k1, b=b) if base is None else None
    return columns.segment(), part, lexical


class SearchIndex:
    """Rows of one or two segments (a base and the rows changed since); dead rows are never visible."""

    def __init__(
        self,
        metas: Sequence[ChunkMeta],
        texts: Sequence[str],
        vectors: np.ndarray,
        *,
        k1: float = 0.9,
        b: float = 0.4,
    ) -> None:
        if not (len(metas) == len(texts) == len(vectors)):
            raise ValueError("metas, texts and vectors must have the same length")
        vectors = np.asarray(vectors, np.float32).reshape(len(metas), -1 if len(metas) else 0)
        segment, _, lexical = build_segment([(metas, texts, vectors)], k1=k1, b=b)
        assert lexical is not None
        self._init([segment], lexical, None)

    @classmethod
    def of_segments(
        cls, segments: Sequence[Segment], lexical: LexicalIndex, dead: np.ndarray | None = None
    ) -> SearchIndex:
        index = cls.__new__(cls)
        index._init(list(segments), lexical, dead)
        return index

    @classmethod
    def from_pages(
        cls, pages: Iterable[Page], *, k1: float = 0.9, b: float = 0.4, spill: Path | None = None
    ) -> SearchIndex:
        """A full build (one segment) of ``pages``; ``spill``: see :func:`build_segment`."""
        segment, _, lexical = build_segment(pages, k1=k1, b=b, spill=spill)
        assert lexical is not None
        return cls.of_segments([segment], lexical)

    def _init(self, segments: list[Segment], lexical: LexicalIndex, dead: np.ndarray | None) -> None:
        self.segments = segments
        self.lexical = lexical
        self.starts = np.cumsum([0, *(len(s) for s in segments)])
        self._first_end = len(segments[0])
        n = int(self.starts[-1])
        self.dead: np.ndarray = dead if dead is not None else np.zeros(n, bool)
        self.public: np.ndarray = np.concatenate([s.public for s in segments]) & ~self.dead
        self.docs = np.concatenate([s.type_codes == s.types.find("doc") for s in segments])
        # One code per source across segments: a later segment's keys map onto the base's codes.
        base = segments[0]
        codes = [np.asarray(base.source_codes, np.int64)]
        extra: dict[str, int] = {}
        for seg in segments[1:]:
            keys = list(seg.sources)
            local = base.sources.find_many(keys)
            for i in np.flatnonzero(local < 0).tolist():
                local[i] = extra.setdefault(keys[i], len(base.sources) + len(extra))
            codes.append(local[seg.source_codes] if len(seg.sources) else np.zeros(0, np.int64))
        self.source_codes = np.concatenate(codes)
        self._accounts = []
        for seg, start in zip(segments, self.starts.tolist(), strict=False):
            live = [(a, name, row + start) for a, name, row in seg.account_records()]
            self._accounts += [item for item in live if not self.dead[item[2]]]
        self._account_rows = np.array([row for _, _, row in self._accounts], np.int64)
        self.memo: dict[object, object] = {}  # structures derived per index (search's account names)
        self._half_scale = np.concatenate([s.scale for s in segments]) / 2
        self._code_l1 = np.concatenate([s.code_l1 for s in segments])
        self.metas: Sequence[ChunkMeta] = RowView(n, self.meta)
        self.texts: Sequence[str] = RowView(n, self.text)

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def dim(self) -> int:
        return max(seg.dim for seg in self.segments)

    def _locate(self, row: int) -> tuple[Segment, int]:
        if row < self._first_end:
            return self.segments[0], row
        s = int(np.searchsorted(self.starts, row, side="right")) - 1
        return self.segments[s], row - int(self.starts[s])

    def brief(self, row: int) -> tuple[str, str, str, str]:
        """(source type, "type:id" key, account id, deal id) of ``row``."""
        seg, local = self._locate(row)
        return seg.brief(local)

    def meta(self, row: int) -> ChunkMeta:
        seg, local = self._locate(row)
        return seg.meta(local)

    def text(self, row: int) -> str:
        seg, local = self._locate(row)
        return seg.texts.get(local)

    def source_key(self, row: int) -> str:
        seg, local = self._locate(row)
        return seg.sources.get(int(seg.source_codes[local]))

    def row_of(self, chunk_id: str) -> int:
        """The live row of ``chunk_id``, or -1."""
        return int(self.live_rows_of([chunk_id])[0])

    def live_rows_of(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """The live row of each of ``chunk_ids`` (-1 where none): the newest segment holding it."""
        out = np.full(len(chunk_ids), -1, np.int64)
        for seg, start in zip(reversed(self.segments), reversed(self.starts[:-1].tolist()), strict=True):
            todo = np.flatnonzero(out < 0)
            if not len(todo):
                break
            local = seg.rows_of([chunk_ids[i] for i in todo.tolist()])
            found = np.flatnonzero(local >= 0)
            rows = local[found] + start
            live = ~self.dead[rows]
            out[todo[found[live]]] = rows[live]
        return out

    def _rows(self, postings: str, key: str) -> np.ndarray:
        found = [getattr(seg, postings).get_rows(key) + int(start)
                 for seg, start in zip(self.segments, self.starts, strict=False)]  # fmt: skip
        rows = np.concatenate(found) if len(found) > 1 else found[0]
        return rows[~self.dead[rows]] if len(rows) else EMPTY_ROWS

    def visible(self, viewer: Viewer) -> np.ndarray:
        """Boolean mask of the rows ``viewer`` may read."""
        if viewer.is_admin:
            return np.asarray(~self.dead, bool)
        mask = self.public.copy()
        mask[self._rows("readers", viewer.email)] = True
        return mask

    def readers(self) -> frozenset[str]:
        """Every email named as owner or team of some record."""
        return frozenset(e for seg in self.segments for e in seg.readers.keys)

    def rows_with_identifier(self, ident: str, *, max_sources: int | None = None) -> np.ndarray:
        """Live rows holding ``ident``. With ``max_sources``: none when they belong to more sources than
        that (a token that common identifies nothing), decided from a few of its rows when it is
        common, so a word in half the corpus costs what a rare one does."""
        if max_sources is not None:
            for seg, start in zip(self.segments, self.starts.tolist(), strict=False):
                head = seg.idents.head(ident, 4 * (max_sources + 1)) + start
                head = head[~self.dead[head]]
                if len(np.unique(self.source_codes[head])) > max_sources:
                    return EMPTY_ROWS
        rows = self._rows("idents", ident)
        if max_sources is not None and len(np.unique(self.source_codes[rows])) > max_sources:
            return EMPTY_ROWS
        return rows

    def rows_of_source(self, source_key: str) -> np.ndarray:
        return self._rows("source_rows", source_key)

    def rows_of_account(self, account_id: str) -> np.ndarray:
        return self._rows("account_rows", account_id)

    def visible_accounts(self, mask: np.ndarray) -> np.ndarray:
        """Positions in :meth:`accounts` of the account records ``mask`` allows (ascending)."""
        return np.flatnonzero(mask[self._account_rows]) if len(self._account_rows) else EMPTY_ROWS

    def accounts(self) -> list[tuple[str, str, int]]:
        """(account_id, name, row) of every account record."""
        return self._accounts

    def where(self, column: Literal["type", "deal"], value: str) -> np.ndarray:
        """Boolean mask of the rows whose source type (or deal id) is ``value``."""
        parts = []
        for seg in self.segments:
            table, codes = (seg.types, seg.type_codes) if column == "type" else (seg.deals, seg.deal_codes)
            code = table.find(value)
            parts.append(codes == code if code >= 0 else np.zeros(len(seg), bool))
        return np.concatenate(parts)

    def vectors_of(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """The exact float32 vectors of ``rows``."""
        rows = np.asarray(rows, np.int64)
        if len(self.segments) == 1:
            return np.asarray(self.segments[0].exact[rows], np.float32)
        out = np.empty((len(rows), self.dim), np.float32)
        seg_of = np.searchsorted(self.starts, rows, side="right") - 1
        for s, seg in enumerate(self.segments):
            pick = seg_of == s
            if pick.any():
                out[pick] = seg.exact[rows[pick] - int(self.starts[s])]
        return out

    def _approx(
        self, query: np.ndarray, rows: np.ndarray, dot: Int8Dot | None
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """Approximate scores of ``rows`` (ascending) from the int8 codes, and a function giving, for
        any rows, a bound on |exact − approximate| score.

        With ``dot`` (the int8 kernel, bot/knowledge/int8_dot.py) the query is quantized too, with
        step ``τ``: ``v·q − στ(c·d) = σ c·e_q + e_v·q``, so the bound is ``σ/2 (‖q‖₁ + τ ‖c‖₁)``.
        Without it the codes are converted to float32 and the bound is ``σ/2 ‖q‖₁``.
        """
        out = np.empty(len(rows), np.float32)
        bounds = np.searchsorted(rows, self.starts)  # rows are ascending
        qcodes, tau = quantize_query(query)
        for s, seg in enumerate(self.segments):
            lo, hi = int(bounds[s]), int(bounds[s + 1])
            if hi > lo:
                local = rows[lo:hi] - int(self.starts[s])
                if dot is not None:
                    out[lo:hi] = dot(np.take(seg.codes, local, axis=0), qcodes) * (
                        seg.scale[local].astype(np.float64) * tau
                    )
                else:
                    out[lo:hi] = (np.take(seg.codes, local, axis=0).astype(np.float32) @ query) * seg.scale[
                        local
                    ]
        q_l1 = float(np.abs(query).sum())

        def bound(of: np.ndarray) -> np.ndarray:
            extra = self._code_l1[of] * tau if dot is not None else 0.0
            return np.asarray(self._half_scale[of] * (q_l1 + extra) + 1e-5, np.float64)

        return out, bound

    def dense_scores(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact cosine similarity of the query with each of ``rows`` (vectors are unit length)."""
        return np.asarray(self.vectors_of(rows) @ query_vector, np.float32)

    def _candidates(self, query: np.ndarray, rows: np.ndarray, n: int, dot: Int8Dot | None) -> np.ndarray:
        """The rows whose exact score may place them among the ``n`` best sources.

        Each approximate score is within ``bound`` of the exact one (:meth:`_approx`). The ``n`` best
        sources by approximate score each have a row scoring at least ``t - B`` exactly (``t`` the n-th
        source's approximate score, ``B`` the largest bound among those rows), so every row of the
        exact top-``n`` has an approximate score of at least ``t - B - bound``.
        """
        approx, bound = self._approx(query, rows, dot)
        top_rows, top_scores = top_sources(rows, approx, n, self.source_codes)
        if len(top_rows) < n:
            return rows
        floor = float(top_scores.min()) - float(bound(top_rows).max())
        return np.asarray(rows[approx + bound(rows) >= floor])

    def dense_top(self, query: np.ndarray, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`top_sources` of the exact dense scores of ``rows`` (ascending), computed exactly only
        for the rows two cheaper passes cannot rule out: int8 × int8 over every row (when the kernel
        is exact on this CPU), int8 × float32 over the survivors (a tighter bound), then float32
        vectors read for the few left (:meth:`_candidates`)."""
        query = np.asarray(query, np.float32)
        if len(rows) == 0:
            return rows, np.zeros(0, np.float32)
        dot = int8_dot()
        if dot is not None:
            rows = self._candidates(query, rows, n, dot)
        rows = self._candidates(query, rows, n, None)
        return top_sources(rows, self.dense_scores(query, rows), n, self.source_codes)

    def with_changes(self, changed: Iterable[Page], gone: Iterable[str]) -> SearchIndex:
        """This index with the rows of ``changed`` (new or updated chunks) and without the chunks
        ``gone``. The changed rows form a new last segment scored with the base's BM25 statistics;
        with two segments already, the previous changes are merged into the new last segment."""
        pages = list(changed)
        new_ids = {m.chunk_id for metas, _, _ in pages for m in metas}
        dead = self.dead.copy()
        old = self.live_rows_of([*new_ids, *gone])
        dead[old[old >= 0]] = True
        lex = self.lexical
        base, base_lexical = self.segments[0], LexicalIndex(lex.parts[:1], lex.stats, k1=lex.k1, b=lex.b)
        carried: list[Page] = []
        for s, seg in enumerate(self.segments[1:], start=1):  # earlier changes still alive move along
            start = int(self.starts[s])
            alive = [r for r in range(len(seg)) if not dead[start + r]]
            if alive:
                carried.append(([seg.meta(r) for r in alive], [seg.texts[r] for r in alive],
                                np.asarray(seg.exact[alive], np.float32)))  # fmt: skip
        rows = [*carried, *pages]
        if not any(len(m) for m, _, _ in rows):
            return self._keep_memo(SearchIndex.of_segments([base], base_lexical, dead[: len(base)]))
        segment, part, _ = build_segment(rows, k1=base_lexical.k1, b=base_lexical.b, base=base_lexical)
        lexical = LexicalIndex(
            [*base_lexical.parts, part], base_lexical.stats, k1=base_lexical.k1, b=base_lexical.b
        )
        dead = np.concatenate([dead[: len(base)], np.zeros(len(segment), bool)])
        return self._keep_memo(SearchIndex.of_segments([base, segment], lexical, dead))

    def _keep_memo(self, new: SearchIndex) -> SearchIndex:
        """``new`` shares this index's memo when their account records are the same (ids, names,
        readers): what is derived from them stays valid across a refresh that did not touch them."""
        if [(a, n) for a, n, _ in new.accounts()] == [(a, n) for a, n, _ in self.accounts()] and all(
            new.meta(r).readers == self.meta(q).readers and new.public[r] == self.public[q]
            for (_, _, r), (_, _, q) in zip(new.accounts(), self.accounts(), strict=True)
        ):
            new.memo = self.memo
        return new

    def changed_rows(self) -> int:
        """Rows outside the base segment plus dead base rows: how far this index is from a rebuild."""
        return len(self) - len(self.segments[0]) + int(self.dead[: len(self.segments[0])].sum())
