"""Pseudo-relevance feedback: the first pass's best rows lend their words and direction to a second.

Two classic forms, both over rows the viewer may read (the first pass ran under the same mask):
- RM3-style terms for BM25: the words that carry most weight in the top rows (term frequency in the
  row × IDF, summed over rows weighted by their fused score), as an extra lower-weighted BM25 query;
- Rocchio for the dense side: the query vector moved toward the centroid of the top rows' vectors.
Measured in docs/retrieval.md; both are off by default because neither helped on the labeled sets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from bot.knowledge.index import SearchIndex
from bot.knowledge.lexical import is_identifier, tokenize


def feedback_terms(
    index: SearchIndex, top: Sequence[tuple[int, float]], n_terms: int, *, exclude: set[str]
) -> list[str]:
    """The ``n_terms`` heaviest words of the ``(row, score)`` pairs in ``top``, not in ``exclude``."""
    weights: dict[str, float] = {}
    for row, score in top:
        tokens = [t for t in tokenize(index.text(row)) if t not in exclude and not is_identifier(t)]
        if not tokens:
            continue
        for tok, tf in Counter(tokens).items():
            weights[tok] = weights.get(tok, 0.0) + score * tf / len(tokens)
    idf = index.lexical.idf(list(weights))
    ranked = sorted(weights, key=lambda tok: -weights[tok] * idf.get(tok, 0.0))
    return [tok for tok in ranked[:n_terms] if idf.get(tok, 0.0) > 0]


def rocchio(index: SearchIndex, qvec: np.ndarray, rows: Sequence[int], weight: float) -> np.ndarray:
    """``qvec`` moved toward the centroid of ``rows``' vectors, unit length again."""
    moved = qvec + weight * index.vectors_of(list(rows)).mean(axis=0)
    return np.asarray(moved / max(float(np.linalg.norm(moved)), 1e-12), np.float32)
