"""A search process over 100k chunks loaded from a real embedded Chroma: load time, memory, latency.

    .venv/bin/python bench/store_memory.py [--chunks 100000]

Writes the synthetic corpus (bench/synthetic.py) into a fresh embedded store once (several
minutes: Chroma indexes every document for full-text search), then starts a *separate* process that
opens the store the way `closer` does, loads the index, runs searches as reps, and reports its
peak RSS — the memory a search process really needs — and the store's size on disk.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, statistics, sys, time
from bot.config import load_settings
from bot.knowledge.base import KnowledgeBase
from bench.synthetic import REPS, queries
t = time.perf_counter()
kb = KnowledgeBase.open(load_settings(chroma_path=sys.argv[1], index_refresh_seconds=3600))
index = kb.index()
load = time.perf_counter() - t
ms = []
for i, q in enumerate(queries(200)):
    t = time.perf_counter()
    kb.search(q, viewer=kb.viewer(REPS[i % 250]), k=10)
    ms.append((time.perf_counter() - t) * 1000)
ms = sorted(ms[20:])
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
print(json.dumps({"chunks": len(index), "load_s": round(load, 1), "p50_ms": round(statistics.median(ms), 1),
                  "p95_ms": round(ms[int(len(ms) * 0.95)], 1), "rss_after_mb": round(rss),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def write_store(path: Path, n: int) -> float:
    """Write ``n`` synthetic chunks into a new embedded store at ``path`` in batches (constant memory);
    seconds spent writing."""
    from bench.synthetic import corpus_batches
    from bot.config import load_settings
    from bot.knowledge.records import Access, Chunk, Record
    from bot.knowledge.store import ChunkStore

    store = ChunkStore.open(load_settings(chroma_path=path), embedder_id="all-MiniLM-L6-v2@53aa51172d14",
                            dimension=384)  # fmt: skip
    t = time.perf_counter()
    written = 0
    for metas, texts, vectors in corpus_batches(n, batch=1000):
        recs = []
        for m, text in zip(metas, texts, strict=True):
            access = Access("public" if m.visibility == "public" else "private", m.readers[0], m.readers[1:])
            recs.append(Record("note", m.chunk_id, m.title, access, (Chunk(m.chunk_id, text, 0),),
                               deal_id=m.deal_id, account_id=m.account_id))  # fmt: skip
        store.write(recs, vectors, {})
        written += len(recs)
        if written % 50_000 == 0:
            secs = time.perf_counter() - t
            print(f"  {written:,} chunks written, {secs:.0f} s ({written / secs:.0f}/s)", flush=True)
    store.bump_generation()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--store", type=Path, help="reuse (or create) a store here instead of a temp folder")
    ap.add_argument("--build-only", action="store_true", help="write the store (with --store) and stop")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "chroma"
        if not path.exists():
            secs = write_store(path, args.chunks)
            print(f"wrote {args.chunks:,} chunks in {secs:.0f} s ({args.chunks / secs:.0f}/s)", flush=True)
        if args.build_only:
            return
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True
        )
        report = json.loads(out.stdout.strip().splitlines()[-1])
        report["disk_mb"] = round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
