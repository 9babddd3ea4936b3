"""Retrieval quality on the sample company's labeled queries, stage by stage and lever by lever.

    .venv/bin/python -m bench.sample_quality

Ingests the sample into a temp store, then scores each stage on bot/sample_data/queries.jsonl (46
queries by kind; "forbidden" queries count leaks) and on queries_heldout.jsonl (26 paraphrases in
other reps' words, written before the paraphrase levers and never tuned on). The first set was used
while developing the structure rules and the paraphrase levers, so it is a regression check; the
held-out set and SciFact (bench/scifact.py) are the honest numbers.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bot.config import load_settings
from bot.eval.labeled import LabeledQuery, load_labeled, score_labeled
from bot.eval.metrics import evaluate
from bot.knowledge.base import SAMPLE_DIR, KnowledgeBase, tuning_of
from bot.knowledge.search import SearchTuning

ADMIN = "ines.marchetti@brindlewood.example"
KINDS = ["identifier", "keyword", "doc", "overview", "paraphrase"]


def stages(product: SearchTuning) -> dict[str, SearchTuning]:
    before = dataclasses.replace(product, expansion_weight=0.0, account_weight=0.0, deal_weight=0.0)
    return {
        "BM25 alone": dataclasses.replace(before, fusion="bm25", structure=False),
        "dense alone": dataclasses.replace(before, fusion="dense", structure=False),
        "RRF (k=60)": dataclasses.replace(before, fusion="rrf", structure=False),
        "convex fusion": dataclasses.replace(before, structure=False),
        "convex + structure (before the paraphrase levers)": before,
        "+ sales-vocabulary expansion": dataclasses.replace(
            before, expansion_weight=product.expansion_weight
        ),
        "+ parent propagation alone (no expansion)": dataclasses.replace(product, expansion_weight=0.0),
        "**product: structure + expansion + parent propagation**": product,
        "product + title field (not adopted)": dataclasses.replace(product, title_weight=0.1),
        "product + RM3 terms, 5 rows, 10 words (not adopted)": dataclasses.replace(
            product, prf_docs=5, prf_terms=10, prf_term_weight=0.3
        ),
        "product + Rocchio, 5 rows, 0.5 (not adopted)": dataclasses.replace(
            product, prf_docs=5, prf_weight=0.5
        ),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(chroma_path=Path(tmp) / "chroma", admin_emails=ADMIN)
        kb = KnowledgeBase.open(settings)
        kb.ingest_sample()
        tune = load_labeled(SAMPLE_DIR / "queries.jsonl")
        held = load_labeled(SAMPLE_DIR / "queries_heldout.jsonl")
        print(
            "| stage | nDCG@10 | Recall@10 | "
            + " | ".join(KINDS)
            + " | paraphrase R@10 | held-out paraphrase nDCG@10 | held-out R@10 | leaks |"
        )
        print("|---" * (len(KINDS) + 7) + "|")
        for name, tuning in stages(tuning_of(settings)).items():
            kb.searcher.tuning = tuning
            r, h = score_labeled(kb, tune), score_labeled(kb, held)
            per_kind = " | ".join(f"{r.by_kind[k]['ndcg@10']:.3f}" for k in KINDS)
            print(
                f"| {name} | {r.overall['ndcg@10']:.3f} | {r.overall['recall@10']:.3f} | {per_kind} "
                f"| {r.by_kind['paraphrase']['recall@10']:.3f} | {h.overall['ndcg@10']:.3f} "
                f"| {h.overall['recall@10']:.3f} | {len(r.leaks) + len(h.leaks)} |",
                flush=True,
            )
        kb.searcher.tuning = tuning_of(settings)
        print("\n| rewrite simulation | nDCG@10 | Recall@10 |\n|---|---|---|")
        rewrite_simulation(kb, tune, held)
        print("\n| multi-vector trial (not adopted) | nDCG@10 | held-out nDCG@10 |\n|---|---|---|")
        multi_vector_trial(kb, tune, held)


def rewrite_simulation(kb: KnowledgeBase, tune: list[LabeledQuery], held: list[LabeledQuery]) -> None:
    """What multi-query search gains when the "rewrite" is another rep's wording of the same fact.

    The first 12 held-out paraphrases restate the 12 tuning paraphrases, in order. Searching each with
    its counterpart as the rewrite (both directions) stands in for an LLM that paraphrases as well as
    a colleague; no model that runs offline here can, so this is the measurable proxy.
    """
    pairs = list(zip([q for q in tune if q.kind == "paraphrase"], held[:12], strict=True))
    for label, use in (("question alone", False), ("question + counterpart as rewrite", True)):
        runs: dict[str, list[str]] = {}
        qrels: dict[str, dict[str, int]] = {}
        for n, (a, b) in enumerate(pairs):
            for side, (q, other) in enumerate(((a, b), (b, a))):
                hits = kb.search(q.query, viewer=kb.viewer(q.as_email), k=100,
                                 rewrites=[other.query] if use else [])  # fmt: skip
                qid = f"{n}.{side}"
                runs[qid] = [f"{h.source_type}:{h.source_id}" for h in hits]
                qrels[qid] = {key: 1 for key in q.relevant}
        m = evaluate(runs, qrels)
        print(f"| rewrite simulation: {label} (24 questions) | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} |")


def multi_vector_trial(kb: KnowledgeBase, tune: list[LabeledQuery], held: list[LabeledQuery]) -> None:
    """Records as two vectors, subject line (title) and body: dense score = max of the two, or body +
    w × title. A trial on the loaded index only (the store keeps one vector per chunk)."""
    index = kb.index()
    titles = kb.embedder.embed([m.title for m in index.metas])
    body_scores = index.dense_scores
    variants: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "max(body, title)": lambda q, rows: np.maximum(body_scores(q, rows), titles[rows] @ q),
        "body + 0.3 × title": lambda q, rows: (body_scores(q, rows) + 0.3 * (titles[rows] @ q)) / 1.3,
        "body + 0.5 × title": lambda q, rows: (body_scores(q, rows) + 0.5 * (titles[rows] @ q)) / 1.5,
    }
    try:
        for name, scores in variants.items():
            index.dense_scores = scores  # type: ignore[method-assign]
            r, h = score_labeled(kb, tune), score_labeled(kb, held)
            print(
                f"| multi-vector {name} | {r.overall['ndcg@10']:.3f} | {h.overall['ndcg@10']:.3f} |",
                flush=True,
            )
    finally:
        index.dense_scores = body_scores  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
