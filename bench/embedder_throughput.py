"""The local embedder's throughput on a fixed set of real chunks, by graph and by embed window.

    .venv/bin/python -m bench.embedder_throughput [--copies 4] [--rounds 3]

The set: every chunk the sample company's CRM and docs make (what `closer ingest sample` embeds),
``--copies`` times over, in ingest order. Each mode embeds the whole set in calls of ``window``
chunks, as the ingest does (one call per window; the embedder sorts a call's texts by token length
and batches neighbours, so a wider window pads less). Modes run interleaved, ``--rounds`` times, so
a load change on a shared machine hits them alike; the figure is the median chunks/s of each mode and
its ratio to the first mode (the ingest before issue 13: fp32, a window of 64 chunks).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from bot.knowledge.base import SAMPLE_DIR
from bot.knowledge.crm import read_crm
from bot.knowledge.docs import read_docs
from bot.knowledge.embedder import Embedder, LocalEmbedder


def sample_chunks(copies: int) -> list[str]:
    records = read_crm(SAMPLE_DIR / "crm").records + read_docs(SAMPLE_DIR / "docs")[0]
    return [c.text for r in records for c in r.chunks] * copies


def rate(embedder: Embedder, texts: Sequence[str], window: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), window):
        embedder.embed(texts[start : start + window])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--windows", default="64,512", help="embed windows (chunks per call) to compare")
    args = ap.parse_args()
    texts = sample_chunks(args.copies)
    embedder = LocalEmbedder()
    embedder.embed(texts[:8])  # build the model outside the timing
    modes = [int(w) for w in args.windows.split(",")]
    rates: dict[int, list[float]] = {w: [] for w in modes}
    for _ in range(args.rounds):
        for window in modes:
            rates[window].append(rate(embedder, texts, window))
    base = statistics.median(rates[modes[0]])
    print(f"{len(texts)} chunks, {args.rounds} rounds, median chunks/s (ratio to window {modes[0]}):")
    for window, seen in rates.items():
        median = statistics.median(seen)
        print(f"  fp32, window {window:>4}: {median:6.1f} chunks/s  ({median / base:.2f}x)  runs {seen}")


if __name__ == "__main__":
    main()
