"""Field-aware scoring: a query word found in a record's title counts again.

A note's subject line ("Discount approval – Halvorsen Edison"), a deal's name and a doc's heading path
say what the record is *about*; the body also mentions things in passing. BM25 over the whole chunk
cannot tell the two apart, so candidates whose title holds the question's words gain up to ``weight``:
the share of the query's IDF mass that the title covers. Only the candidates are re-scored (a few
hundred short titles per query), so the index needs nothing extra.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.knowledge.index import SearchIndex
from bot.knowledge.lexical import tokenize


def boost_title_matches(
    index: SearchIndex, fused: dict[int, float], tokens: Sequence[str], weight: float
) -> None:
    idf = {tok: w for tok, w in index.lexical.idf(tokens).items() if w > 0}
    total = sum(idf.values())
    if total <= 0:
        return
    for row in fused:
        title = set(tokenize(index.meta(row).title))
        covered = sum(w for tok, w in idf.items() if tok in title)
        if covered:
            fused[row] += weight * covered / total
