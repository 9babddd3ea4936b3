"""Words for BM25: a tokenizer that keeps identifiers whole, and the BM25 index over chunks.

``AX-PRO-2``, ``TKT-2291``, ``PO 7700012345`` and clause ``9.4`` stay single tokens (and also give
their parts), because default word splitting breaks them into pieces that match everything.
Plain words are lower-cased, stop words dropped and the rest stemmed (Snowball English).
"""

from __future__ import annotations

import functools
import math
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from bot.knowledge.columns import Interner, StringTable
from bot.knowledge.spool import Spool, add_counts, grouped, sort_counts

_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|[^\W_]+(?:[-_./:#][^\W_]+)*")
_SEPARATORS = re.compile(r"[-_./:#]")
_STOP = frozenset(STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=1 << 16)  # words repeat (Zipf): a refresh re-reads thousands of texts
def is_identifier(token: str) -> bool:
    """SKU codes, ticket and PO numbers, clause numbers: a digit plus a letter or separator, or a long
    number. Years and small counts are not identifiers."""
    has_digit = any(c.isdigit() for c in token)
    if not has_digit:
        return False
    if token.isdigit():
        return len(token) >= 5
    if _SEPARATORS.search(token):
        return True
    return len(token) >= 4 and any(c.isalpha() for c in token)


def tokenize(text: str) -> list[str]:
    """Lexical tokens of ``text`` in order (identifiers whole, then their parts)."""
    out: list[str] = []
    for raw in _TOKEN.findall(text.lower()):
        if raw.isalnum():  # the common case, a plain word or number: no separator, no comma
            if raw not in _STOP:
                out.append(_word(raw))
            continue
        if "," in raw and raw[0].isdigit():
            out.append(raw.replace(",", ""))  # 48,000 -> 48000, as amounts are written in exports
            continue
        parts = _SEPARATORS.split(raw)
        if len(parts) > 1:
            out.append(raw)
            out.extend(_word(p) for p in parts if p and p not in _STOP)
        elif raw not in _STOP:
            out.append(_word(raw))
    return out


def identifiers(text: str) -> list[str]:
    """The identifier tokens of ``text``, in order, without repeats."""
    seen: dict[str, None] = {}
    for raw in _TOKEN.findall(text.lower()):
        if raw.isalpha():  # no digit: never an identifier
            continue
        if raw[0].isdigit():
            raw = raw.replace(",", "")
        if is_identifier(raw):
            seen.setdefault(raw, None)
    return list(seen)


@functools.lru_cache(maxsize=1 << 16)
def _word(token: str) -> str:
    if token.isalpha():
        return str(_stemmer.stemWord(token))
    return token


@dataclass(frozen=True)
class Bm25Part:
    """BM25 scores of a run of rows as a token-major sparse matrix (CSC): for token ``t`` (its position
    in the sorted ``vocab``), ``data[indptr[t]:indptr[t + 1]]`` are its scores in rows ``indices[...]``
    (relative to the part's first row, ascending within a token). Scores are precomputed, as bm25s
    does (Lucene variant)."""

    vocab: StringTable
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_docs: int

    def df(self, token: str) -> int:
        t = self.vocab.find(token)
        return 0 if t < 0 else int(self.indptr[t + 1] - self.indptr[t])

    def df_many(self, tokens: Sequence[str]) -> np.ndarray:
        t = self.vocab.find_many(tokens)
        known = t >= 0
        out = np.zeros(len(tokens), np.int64)
        out[known] = self.indptr[t[known] + 1] - self.indptr[t[known]]
        return out

    def add_scores(self, out: np.ndarray, tokens: Sequence[str], rows: np.ndarray | None = None) -> None:
        """Add the part's score of each of ``tokens`` (repeats count again) to ``out``, in order.

        Without ``rows``, ``out`` has a score per row of the part. With ``rows`` (ascending row numbers
        of the part), ``out`` is aligned with them, and a token costs O(min(df, len(rows)) · log):
        a long posting list is probed at ``rows`` rather than read whole, so a query over the rows one
        rep may see does not pay for the whole corpus's common words.
        """
        for tok in tokens:
            t = self.vocab.find(tok)
            if t < 0:
                continue
            start, end = int(self.indptr[t]), int(self.indptr[t + 1])
            if rows is None:
                out[self.indices[start:end]] += self.data[start:end]
            elif len(rows) and end > start:
                posting = self.indices[start:end]
                if end - start <= len(rows):  # each posting row looked up among ``rows``
                    at = np.searchsorted(rows, posting)
                    at[at == len(rows)] = 0
                    hit = rows[at] == posting
                    out[at[hit]] += self.data[start:end][hit]
                else:  # each of ``rows`` looked up in the posting list
                    at = np.searchsorted(posting, rows)
                    at[at == len(posting)] = 0
                    hit = posting[at] == rows
                    out[hit] += self.data[start + at[hit]]


@dataclass(frozen=True)
class Bm25Stats:
    """Corpus statistics the scores were computed with: row count and mean token length."""

    n_docs: int
    avgdl: float


class LexicalIndex:
    """BM25 over the chunk texts, scored under a visibility mask.

    One part for the rows of a full build; a later part for rows added by an incremental refresh is
    scored with the base's statistics (``stats``), so its scores stay comparable with the base's.
    Scores equal bm25s's (k1, b, Lucene IDF, float32) for a single part: tests/test_lexical_index.py.
    """

    def __init__(
        self, parts: Sequence[Bm25Part], stats: Bm25Stats, *, k1: float = 0.9, b: float = 0.4
    ) -> None:
        self.parts = list(parts)
        self.stats = stats
        self.k1, self.b = k1, b
        self._size = sum(p.n_docs for p in self.parts)

    @classmethod
    def build(cls, texts: Iterable[str], *, k1: float = 0.9, b: float = 0.4) -> LexicalIndex:
        part, stats = build_part(texts, k1=k1, b=b)
        return cls([part], stats, k1=k1, b=b)

    def with_part(self, texts: Iterable[str]) -> LexicalIndex:
        """This index plus a part of more rows, scored with this index's statistics."""
        part, _ = build_part(texts, k1=self.k1, b=self.b, base=self)
        return LexicalIndex([*self.parts, part], self.stats, k1=self.k1, b=self.b)

    def __len__(self) -> int:
        return self._size

    def df(self, token: str) -> int:
        return sum(p.df(token) for p in self.parts)

    def df_many(self, tokens: Sequence[str]) -> np.ndarray:
        """Document frequency of each of ``tokens`` (a refresh looks up every new word at once)."""
        return np.asarray(np.sum([p.df_many(tokens) for p in self.parts], axis=0, dtype=np.int64))

    def scores(self, query: str, rows: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every text (or of ``rows``) for ``query`` (zeros when no query word is in the
        corpus)."""
        return self.scores_of_tokens(tokenize(query), rows)

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each distinct token (0 for words not in the corpus)."""
        out: dict[str, float] = {}
        for tok in tokens:
            df = self.df(tok) if self._size else 0
            out[tok] = float(np.log(1 + (self._size - df + 0.5) / (df + 0.5))) if df else 0.0
        return out

    def scores_of_tokens(self, tokens: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every text for already tokenized query words; with ``rows`` (ascending), the
        scores of those rows only, in their order — the same numbers, at a cost that follows
        ``len(rows)`` rather than the corpus (:meth:`Bm25Part.add_scores`)."""
        if rows is None:
            out = np.zeros(self._size, np.float32)
            start = 0
            for part in self.parts:
                part.add_scores(out[start : start + part.n_docs], tokens)
                start += part.n_docs
            return out
        rows = np.asarray(rows, np.int64)
        out = np.zeros(len(rows), np.float32)
        start = 0
        for part in self.parts:
            lo, hi = np.searchsorted(rows, [start, start + part.n_docs])
            if hi > lo:
                part.add_scores(out[lo:hi], tokens, rows[lo:hi] - start)
            start += part.n_docs
        return out


COUNT_TOKENS = 1 << 20  # tokens of a block of rows counted at once


def build_part(
    texts: Iterable[str], *, k1: float, b: float, base: LexicalIndex | None = None, spill: Path | None = None
) -> tuple[Bm25Part, Bm25Stats]:
    """The BM25 matrix of ``texts``. Without ``base`` its statistics are its own; with ``base``,
    document frequencies add the base's and the row count and mean length are the base's.

    The texts are read once: each block of rows becomes (row, token, term frequency) triples, in
    memory or, with ``spill`` (a folder), in scratch files there; the token-major matrix is then
    filled a range of tokens at a time (:func:`grouped`), so no step holds all of them sorted. With
    ``spill`` its ``indices`` and ``data`` are written to ``bm25.indices.npy`` / ``bm25.data.npy``.
    """
    vocab = Interner()
    vocab.code("")  # an empty text counts as one empty token, as in bm25s
    docs, toks = Spool(np.int32, spill, "scratch.bm25.doc"), Spool(np.int32, spill, "scratch.bm25.tok")
    tfs = Spool(np.float32, spill, "scratch.bm25.tf")
    try:
        lengths, df = _count_terms(texts, vocab, docs, toks, tfs)
        table, rank = vocab.ranks()
        n_docs, n_vocab = len(lengths), len(vocab)
        doc_len = np.frombuffer(lengths, np.int32) if n_docs else np.zeros(0, np.int32)
        df = sort_counts(df, rank)
        if base is None:
            stats = Bm25Stats(n_docs, float(doc_len.mean()) if n_docs else 1.0)
            total_df = df.tolist()
        else:
            stats = base.stats
            total_df = (np.asarray(df, np.int64) + base.df_many(list(table))).tolist()
        n = stats.n_docs
        idf = np.array([math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in total_df], np.float32)
        indptr = np.zeros(n_vocab + 1, np.int64)
        np.cumsum(df, out=indptr[1:])
        indices, data = Spool(np.int32, spill, "bm25.indices"), Spool(np.float32, spill, "bm25.data")
        for tok, (doc, tf) in grouped(toks, (docs, tfs), rank, indptr, spill, "bm25"):
            # The Lucene variant in float64, stored as float32, exactly as bm25s computes it.
            norm = k1 * ((1 - b) + b * doc_len[doc].astype(np.float64) / stats.avgdl)
            tf64 = tf.astype(np.float64)
            indices.append(doc)
            data.append(idf[tok].astype(np.float64) * (tf64 / (norm + tf64)))
        return Bm25Part(table, indptr, indices.finish(), data.finish(), n_docs), stats
    finally:
        for spool in (docs, toks, tfs):
            spool.discard()


def _count_terms(
    texts: Iterable[str], vocab: Interner, docs: Spool, toks: Spool, tfs: Spool
) -> tuple[array[int], np.ndarray]:
    """Tokenize ``texts`` into ``vocab``; append each row's distinct (row, token, count) in blocks of
    rows. Returns the token count of each row and each token's document frequency (by token code)."""
    lengths = array("i")
    pending = array("i")  # token codes of the rows not yet counted
    df = np.zeros(0, np.int64)
    first = 0  # the first row not yet counted

    def count() -> None:
        nonlocal df, first, pending
        rows = len(lengths) - first
        if not rows:
            return
        width = len(vocab)
        local = np.repeat(np.arange(rows, dtype=np.int64), np.frombuffer(lengths, np.int32)[first:])
        keys, counts = np.unique(local * width + np.frombuffer(pending, np.int32), return_counts=True)
        tok = (keys % width).astype(np.int32)
        docs.append((keys // width).astype(np.int32) + np.int32(first))
        toks.append(tok)
        tfs.append(counts.astype(np.float32))
        df, first, pending = add_counts(df, tok, width), len(lengths), array("i")

    for text in texts:
        before = len(pending)
        pending.extend(vocab.code(tok) for tok in tokenize(text))
        if len(pending) == before:
            pending.append(0)
        lengths.append(len(pending) - before)
        if len(pending) >= COUNT_TOKENS:
            count()
    count()
    return lengths, df
