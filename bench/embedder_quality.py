"""The int8 embedder against the fp32 one: vector agreement on real texts, and SciFact retrieval.

    .venv/bin/python -m bench.embedder_quality [--data ../shared/data/scifact]

Texts: every chunk of the sample company (CRM and docs) and every SciFact abstract (5,183). For each
text, the cosine between its fp32 and its int8 vector (worst, 1st percentile, mean). Then SciFact
test (300 queries) with the product's search settings, once with each embedder: nDCG@10, MRR@10,
Recall@10/100, for the product's fusion and for dense alone. Vectors are cached by model id and text
(CACHE_DIR/embeddings.sqlite), so a rerun embeds nothing; the first run embeds the corpus twice.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from bench.embedder_throughput import sample_chunks
from bot.config import load_settings
from bot.eval.beir import load_beir
from bot.eval.retrieval import build_index, doc_text, embed_all, score
from bot.knowledge.base import tuning_of
from bot.knowledge.embedder import CachedEmbedder, LocalEmbedder

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "scifact")
    args = ap.parse_args()
    settings = load_settings()
    cache = settings.cache_dir / "embeddings.sqlite"
    embedders = {
        p: CachedEmbedder(LocalEmbedder(precision=p, cache_dir=settings.cache_dir), cache)
        for p in ("fp32", "int8")
    }
    test = load_beir(args.data, split="test")
    sets = {"sample company chunks": sample_chunks(1),
            "SciFact abstracts": [doc_text(*test.corpus[i]) for i in test.corpus]}  # fmt: skip
    for name, texts in sets.items():
        a, b = (embed_all(e, texts, progress=True) for e in embedders.values())
        cos = (a * b).sum(axis=1)
        print(f"{name} ({len(texts)}): cosine int8 vs fp32 worst {cos.min():.4f}, "
              f"1st percentile {np.percentile(cos, 1):.4f}, mean {cos.mean():.4f}", flush=True)  # fmt: skip
    product = tuning_of(settings)
    stages = {
        "product": product,
        "dense alone": dataclasses.replace(product, fusion="dense", structure=False),
    }
    print("| SciFact test | embedder | nDCG@10 | MRR@10 | Recall@10 | Recall@100 |")
    print("|---|---|---|---|---|---|")
    for stage, tuning in stages.items():
        for precision, embedder in embedders.items():
            index = build_index(test, embedder, k1=settings.search_bm25_k1, b=settings.search_bm25_b)
            m = score(index, test, embedder, tuning)
            print(f"| {stage} | {precision} | {m['ndcg@10']:.4f} | {m['mrr@10']:.4f} | {m['recall@10']:.4f} | "
                  f"{m['recall@100']:.4f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
