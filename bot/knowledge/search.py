"""Hybrid search: BM25 and dense over the visible chunks, fused, routed and deduplicated by source.

What moves quality on CRM data (docs/retrieval.md) is structure, so on top of the fusion:
- identifier routing: records that contain an identifier from the query verbatim come first, then
  their parent deal and account;
- entity scoping: a question naming an account searches that account's records (plus docs), with
  the name taken out of the lexical query so it stops matching every note equally;
- overview questions ("catch me up on X") get the account, its deals, contacts and latest notes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.identity.viewer import Viewer
from bot.knowledge.embedder import Embedder
from bot.knowledge.index import SearchIndex
from bot.knowledge.lexical import identifiers

Fusion = Literal["bm25", "dense", "rrf", "convex"]
RRF_K = 60
_SUFFIXES = {"inc", "inc.", "corp", "corp.", "corporation", "co", "co.", "ltd", "ltd.", "llc", "gmbh", "plc",
             "ag", "sa", "group", "holdings", "the", "&"}  # fmt: skip
_OVERVIEW = re.compile(
    r"\b(catch me up|rundown|run-down|summary|summari[sz]e|overview|status of|what'?s going on|"
    r"where (are|do) we stand|brief me|tell me about)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Hit:
    source_id: str
    source_type: str
    title: str
    score: float
    text: str
    deal_id: str
    account_id: str
    chunk_id: str

    def as_json(self) -> dict[str, object]:
        return {
            "source_id": self.source_id,
            "source_type": self.source_type,
            "title": self.title,
            "score": round(self.score, 4),
            "text": self.text,
            "deal_id": self.deal_id,
            "account_id": self.account_id,
        }


@dataclass(frozen=True)
class SearchTuning:
    fusion: Fusion = "convex"
    dense_weight: float = 0.5
    candidates: int = 100
    structure: bool = True  # identifier routing, entity scoping, overviews


def _top(rows: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) > n:
        part = np.argpartition(-scores, n - 1)[:n]
        rows, scores = rows[part], scores[part]
    order = np.argsort(-scores, kind="stable")
    return rows[order], scores[order]


def _minmax(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        return np.ones_like(scores)
    return (scores - lo) / (hi - lo)


def _name_variants(name: str) -> list[str]:
    words = name.lower().split()
    core = [w for w in words if w.strip(",.") not in _SUFFIXES]
    variants = {" ".join(words)}
    if core and len(" ".join(core)) >= 4:
        variants.add(" ".join(core))
    return sorted(variants, key=len, reverse=True)


class HybridSearcher:
    """``search(query, viewer=, k=)``; the index comes from a callable so a fresh one is picked up."""

    def __init__(
        self, index: Callable[[], SearchIndex], embedder: Embedder, *, tuning: SearchTuning | None = None
    ) -> None:
        self._index = index
        self._embedder = embedder
        self.tuning = tuning or SearchTuning()

    def search(self, query: str, *, viewer: Viewer, k: int = 10) -> list[Hit]:
        index = self._index()
        if len(index) == 0 or not query.strip():
            return []
        mask = index.visible(viewer)
        scores = self.rank(index, query, mask)
        return self._dedupe(index, scores, k)

    # --- ranking ----------------------------------------------------------------------------------------

    def rank(self, index: SearchIndex, query: str, mask: np.ndarray) -> dict[int, float]:
        """Fused score per row, over the rows ``mask`` allows."""
        t = self.tuning
        lexical_query = query
        if t.structure:
            scoped, lexical_query = self._scope(index, query, mask)
            if scoped is not None:
                if _OVERVIEW.search(query):
                    return self._overview(index, scoped, mask)
                mask = mask & scoped
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return {}
        fused = self._fuse(index, query, lexical_query, rows)
        if t.structure:
            self._route_identifiers(index, query, mask, fused)
        return fused

    def _fuse(self, index: SearchIndex, query: str, lexical_query: str, rows: np.ndarray) -> dict[int, float]:
        t = self.tuning
        lists: list[tuple[np.ndarray, np.ndarray, float]] = []
        if t.fusion != "dense":
            lex = index.lexical.scores(lexical_query or query)[rows]
            hit = lex > 0
            lists.append((*_top(rows[hit], lex[hit], t.candidates), 1.0 - t.dense_weight))
        if t.fusion != "bm25":
            qvec = self._embedder.embed([query])[0]
            lists.append((*_top(rows, index.dense_scores(qvec, rows), t.candidates), t.dense_weight))
        fused: dict[int, float] = {}
        for top_rows, top_scores, weight in lists:
            if t.fusion == "rrf":
                contrib = 1.0 / (RRF_K + np.arange(1, len(top_rows) + 1))
            elif t.fusion == "convex":
                contrib = weight * _minmax(top_scores)
            else:
                contrib = top_scores
            for row, value in zip(top_rows.tolist(), contrib.tolist(), strict=True):
                fused[row] = fused.get(row, 0.0) + float(value)
        return fused

    # --- structure ----------------------------------------------------------------------------------------

    def _scope(self, index: SearchIndex, query: str, mask: np.ndarray) -> tuple[np.ndarray | None, str]:
        """Rows of the visible accounts the query names (plus docs), and the query without the names."""
        lowered = query.lower()
        named: list[str] = []
        for account_id, name, row in index.accounts():
            if not mask[row]:
                continue  # never let a hidden account's name shape the results
            for variant in _name_variants(name):
                pattern = re.compile(rf"(?<!\w){re.escape(variant)}(?:'s)?(?!\w)")
                if pattern.search(lowered):
                    named.append(account_id)
                    lowered = pattern.sub(" ", lowered)
                    break
        if not named:
            return None, query
        scoped = np.array([m.source_type == "doc" for m in index.metas], bool)
        for account_id in named:
            scoped[index.rows_of_account(account_id)] = True
        return scoped, lowered

    def _route_identifiers(
        self, index: SearchIndex, query: str, mask: np.ndarray, fused: dict[int, float]
    ) -> None:
        """Records holding a query identifier verbatim go first; their parent deal and account next."""
        bonus: dict[int, float] = {}
        for ident in identifiers(query):
            for row in index.rows_with_identifier(ident).tolist():
                if mask[row]:
                    bonus[row] = bonus.get(row, 0.0) + 2.0
        parents: dict[int, float] = {}
        for row in list(bonus):
            meta = index.metas[row]
            for key in (f"deal:{meta.deal_id}", f"account:{meta.account_id}"):
                for parent in index.rows_of_source(key).tolist():
                    if mask[parent] and parent not in bonus:
                        parents[parent] = 1.0
        for row, extra in (bonus | parents).items():
            fused[row] = fused.get(row, 0.0) + extra

    def _overview(self, index: SearchIndex, scoped: np.ndarray, mask: np.ndarray) -> dict[int, float]:
        """The account, its deals, a few contacts and the latest notes, in that order."""
        rows = [r for r in np.flatnonzero(scoped & mask).tolist() if index.metas[r].source_type != "doc"]
        order = {"account": 0, "deal": 1, "contact": 2, "note": 3}
        contacts = 0
        ranked: list[int] = []
        for row in sorted(rows, key=lambda r: (order.get(index.metas[r].source_type, 9), _recency(index, r))):
            if index.metas[row].source_type == "contact":
                contacts += 1
                if contacts > 3:
                    continue
            ranked.append(row)
        return {row: 1.0 - i / (len(ranked) + 1) for i, row in enumerate(ranked)}

    @staticmethod
    def _dedupe(index: SearchIndex, scores: dict[int, float], k: int) -> list[Hit]:
        best: dict[str, tuple[float, int]] = {}
        for row, score in scores.items():
            key = index.metas[row].source_key
            if key not in best or score > best[key][0]:
                best[key] = (score, row)
        ranked = sorted(best.values(), key=lambda pair: (-pair[0], pair[1]))[:k]
        hits = []
        for score, row in ranked:
            m = index.metas[row]
            text = index.texts[row]
            hits.append(
                Hit(m.source_id, m.source_type, m.title, score, text, m.deal_id, m.account_id, m.chunk_id)
            )
        return hits


def _recency(index: SearchIndex, row: int) -> str:
    # Newest first: invert the ISO timestamp's sort order.
    stamp = index.metas[row].updated_at
    return "".join(chr(0x10FFFF - ord(c)) for c in stamp) if stamp else "\U0010ffff"
