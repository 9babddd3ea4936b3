"""SciFact: each retrieval stage, with the fusion tuned on the *train* split only, reported on test.

    .venv/bin/python -m bench.scifact [--data ../shared/data/scifact] [--json] [--levers]

Stages: BM25 alone, dense alone, plain reciprocal-rank fusion, then the product's pipeline (convex
fusion + structure) with the weight and BM25 parameters picked by a grid search on train.
Document vectors come from the content-hash cache (CACHE_DIR), so reruns take seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path

from bot.config import load_settings
from bot.eval.beir import Dataset, load_beir
from bot.eval.retrieval import build_index, score
from bot.knowledge.base import make_embedder, tuning_of
from bot.knowledge.embedder import CachedEmbedder, Embedder
from bot.knowledge.search import SearchTuning

REPO = Path(__file__).resolve().parents[1]
GRID_WEIGHT = (0.3, 0.4, 0.5, 0.6, 0.7)
GRID_K1 = (0.9, 1.2, 1.5)
GRID_B = (0.4, 0.75)
GRID_BOOST = (0.25, 0.5, 1.0, 2.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "scifact")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--levers", action="store_true", help="skip the grid: each paraphrase lever on train and test"
    )
    args = ap.parse_args()
    settings = load_settings()
    embedder = CachedEmbedder(make_embedder(settings), settings.cache_dir / "embeddings.sqlite")
    train, test = load_beir(args.data, split="train"), load_beir(args.data, split="test")
    if args.levers:
        levers(
            train, test, embedder, tuning_of(settings), k1=settings.search_bm25_k1, b=settings.search_bm25_b
        )
        return

    started = time.perf_counter()
    best: tuple[float, float, float, float, float] | None = None
    for k1, b in itertools.product(GRID_K1, GRID_B):
        index = build_index(train, embedder, k1=k1, b=b)
        for w, boost in itertools.product(GRID_WEIGHT, GRID_BOOST):
            ndcg = score(index, train, embedder, SearchTuning(dense_weight=w, identifier_boost=boost))[
                "ndcg@10"
            ]
            print(f"train k1={k1} b={b} w={w} boost={boost}: nDCG@10 {ndcg:.4f}", flush=True)
            if best is None or ndcg > best[0]:
                best = (ndcg, k1, b, w, boost)
    assert best is not None
    _, k1, b, w, boost = best
    tuned_in = time.perf_counter() - started

    default_index = build_index(test, embedder)
    tuned_index = build_index(test, embedder, k1=k1, b=b)
    stages = {
        "bm25 (k1 0.9, b 0.4)": score(
            default_index, test, embedder, SearchTuning(fusion="bm25", structure=False)
        ),
        "dense (MiniLM)": score(default_index, test, embedder, SearchTuning(fusion="dense", structure=False)),
        "rrf (k=60)": score(default_index, test, embedder, SearchTuning(fusion="rrf", structure=False)),
        "convex w=0.5, no structure": score(
            default_index, test, embedder, SearchTuning(dense_weight=0.5, structure=False)
        ),
        f"tuned on train: convex w={w}, k1 {k1}, b {b}, identifier boost {boost}": score(
            tuned_index, test, embedder, SearchTuning(dense_weight=w, identifier_boost=boost)
        ),
    }
    result = {"best_on_train": {"ndcg@10": best[0], "k1": k1, "b": b, "dense_weight": w, "boost": boost},
              "tuning_seconds": round(tuned_in, 1), "test": stages}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\nbest on train: nDCG@10 {best[0]:.4f} with k1={k1} b={b} dense_weight={w} boost={boost}")
    print("| stage (SciFact test, 300 queries) | nDCG@10 | MRR@10 | Recall@10 | Recall@100 |")
    print("|---|---|---|---|---|")
    for name, m in stages.items():
        print(
            f"| {name} | {m['ndcg@10']:.4f} | {m['mrr@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} |"
        )


def levers(train: Dataset, test: Dataset, embedder: Embedder, product: SearchTuning, *, k1: float,
           b: float) -> None:  # fmt: skip
    """The product, then the product with each paraphrase lever off or on, on train (to decide) and test."""
    off = dataclasses.replace(product, expansion_weight=0.0, account_weight=0.0, deal_weight=0.0)
    rows = {
        "product before the paraphrase levers": off,
        "**product** (expansion + parent propagation)": product,
        "+ title field 0.1": dataclasses.replace(product, title_weight=0.1),
        "+ RM3 terms (5 rows, 10 words, 0.3)": dataclasses.replace(product, prf_docs=5, prf_terms=10),
        "+ Rocchio (3 rows, 0.3)": dataclasses.replace(product, prf_docs=3, prf_weight=0.3),
        "+ Rocchio (5 rows, 0.5)": dataclasses.replace(product, prf_docs=5, prf_weight=0.5),
    }
    indexes = {
        "train": build_index(train, embedder, k1=k1, b=b),
        "test": build_index(test, embedder, k1=k1, b=b),
    }
    print("| stage | train nDCG@10 | test nDCG@10 | test MRR@10 | test Recall@10 | test Recall@100 |")
    print("|---|---|---|---|---|---|")
    for name, tuning in rows.items():
        tr = score(indexes["train"], train, embedder, tuning)
        te = score(indexes["test"], test, embedder, tuning)
        print(f"| {name} | {tr['ndcg@10']:.4f} | {te['ndcg@10']:.4f} | {te['mrr@10']:.4f} | "
              f"{te['recall@10']:.4f} | {te['recall@100']:.4f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
