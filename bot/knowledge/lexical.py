"""Words for BM25: a tokenizer that keeps identifiers whole, and the BM25 index over chunks.

``AX-PRO-2``, ``TKT-2291``, ``PO 7700012345`` and clause ``9.4`` stay single tokens (and also give
their parts), because default word splitting breaks them into pieces that match everything.
Plain words are lower-cased, stop words dropped and the rest stemmed (Snowball English).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

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


class LexicalIndex:
    """BM25 (bm25s) over a fixed list of texts, scored under a visibility mask."""

    def __init__(self, texts: Sequence[str], *, k1: float = 0.9, b: float = 0.4) -> None:
        self._size = len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        # Token ids in compact int arrays (4 bytes a token), not lists of strings: at 100k chunks
        # the string lists alone took ~400 MB at peak.
        vocab: dict[str, int] = {"": 0}
        ids = [array("i", [vocab.setdefault(tok, len(vocab)) for tok in tokenize(t)] or [0]) for t in texts]
        if ids:
            self._bm25.index((ids, vocab), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query`` (zeros when no query word is in the corpus)."""
        return self.scores_of_tokens(tokenize(query))

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each distinct token (0 for words not in the corpus)."""
        vocab, indptr = self._bm25.vocab_dict, self._bm25.scores.get("indptr") if self._size else None
        out: dict[str, float] = {}
        for tok in tokens:
            tid = vocab.get(tok) if indptr is not None else None
            df = int(indptr[tid + 1] - indptr[tid]) if tid is not None and indptr is not None else 0
            out[tok] = float(np.log(1 + (self._size - df + 0.5) / (df + 0.5))) if df else 0.0
        return out

    def scores_of_tokens(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every text for already tokenized query words."""
        if self._size == 0:
            return np.zeros(0, np.float32)
        ids = self._bm25.get_tokens_ids(list(tokens))
        if not ids:
            return np.zeros(self._size, np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), np.float32)
