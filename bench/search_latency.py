"""Search latency in process at 10k and 100k chunks, access filter leaving ~2% visible.

    .venv/bin/python bench/search_latency.py [--sizes 10000 100000] [--queries 300]

Each query is the whole product path: embedding the query with the real local model, the access
mask, BM25 and dense over the visible rows, fusion, routing and dedup. Medians and p95 over the
queries after a warm-up; the machine is shared, so treat differences under ~20% as noise.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from bench.synthetic import REPS, corpus, queries
from bot.identity.viewer import Viewer
from bot.knowledge.embedder import LocalEmbedder
from bot.knowledge.index import SearchIndex
from bot.knowledge.search import HybridSearcher


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    embedder = LocalEmbedder()
    qs = queries(args.queries)
    print(
        "| chunks | visible to the rep | build s | query embed p50 ms | search p50 ms | p95 ms | p99 ms | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        metas, texts, vectors = corpus(n)
        t0 = time.perf_counter()
        index = SearchIndex(metas, texts, vectors)
        build = time.perf_counter() - t0
        searcher = HybridSearcher(lambda index=index: index, embedder)
        viewers = [Viewer(REPS[i]) for i in range(0, 250, 10)]
        visible = statistics.mean(float(index.visible(v).mean()) for v in viewers)
        for q in qs[:20]:
            searcher.search(q, viewer=viewers[0], k=10)
        embed_ms, total_ms = [], []
        for i, q in enumerate(qs):
            t = time.perf_counter()
            embedder.embed([q])
            embed_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            searcher.search(q, viewer=viewers[i % len(viewers)], k=10)
            total_ms.append((time.perf_counter() - t) * 1000)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {n:,} | {visible:.1%} | {build:.1f} | {statistics.median(embed_ms):.1f} | "
              f"{statistics.median(total_ms):.1f} | {pct(total_ms, 95):.1f} | {pct(total_ms, 99):.1f} | {rss:.0f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
