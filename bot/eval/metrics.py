"""Ranking metrics for retrieval evaluation, matching BEIR's numbers.

Conventions shared by every function:

* ``ranked`` is a ranking, best first. A document id repeated in it counts only at its first
  position (later copies are dropped, as if the ranker had returned each document once, which is
  all a BEIR/pytrec_eval run can express).
* ``relevant`` maps judged doc ids to graded relevance; a document is relevant when its grade is
  > 0. Grades <= 0 and unjudged documents contribute nothing.
* ``k`` is a cutoff >= 1; only the first ``k`` documents of the ranking are looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the top ``k``, with linear gains.

    This is trec_eval's / pytrec_eval's ``ndcg_cut_k`` (what BEIR reports as NDCG@k), *not* the
    exponential ``2**rel - 1`` variant: the gain of the document at 1-based rank ``i`` is its grade
    ``rel`` and its discount is ``log2(i + 1)``::

        DCG@k  = sum_{i=1..k} rel_i / log2(i + 1)
        IDCG@k = DCG@k of the judged grades sorted in decreasing order
        nDCG@k = DCG@k / IDCG@k        (0.0 when nothing is relevant)

    With binary judgments (as in SciFact) both variants give the same value.
    """
    _check_k(k)
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = _dcg(ideal)
    if idcg == 0.0:
        return 0.0
    gains = [max(relevant.get(doc, 0), 0) for doc in _top(ranked, k)]
    return _dcg(gains) / idcg


def mrr_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top ``k`` (0.0 if there is none)."""
    _check_k(k)
    for rank, doc in enumerate(_top(ranked, k), start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Fraction of the relevant documents that appear in the top ``k`` (0.0 if none is relevant)."""
    _check_k(k)
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(_top(ranked, k))) / len(wanted)


def evaluate(
    run: dict[str, list[str]], qrels: dict[str, dict[str, int]], *, ks: Sequence[int] = (10, 100)
) -> dict[str, float]:
    """Mean metrics of ``run`` (query id -> ranking) over every query in ``qrels``.

    Returns ``ndcg@k`` and ``mrr@k`` at the smallest cutoff in ``ks`` and ``recall@k`` at each
    cutoff, in that order; with the default ``ks`` the keys are ``ndcg@10``, ``mrr@10``,
    ``recall@10`` and ``recall@100``. A query of ``qrels`` missing from ``run`` scores 0 on every
    metric; queries of ``run`` that are not in ``qrels`` are ignored.
    """
    if not qrels:
        raise ValueError("qrels is empty: there is nothing to average over")
    cutoffs = sorted(set(ks))
    if not cutoffs:
        raise ValueError("ks is empty: give at least one cutoff")
    for k in cutoffs:
        _check_k(k)
    head = cutoffs[0]
    totals: dict[str, float] = {f"ndcg@{head}": 0.0, f"mrr@{head}": 0.0}
    totals.update({f"recall@{k}": 0.0 for k in cutoffs})
    for qid, relevant in qrels.items():
        ranked = run.get(qid, [])
        totals[f"ndcg@{head}"] += ndcg_at_k(ranked, relevant, head)
        totals[f"mrr@{head}"] += mrr_at_k(ranked, relevant, head)
        for k in cutoffs:
            totals[f"recall@{k}"] += recall_at_k(ranked, relevant, k)
    return {name: total / len(qrels) for name, total in totals.items()}


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"cutoff k must be a positive integer, got {k!r}")


def _top(ranked: list[str], k: int) -> list[str]:
    """The first ``k`` distinct documents of ``ranked``."""
    top: list[str] = []
    seen: set[str] = set()
    for doc in ranked:
        if doc not in seen:
            seen.add(doc)
            top.append(doc)
            if len(top) == k:
                break
    return top


def _dcg(gains: Sequence[int]) -> float:
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))
