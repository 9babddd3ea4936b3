"""The local embedder's throughput on a fixed set of real chunks, by graph and by embed window.

    .venv/bin/python -m bench.embedder_throughput [--copies 4] [--rounds 3] [--modes fp32:64,fp32:512,int8:512]

The set: every chunk the sample company's CRM and docs make (what `closer ingest sample` embeds),
``--copies`` times over, in ingest order. Each mode embeds the whole set in calls of ``window``
chunks, as the ingest does (one call per window; the embedder sorts a call's texts by token length
and batches neighbours, so a wider window pads less). Modes run interleaved, ``--rounds`` times, so
a load change on a shared machine hits them alike; the figure is the median chunks/s of each mode and
its ratio to the first mode (the ingest before issue 13: fp32, a window of 64 chunks). A mode is
``precision:window``; int8 is the quantized graph of EMBEDDING_PRECISION=int8 (built into a temporary
cache folder before the timing).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast, get_args

from bot.knowledge.base import SAMPLE_DIR
from bot.knowledge.crm import read_crm
from bot.knowledge.docs import read_docs
from bot.knowledge.embedder import Embedder, LocalEmbedder, Precision


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
    ap.add_argument("--modes", default="fp32:64,fp32:512,int8:512", help="precision:window pairs to compare")
    args = ap.parse_args()
    texts = sample_chunks(args.copies)
    modes = [(p, int(w)) for p, _, w in (m.partition(":") for m in args.modes.split(","))]
    if unknown := {p for p, _ in modes} - set(get_args(Precision)):
        ap.error(f"unknown precision {', '.join(sorted(unknown))}: use fp32 or int8")
    with tempfile.TemporaryDirectory() as cache:
        embedders: dict[str, Embedder] = {}
        for precision, _ in modes:
            if precision not in embedders:
                embedder = LocalEmbedder(precision=cast(Precision, precision), cache_dir=Path(cache))
                embedder.embed(texts[:8])  # build the model outside the timing
                embedders[precision] = embedder
        rates: dict[tuple[str, int], list[float]] = {m: [] for m in modes}
        for _ in range(args.rounds):
            for precision, window in modes:
                rates[(precision, window)].append(rate(embedders[precision], texts, window))
    base = statistics.median(rates[modes[0]])
    first = f"{modes[0][0]}, window {modes[0][1]}"
    print(f"{len(texts)} chunks, {args.rounds} rounds, median chunks/s (ratio to {first}):")
    for (precision, window), seen in rates.items():
        median = statistics.median(seen)
        runs = ", ".join(f"{r:.1f}" for r in seen)
        print(
            f"  {precision}, window {window:>4}: {median:6.1f} chunks/s  ({median / base:.2f}x)  runs {runs}"
        )


if __name__ == "__main__":
    main()
