"""Hybrid search: BM25 and dense over the visible chunks, fused, routed and deduplicated by source.

What moves quality on CRM data (docs/retrieval.md) is structure, so on top of the fusion:
- identifier routing: records that contain an identifier from the query verbatim come first, then
  their parent deal and account;
- entity scoping: a question naming an account searches that account's records (plus docs), with
  the name taken out of the lexical query so it stops matching every note equally;
- overview questions ("catch me up on X") get the account, its deals, contacts and latest notes.
For questions in the rep's own words (docs/retrieval.md, measured lever by lever): a sales-vocabulary
expansion of the BM25 query (expansion.py), parent propagation from account and deal records
(hierarchy.py), optional LLM paraphrases (rewrite.py, ``rewrites=``) and an optional 👍/👎 prior
(feedback.py); title-field scoring (fields.py) and pseudo-relevance feedback (prf.py) are kept off.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.identity.viewer import Viewer
from bot.knowledge.embedder import Embedder
from bot.knowledge.expansion import expansion_tokens
from bot.knowledge.feedback import FeedbackPrior
from bot.knowledge.fields import boost_title_matches
from bot.knowledge.hierarchy import propagate_parents
from bot.knowledge.index import SearchIndex, top_sources
from bot.knowledge.lexical import identifiers, tokenize
from bot.knowledge.prf import feedback_terms, rocchio

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
    identifier_max_sources: int = 10  # a token found in more records than this identifies nothing
    identifier_boost: float = 2.0  # added to fused scores in [0, 1]: 2.0 puts exact matches first
    # Levers for paraphrased questions (docs/retrieval.md), defaults picked on the sample's tuning queries:
    expansion_weight: float = 0.5  # weight of the sales-vocabulary BM25 query (bot/knowledge/expansion.py)
    account_weight: float = 0.3  # a record gains this × its account record's fused score (hierarchy.py)
    deal_weight: float = 0.3  # ... and this × its deal record's fused score
    title_weight: float = 0.0  # up to this when the title holds the query's words (fields.py; off: no gain)
    prf_docs: int = 0  # pseudo-relevance feedback from the first pass's top rows (prf.py; off: no gain)
    prf_terms: int = 0  # RM3-style: this many feedback words as an extra BM25 query ...
    prf_term_weight: float = 0.3  # ... at this weight
    rewrite_weight: float = 0.5  # the LLM's paraphrases together add this × their mean score
    feedback_weight: float = 0.0  # a candidate gains this × its source's 👍/👎 prior (feedback.py; off:
    # replayed feedback did not help questions it was not given for, docs/retrieval.md)
    prf_weight: float = 0.0  # Rocchio: the query vector moves this far toward the rows' centroid


def _minmax(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        return np.ones_like(scores)
    return (scores - lo) / (hi - lo)


class _AccountNames:
    """Ways a question may name each of a set of accounts, longest first, and a quick way to find
    the few accounts a question can name at all.

    The full name and the name without corporate suffixes match in any case ("acme corp"); a
    shorter leading part ("Ridgeback" for "Ridgeback Outdoor Supply") only when written capitalized,
    as a proper noun, and only when no other account starts the same way. An account is tried only
    when the question holds, case-folded, the first word of one of its names: with tens of
    thousands of accounts visible (an admin), a question is not matched against every pattern.
    """

    def __init__(self, accounts: Sequence[tuple[str, str]]) -> None:
        firsts: dict[str, int] = {}
        cores: dict[str, list[str]] = {}
        for account_id, name in accounts:
            words = name.split()
            core = [w for w in words if w.lower().strip(",.") not in _SUFFIXES] or words
            cores[account_id] = core
            for n in range(1, len(core)):
                firsts[" ".join(core[:n])] = firsts.get(" ".join(core[:n]), 0) + 1
        self.names: list[tuple[str, list[tuple[str, bool]]]] = []  # (account id, [(name, any case)])
        self.by_word: dict[str, list[int]] = {}
        for account_id, name in accounts:
            core = cores[account_id]
            names = [(v, True) for v in sorted({name, " ".join(core)}, key=len, reverse=True) if len(v) >= 3]
            for n in range(len(core) - 1, 0, -1):
                prefix = " ".join(core[:n])
                if firsts.get(prefix) == 1 and len(prefix) >= 4 and prefix[0].isupper():
                    names.append((prefix, False))
            for word in {v.split()[0].casefold() for v, _ in names if v.split()}:
                self.by_word.setdefault(word, []).append(len(self.names))
            self.names.append((account_id, names))

    def candidates(self, query: str) -> list[tuple[str, list[re.Pattern[str]]]]:
        """The accounts (in order) whose names' first words occur in ``query``, with their patterns."""
        lowered = query.casefold()
        picked = sorted({i for word, ids in self.by_word.items() if word in lowered for i in ids})
        return [(self.names[i][0], [_name_pattern(v, any_case) for v, any_case in self.names[i][1]])
                for i in picked]  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _name_pattern(name: str, any_case: bool) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(name)}(?:'s)?(?!\w)", re.IGNORECASE if any_case else 0)


class HybridSearcher:
    """``search(query, viewer=, k=)``; the index comes from a callable so a fresh one is picked up."""

    def __init__(
        self, index: Callable[[], SearchIndex], embedder: Embedder, *, tuning: SearchTuning | None = None
    ) -> None:
        self._index = index
        self._embedder = embedder
        self.tuning = tuning or SearchTuning()
        self.feedback: Callable[[], FeedbackPrior] | None = None  # the org's 👍/👎 prior, when wired

    def search(
        self,
        query: str,
        *,
        viewer: Viewer,
        k: int = 10,
        embedder: Embedder | None = None,
        rewrites: Sequence[str] = (),
    ) -> list[Hit]:
        """The ``k`` best sources ``viewer`` may read. ``embedder`` overrides the default one for
        this query (the privacy route may require the question to be embedded elsewhere).
        ``rewrites`` (the LLM's paraphrases, bot/knowledge/rewrite.py) are ranked under the same mask
        and add ``rewrite_weight`` × their mean score; overviews keep their hierarchy."""
        index = self._index()
        if len(index) == 0 or not query.strip():
            return []
        mask = index.visible(viewer)
        scores = self.rank(index, query, mask, k=k, embedder=embedder)
        alternatives = [r for r in rewrites if r.strip()] if not _OVERVIEW.search(query) else []
        for alternative in alternatives:
            for row, score in self.rank(index, alternative, mask, k=k, embedder=embedder).items():
                scores[row] = scores.get(row, 0.0) + self.tuning.rewrite_weight * score / len(alternatives)
        return self._dedupe(index, scores, k)

    # --- ranking ----------------------------------------------------------------------------------------

    def rank(
        self,
        index: SearchIndex,
        query: str,
        mask: np.ndarray,
        *,
        k: int = 10,
        embedder: Embedder | None = None,
    ) -> dict[int, float]:
        """Fused score per row, over the rows ``mask`` allows."""
        t = self.tuning
        lexical_query = query
        named: list[str] = []
        if t.structure:
            scoped, lexical_query, named = self._scope(index, query, mask)
            if scoped is not None:
                if _OVERVIEW.search(query):
                    return self._overview(index, scoped, mask)
                mask = mask & scoped
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return {}
        lq = lexical_query or query
        lex = self._lexical(index, lq, rows) if t.fusion != "dense" else None
        qvec = (embedder or self._embedder).embed([query])[0] if t.fusion != "bm25" else None
        fused = self._fuse(index, rows, k, lex, qvec)
        if t.prf_docs > 0 and (t.prf_terms > 0 or t.prf_weight > 0) and fused:
            top = sorted(fused.items(), key=lambda pair: -pair[1])[: t.prf_docs]
            if lex is not None and t.prf_terms > 0:
                terms = feedback_terms(index, top, t.prf_terms, exclude=set(tokenize(lq)))
                if terms:
                    lex = lex + t.prf_term_weight * index.lexical.scores_of_tokens(terms, rows)
            if qvec is not None and t.prf_weight > 0:
                qvec = rocchio(index, qvec, [row for row, _ in top], t.prf_weight)
            fused = self._fuse(index, rows, k, lex, qvec)
        if t.structure:
            self._route_identifiers(index, query, mask, fused)
            if t.title_weight > 0:
                boost_title_matches(index, fused, tokenize(lexical_query or query), t.title_weight)
            if t.account_weight > 0 or t.deal_weight > 0:
                propagate_parents(index, fused, account=t.account_weight, deal=t.deal_weight, named=named)
        if self.feedback is not None and t.feedback_weight > 0:
            self.feedback().apply(index, fused, t.feedback_weight)
        return fused

    def _lexical(self, index: SearchIndex, lexical_query: str, rows: np.ndarray) -> np.ndarray:
        """BM25 of each of ``rows``: the question, plus the sales-vocabulary expansion at its lower
        weight. Only the viewer's rows are scored, so the cost follows what they may see."""
        lex = index.lexical.scores(lexical_query, rows)
        extra = expansion_tokens(lexical_query) if self.tuning.expansion_weight > 0 else []
        if extra:
            lex = lex + self.tuning.expansion_weight * index.lexical.scores_of_tokens(extra, rows)
        return lex

    def _fuse(
        self, index: SearchIndex, rows: np.ndarray, k: int, lex: np.ndarray | None, qvec: np.ndarray | None
    ) -> dict[int, float]:
        t = self.tuning
        n = max(t.candidates, k)
        lists: list[tuple[np.ndarray, np.ndarray, float]] = []
        if lex is not None:  # aligned with ``rows``
            hit = lex > 0
            lists.append((*top_sources(rows[hit], lex[hit], n, index.source_codes), 1.0 - t.dense_weight))
        if qvec is not None:
            lists.append((*index.dense_top(qvec, rows, n), t.dense_weight))
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

    def _scope(
        self, index: SearchIndex, query: str, mask: np.ndarray
    ) -> tuple[np.ndarray | None, str, list[str]]:
        """Rows of the visible accounts the query names (plus docs), the query without the names, and
        the ids of the named accounts."""
        # Only visible accounts: a hidden account's name must not shape (or reveal) anything.
        remaining = query
        named: list[str] = []
        for account_id, patterns in _account_names(index, mask).candidates(query):
            for pattern in patterns:
                if pattern.search(remaining):
                    named.append(account_id)
                    remaining = pattern.sub(" ", remaining)
                    break
        if not named:
            return None, query, []
        scoped = index.docs.copy()
        for account_id in named:
            scoped[index.rows_of_account(account_id)] = True
        return scoped, remaining, named

    def _route_identifiers(
        self, index: SearchIndex, query: str, mask: np.ndarray, fused: dict[int, float]
    ) -> None:
        """Records holding a query identifier verbatim go first; their parent deal and account next."""
        bonus: dict[int, float] = {}
        for ident in identifiers(query):
            rows = index.rows_with_identifier(ident, max_sources=self.tuning.identifier_max_sources)
            for row in rows.tolist():
                if mask[row]:
                    bonus[row] = bonus.get(row, 0.0) + self.tuning.identifier_boost
        parents: dict[int, float] = {}
        for row in list(bonus):
            _, _, account_id, deal_id = index.brief(row)
            for key in (f"deal:{deal_id}", f"account:{account_id}"):
                for parent in index.rows_of_source(key).tolist():
                    if mask[parent] and parent not in bonus:
                        parents[parent] = self.tuning.identifier_boost / 2
        for row, extra in (bonus | parents).items():
            fused[row] = fused.get(row, 0.0) + extra

    def _overview(self, index: SearchIndex, scoped: np.ndarray, mask: np.ndarray) -> dict[int, float]:
        """The account, its deals, a few contacts and the latest notes, in that order."""
        rows = np.flatnonzero(scoped & mask & ~index.docs).tolist()
        types = {row: index.meta(row).source_type for row in rows}
        order = {"account": 0, "deal": 1, "contact": 2, "note": 3}
        contacts = 0
        ranked: list[int] = []
        for row in sorted(rows, key=lambda r: (order.get(types[r], 9), _recency(index, r))):
            if types[row] == "contact":
                contacts += 1
                if contacts > 3:
                    continue
            ranked.append(row)
        return {row: 1.0 - i / (len(ranked) + 1) for i, row in enumerate(ranked)}

    @staticmethod
    def _dedupe(index: SearchIndex, scores: dict[int, float], k: int) -> list[Hit]:
        best: dict[str, tuple[float, int]] = {}
        for row, score in scores.items():
            key = index.source_key(row)
            if key not in best or score > best[key][0]:
                best[key] = (score, row)
        ranked = sorted(best.values(), key=lambda pair: (-pair[0], pair[1]))[:k]
        hits = []
        for score, row in ranked:
            m = index.meta(row)
            text = index.text(row)
            hits.append(
                Hit(m.source_id, m.source_type, m.title, score, text, m.deal_id, m.account_id, m.chunk_id)
            )
        return hits


def _account_names(index: SearchIndex, mask: np.ndarray) -> _AccountNames:
    """The :class:`_AccountNames` of the accounts ``mask`` allows, kept per index and visible set
    (a rep's set is the same on every question)."""
    seen = index.visible_accounts(mask)
    key = ("account-names", seen.tobytes())
    names = index.memo.get(key)
    if not isinstance(names, _AccountNames):
        if len(index.memo) >= 512:
            index.memo.clear()
        everyone = index.accounts()
        names = index.memo[key] = _AccountNames([everyone[i][:2] for i in seen.tolist()])
    return names


def _recency(index: SearchIndex, row: int) -> str:
    # Newest first: invert the ISO timestamp's sort order.
    stamp = index.meta(row).updated_at
    return "".join(chr(0x10FFFF - ord(c)) for c in stamp) if stamp else "\U0010ffff"
