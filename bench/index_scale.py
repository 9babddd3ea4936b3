"""A search process at 10k–1M chunks: cold build, snapshot load, memory, latency, catch-up after 1%.

    .venv/bin/python -m bench.index_scale --chunks 100000 --store DIR [--server]
    .venv/bin/python -m bench.index_scale --chunks 1000000            # no store: synthetic pages

With ``--store`` (an embedded store written by ``bench.store_memory --store DIR --build-only``), each
step is a separate process that opens it the way ``closer`` does, with an empty CACHE_DIR:
1. build: the first start — a full build from Chroma, written as a snapshot (time, peak RSS);
2. serve: the next start — the snapshot memory-mapped; 200 searches as reps with the real query
   embedding (p50/p95, RSS); then 1% of the chunks are rewritten in the store and the time until the
   running index serves them is measured (and that no search failed meanwhile);
3. with ``--server``: steps 1 and 2 go through a ``chroma run`` server on the store (as a fleet's
   replicas do), and the server's own peak and current RSS are read from /proc at the end.
Without ``--store`` the index is built from the synthetic pages directly (no Chroma) by the same
``snapshot.build`` a first start uses, and step 2 runs on that snapshot without the 1% step
(``--snapshot DIR`` keeps it, and a later run with the same DIR measures step 2 only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

COMMON = r"""
import json, resource, statistics, sys, time
import numpy as np
def rss():
    status = dict(l.split(":", 1) for l in open("/proc/self/status"))
    return round(int(status["VmRSS"].split()[0]) / 1024), round(int(status["VmHWM"].split()[0]) / 1024)
def rss_parts():  # RSS = anonymous memory + mapped file pages (the snapshot's, reclaimable by the kernel)
    status = dict(l.split(":", 1) for l in open("/proc/self/status"))
    return {"rss_anon_mb": round(int(status["RssAnon"].split()[0]) / 1024),
            "rss_file_mb": round(int(status["RssFile"].split()[0]) / 1024)}
"""

BUILD = (
    COMMON
    + r"""
from bot.config import load_settings
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
args = json.loads(sys.argv[1])
t = time.perf_counter()
if args["store"]:
    kb = KnowledgeBase.open(load_settings(**args["settings"]), LocalEmbedder())
    n = len(kb.index())
else:
    from bench.synthetic import corpus_batches
    from bot.knowledge import snapshot
    root = __import__("pathlib").Path(args["snapshot"])
    n = len(snapshot.build(corpus_batches(args["chunks"]), root, "synthetic", k1=1.2, b=0.4))
now, peak = rss()
print(json.dumps({"rows": n, "build_s": round(time.perf_counter() - t, 1), "build_peak_rss_mb": peak}))
"""
)

SERVE = (
    COMMON
    + r"""
from bench.synthetic import REPS, queries
from bot.config import load_settings
from bot.identity.viewer import Viewer
from bot.knowledge.embedder import LocalEmbedder
args = json.loads(sys.argv[1])
embedder = LocalEmbedder()
embedder.embed(["warm up"])
base_now, _ = rss()
t = time.perf_counter()
if args["store"]:
    from bot.knowledge.base import KnowledgeBase
    kb = KnowledgeBase.open(load_settings(**args["settings"]), embedder)
    index = kb.index()
    how = kb.keeper.last
    search = kb.search
else:
    from pathlib import Path
    from bot.knowledge import snapshot
    from bot.knowledge.search import HybridSearcher
    index, _ = snapshot.load(Path(args["snapshot"]), k1=1.2, b=0.4)
    how = "snapshot"
    search = HybridSearcher(lambda: index, embedder).search
load_s = time.perf_counter() - t
qs = queries(220)
ms, visible = [], []
for i, q in enumerate(qs):
    viewer = Viewer(REPS[(i * 7) % 250])
    t = time.perf_counter()
    search(q, viewer=viewer, k=10)
    ms.append((time.perf_counter() - t) * 1000)
    if i % 20 == 0:
        visible.append(float(index.visible(viewer).mean()))
