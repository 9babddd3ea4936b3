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
from pathlib import Path

from bot.config import load_settings
from bot.eval.labeled import load_labeled, score_labeled
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


if __name__ == "__main__":
    main()
