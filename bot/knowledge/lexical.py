"""Words for BM25: a tokenizer that keeps identifiers whole, and the BM25 index over chunks.

``AX-PRO-2``, ``TKT-2291``, ``PO 7700012345`` and clause ``9.4`` stay single tokens (and also give
their parts), because default word splitting breaks them into pieces that match everything.
Plain words are lower-cased, stop words dropped and the rest stemmed (Snowball English).
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from bot.knowledge.columns import StringTable

_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|[^\W_]+(?:[-_./:#][^\W_]+)*")
_SEPARATORS = re.compile(r"[-_./:#]")
_STOP = frozenset(STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")


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
    for match in _TOKEN.finditer(text.lower()):
        raw = match.group(0)
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
    for match in _TOKEN.finditer(text.lower()):
        raw = match.group(0).replace(",", "") if match.group(0)[0].isdigit() else match.group(0)
        if is_identifier(raw):
            seen.setdefault(raw, None)
    return list(seen)


def _word(token: str) -> str:
    if token.isalpha():
        return str(_stemmer.stemWord(token))
    return token


@dataclass(frozen=True)
class Bm25Part:
    """BM25 scores of a run of rows as a token-major sparse matrix (CSC): for token ``t`` (its position
    in the sorted ``vocab``), ``data[indptr[t]:indptr[t + 1]]`` are its scores in rows ``indices[...]``
    (relative to the part's first row). Scores are precomputed, as bm25s does (Lucene variant)."""

    vocab: StringTable
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_docs: int

    def df(self, token: str) -> int:
        t = self.vocab.find(token)
        return 0 if t < 0 else int(self.indptr[t + 1] - self.indptr[t])

    def add_scores(self, out: np.ndarray, tokens: Sequence[str]) -> None:
        """Add the part's score of each of ``tokens`` (repeats count again) to ``out``, in order."""
        for tok in tokens:
            t = self.vocab.find(tok)
            if t >= 0:
                start, end = self.indptr[t], self.indptr[t + 1]
                out[self.indices[start:end]] += self.data[start:end]


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

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query`` (zeros when no query word is in the corpus)."""
        return self.scores_of_tokens(tokenize(query))

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each distinct token (0 for words not in the corpus)."""
        out: dict[str, float] = {}
        for tok in tokens:
            df = self.df(tok) if self._size else 0
            out[tok] = float(np.log(1 + (self._size - df + 0.5) / (df + 0.5))) if df else 0.0
        return out

    def scores_of_tokens(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every text for already tokenized query words."""
        out = np.zeros(self._size, np.float32)
        start = 0
        for part in self.parts:
            part.add_scores(out[start : start + part.n_docs], tokens)
            start += part.n_docs
        return out


def build_part(
    texts: Iterable[str], *, k1: float, b: float, base: LexicalIndex | None = None
) -> tuple[Bm25Part, Bm25Stats]:
    """The BM25 matrix of ``texts``. Without ``base`` its statistics are its own; with ``base``,
    document frequencies add the base's and the row count and mean length are the base's."""
    vocab: dict[str, int] = {"": 0}  # an empty text counts as one empty token, as in bm25s
    ids = array("i")
    lengths = array("i")
    for text in texts:
        before = len(ids)
        ids.extend(vocab.setdefault(tok, len(vocab)) for tok in tokenize(text))
        if len(ids) == before:
            ids.append(0)
        lengths.append(len(ids) - before)
    n_docs, n_vocab = len(lengths), len(vocab)
    flat = np.frombuffer(ids, np.int32) if len(ids) else np.zeros(0, np.int32)
    doc_len = np.frombuffer(lengths, np.int32) if n_docs else np.zeros(0, np.int32)
    # Tokens renumbered in sorted order, so the vocabulary is a sorted string table (binary search).
    words = list(vocab)
    del vocab
    rank = np.empty(n_vocab, np.int32)
    rank[np.argsort(np.array(words, dtype=object), kind="stable")] = np.arange(n_vocab, dtype=np.int32)
    table = StringTable.of(sorted(words))
    # (row, token, term frequency) of each distinct token of each row, a block of rows at a time.
    docs, toks, tfs = [], [], []
    ends = np.cumsum(doc_len, dtype=np.int64)
    block = 50_000
    for lo in range(0, n_docs, block):
        hi = min(lo + block, n_docs)
        first, last = (ends[lo - 1] if lo else 0), ends[hi - 1]
        row = np.repeat(np.arange(lo, hi, dtype=np.int64), doc_len[lo:hi])
        keys, counts = np.unique(row * n_vocab + rank[flat[first:last]], return_counts=True)
        docs.append((keys // n_vocab).astype(np.int32))
        toks.append((keys % n_vocab).astype(np.int32))
        tfs.append(counts.astype(np.float32))
    del flat, ids
    doc = np.concatenate(docs) if docs else np.zeros(0, np.int32)
    tok = np.concatenate(toks) if toks else np.zeros(0, np.int32)
    tf = np.concatenate(tfs) if tfs else np.zeros(0, np.float32)
    del docs, toks, tfs
    df = np.bincount(tok, minlength=n_vocab)
    if base is None:
        stats = Bm25Stats(n_docs, float(doc_len.mean()) if n_docs else 1.0)
        total_df = df.tolist()
    else:
        stats = base.stats
        total_df = [int(d) + base.df(word) for d, word in zip(df.tolist(), table, strict=True)]
    n = stats.n_docs
    idf = np.array([math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in total_df], np.float32)
    # The Lucene variant in float64, stored as float32, exactly as bm25s computes it; a block at a
    # time, so the float64 temporaries stay small.
    scores = np.empty(len(tf), np.float32)
    step = 1 << 21
    for lo in range(0, len(tf), step):
        part = slice(lo, lo + step)
        norm = k1 * ((1 - b) + b * doc_len[doc[part]].astype(np.float64) / stats.avgdl)
        tf64 = tf[part].astype(np.float64)
        scores[part] = idf[tok[part]].astype(np.float64) * (tf64 / (norm + tf64))
    del tf
    order = np.argsort(tok, kind="stable")
    indptr = np.zeros(n_vocab + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    indices = doc[order]
    del doc
    data = scores[order]
    return Bm25Part(table, indptr, indices, data, n_docs), stats