ms = sorted(ms[20:])
now, peak = rss()
out = {"rows": len(index), "load": how, "load_s": round(load_s, 2), "visible": round(statistics.mean(visible), 4),
       "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(len(ms) * 0.95)], 1),
       "rss_mb": now, "peak_rss_mb": peak, "python_and_model_mb": base_now, **rss_parts()}
if args["store"]:
    # 1% of the chunks rewritten by a writer, then: how long until this process serves them?
    from bot.knowledge.records import Access, Chunk, Record
    store = kb.store
    n = len(index)
    rng = np.random.default_rng(1)
    picked = sorted(rng.choice(n, size=n // 100, replace=False).tolist())
    records, vectors = [], []
    for row in picked:
        m = index.meta(row)
        access = Access("public" if m.visibility == "public" else "private", m.readers[0], m.readers[1:])
        text = index.text(row) + " zanzibar"
        records.append(Record("note", m.chunk_id, m.title, access, (Chunk(m.chunk_id, text, 0),),
                              deal_id=m.deal_id, account_id=m.account_id))
        vectors.append(rng.standard_normal(index.dim))
    vectors = np.asarray(vectors, np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    t = time.perf_counter()
    for i in range(0, len(records), 1000):
        store.write(records[i : i + 1000], vectors[i : i + 1000], {})
    store.bump_generation()
    out["write_1pct_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    fresh = kb.index()
    out["catch_up_s"] = round(time.perf_counter() - t, 2)
    out["catch_up"] = kb.keeper.last
    hits = kb.search("zanzibar", viewer=Viewer("admin@bench.example", is_admin=True), k=10)
    out["changed_found"] = sum("zanzibar" in h.text for h in hits)
    ms2 = []
    for i, q in enumerate(qs[:120]):
        t = time.perf_counter()
        search(q, viewer=Viewer(REPS[(i * 7) % 250]), k=10)
        ms2.append((time.perf_counter() - t) * 1000)
    ms2 = sorted(ms2[20:])
    out["after_delta_p50_ms"] = round(statistics.median(ms2), 1)
    out["after_delta_p95_ms"] = round(ms2[int(len(ms2) * 0.95)], 1)
    out["peak_rss_after_delta_mb"] = rss()[1]
print(json.dumps(out))
"""
)


def run(code: str, args: dict[str, object]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def chroma_server(store: Path) -> Iterator[tuple[str, int]]:
    """A ``chroma run`` server on ``store`` at 127.0.0.1: its URL and process id."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(chroma), "run", "--path", str(store), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(150):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def process_memory(pid: int) -> dict[str, int]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"server_peak_rss_mb": round(int(status["VmHWM"].split()[0]) / 1024),
            "server_rss_mb": round(int(status["VmRSS"].split()[0]) / 1024)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, required=True)
    ap.add_argument("--store", type=Path, help="an embedded store written by bench.store_memory --build-only")
    ap.add_argument("--server", action="store_true",
                    help="with --store: every step goes through a `chroma run` server on it, as in a fleet")  # fmt: skip
    ap.add_argument("--snapshot", type=Path,
                    help="without --store: build the synthetic snapshot here, or reuse the one found here")  # fmt: skip
    args = ap.parse_args()
    report: dict[str, object] = {"chunks": args.chunks}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        server = stack.enter_context(chroma_server(args.store)) if args.store and args.server else None
        where = {"chroma_url": server[0]} if server else {"chroma_path": str(args.store)}
        settings = {**where, "cache_dir": str(Path(tmp) / "cache"), "index_refresh_seconds": 0,
                    "admin_emails": "admin@bench.example"}  # fmt: skip
        snap = args.snapshot or Path(tmp) / "snapshot"
        common = {"store": args.store is not None, "chunks": args.chunks, "settings": settings,
                  "snapshot": str(snap)}  # fmt: skip
        reuse = args.store is None and args.snapshot is not None and any(snap.glob("gen-*/header.json"))
        report.update({"build": "reused"} if reuse else run(BUILD, common))
        report["snapshot_mb"] = round(
            sum(f.stat().st_size for f in (Path(tmp) if args.store else snap).rglob("*.npy")) / 2**20
        )
        report.update(run(SERVE, common))
        if server:
            report.update(process_memory(server[1]))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
