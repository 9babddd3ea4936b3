"""Retrieval quality on the sample company's labeled queries, stage by stage.

    .venv/bin/python -m bench.sample_quality

Ingests the sample into a temp store, then scores each stage on bot/sample_data/queries.jsonl
(46 queries by kind; "forbidden" queries count leaks). These queries were written with the data
and used while developing the structure rules, so they are a regression check, not a held-out
test; SciFact (bench/scifact.py) is the held-out number.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from bot.config import load_settings
from bot.eval.labeled import load_labeled, score_labeled
from bot.knowledge.base import SAMPLE_DIR, KnowledgeBase, tuning_of

ADMIN = "ines.marchetti@brindlewood.example"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(chroma_path=Path(tmp) / "chroma", admin_emails=ADMIN)
        kb = KnowledgeBase.open(settings)
        kb.ingest_sample()
        queries = load_labeled(SAMPLE_DIR / "queries.jsonl")
        product = tuning_of(settings)
        stages = {
            "BM25 alone": dataclasses.replace(product, fusion="bm25", structure=False),
            "dense alone": dataclasses.replace(product, fusion="dense", structure=False),
            "RRF (k=60)": dataclasses.replace(product, fusion="rrf", structure=False),
            "convex fusion": dataclasses.replace(product, structure=False),
            "convex + structure (product)": product,
        }
        kinds = ["identifier", "keyword", "doc", "overview", "paraphrase"]
        print("| stage | nDCG@10 | Recall@10 | " + " | ".join(f"{k} nDCG@10" for k in kinds) + " | leaks |")
        print("|---" * (len(kinds) + 4) + "|")
        for name, tuning in stages.items():
            kb.searcher.tuning = tuning
            r = score_labeled(kb, queries)
            per_kind = " | ".join(f"{r.by_kind[k]['ndcg@10']:.3f}" for k in kinds)
            print(
                f"| {name} | {r.overall['ndcg@10']:.3f} | {r.overall['recall@10']:.3f} | {per_kind} | {len(r.leaks)} |"
            )


if __name__ == "__main__":
    main()
