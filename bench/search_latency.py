"""Search latency in process at 10k and 100k chunks, access filter leaving ~2% visible.

    .venv/bin/python -m bench.search_latency [--sizes 10000 100000] [--queries 300] [--rewrites 3]

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
from bot.knowledge.search import HybridSearcher, SearchTuning

# The paraphrase levers' cost: the same corpus and questions with them off and on (the product).
TUNINGS = {
    "paraphrase levers off": SearchTuning(expansion_weight=0.0, account_weight=0.0, deal_weight=0.0),
    "product": SearchTuning(),
}


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument(
        "--rewrites", type=int, default=0, help="also search N paraphrases (as an LLM rewrite would)"
    )
    args = ap.parse_args()
    embedder = LocalEmbedder()
    qs = queries(args.queries)
    print(
        "| chunks | search | visible to the rep | build s | query embed p50 ms | search p50 ms | p95 ms | p99 ms | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        metas, texts, vectors = corpus(n)
        t0 = time.perf_counter()
        index = SearchIndex(metas, texts, vectors)
        build = time.perf_counter() - t0
        viewers = [Viewer(REPS[i]) for i in range(0, 250, 10)]
        visible = statistics.mean(float(index.visible(v).mean()) for v in viewers)
        searchers = {
            name: HybridSearcher(lambda index=index: index, embedder, tuning=t) for name, t in TUNINGS.items()
        }
        for searcher in searchers.values():
            for q in qs[:20]:
                searcher.search(q, viewer=viewers[0], k=10)
        # The tunings take turns on every question, so a busy machine slows both alike.
        embed_ms: list[float] = []
        total_ms: dict[str, list[float]] = {name: [] for name in searchers}
        for i, q in enumerate(qs):
            t = time.perf_counter()
            embedder.embed([q])
            embed_ms.append((time.perf_counter() - t) * 1000)
            alternatives = qs[i + 1 : i + 1 + args.rewrites]
            for name, searcher in searchers.items() if i % 2 else reversed(searchers.items()):
                t = time.perf_counter()
                searcher.search(q, viewer=viewers[i % len(viewers)], k=10, rewrites=alternatives)
                total_ms[name].append((time.perf_counter() - t) * 1000)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for name, ms in total_ms.items():
            print(f"| {n:,} | {name} | {visible:.1%} | {build:.1f} | {statistics.median(embed_ms):.1f} | "
                  f"{statistics.median(ms):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} | {rss:.0f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
