"""Peak memory of `closer ingest crm` on a large notes.csv: flat in the export's size (issue 13).

    .venv/bin/python -m bench.ingest_memory --rows 20000,100000 [--embedder stand-in|fp32|int8] [--server]

For each size, a fresh export (the sample company's accounts, deals and contacts, and ``rows`` notes
of 20-120 words on its deals) and a fresh embedded store; then one child process per size runs the
ingest the way `closer ingest crm --prune` does (``KnowledgeBase.ingest_crm``) and reports its own peak RSS
(``ru_maxrss``), wall time and chunks/s. ``--embedder stand-in`` gives every chunk a vector made from
a hash of its text, at no cost: it measures parse → chunk → write alone (the real embedder adds its
model's fixed memory, measured with ``fp32``/``int8`` at a size it can finish).

With an embedded store, Chroma's own segments (its HNSW index, its SQLite database and their caches)
live inside the ingest process and grow with the collection, so the ingest's peak RSS includes them.
``--server`` writes to a ``chroma run`` server on 127.0.0.1 instead (``CHROMA_URL``), and reports the
ingest process's peak (Closer's part: the reading, chunking, batching, the HTTP client) and the
server's peak (Chroma's part) separately. The child also samples its RSS every half second, and
reports it at a quarter, half and three quarters of the run and at the end: flat memory shows as
flat samples, whatever the size.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.knowledge.base import SAMPLE_DIR

WORDS = tuple(
    [
        "pallet",
        "conveyor",
        "gripper",
        "throughput",
        "firmware",
        "warranty",
        "uptime",
        "shuttle",
        "mezzanine",
        "picker",
        "quote",
        "renewal",
        "discount",
        "procurement",
        "security",
        "review",
        "pilot",
        "rollout",
        "budget",
        "champion",
        "integration",
        "SAP",
        "EWM",
        "scanner",
        "battery",
        "onboarding",
        "training",
        "survey",
        "install",
        "downtime",
        "contract",
        "legal",
        "liability",
    ]
)


class StandInEmbedder:
    """Not an embedding model: a unit vector from a hash of the text, so only the pipeline is timed."""

    model_id = "stand-in-hash-384"
    dimension = 384

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dimension)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def make_export(folder: Path, rows: int) -> None:
    folder.mkdir(parents=True)
    for stem in ("accounts", "deals", "contacts"):
        (folder / f"{stem}.csv").write_bytes((SAMPLE_DIR / "crm" / f"{stem}.csv").read_bytes())
    with (SAMPLE_DIR / "crm" / "deals.csv").open(newline="") as f:
        deals = [(d["deal_id"], d["account_id"]) for d in csv.DictReader(f)]
    rng = random.Random(13)
    with (folder / "notes.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["note_id", "account_id", "deal_id", "author_email", "created_at", "kind", "subject", "body"]
        )
        for i in range(rows):
            deal, account = deals[i % len(deals)]
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
            writer.writerow([f"BN{i:07d}", account, deal, "rep@example.com", f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                             "call", f"Call {i}", body])  # fmt: skip


WARM = "WARM-UP"  # --child's first argument for a run that only builds the model into the cache


def rss_mb(pid: int | str = "self") -> tuple[int, int]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return round(int(status["VmRSS"].split()[0]) / 1024), round(int(status["VmHWM"].split()[0]) / 1024)


class RssSampler(threading.Thread):
    """This process's RSS every ``period`` seconds, until stopped."""

    def __init__(self, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.period, self.samples, self._halt = period, [rss_mb()[0]], threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.period):
            self.samples.append(rss_mb()[0])

    def stop(self) -> list[int]:
        """RSS at a quarter, half, three quarters of the run and at its end."""
        self._halt.set()
        self.join()
        self.samples.append(rss_mb()[0])
        n = len(self.samples) - 1
        return [self.samples[round(n * q)] for q in (0.25, 0.5, 0.75, 1.0)]


def child(export: str, store: str, embedder_name: str) -> None:
    from bot.config import load_settings
    from bot.knowledge.base import KnowledgeBase
    from bot.knowledge.embedder import Embedder, LocalEmbedder

    where = {"chroma_url": store} if store.startswith("http://") else {"chroma_path": Path(store)}
    # The model cache (an int8 graph) is the run's folder's "cache", shared by the warm-up and the run.
    cache = Path(store).parent / "cache" if export == WARM else Path(export).parent / "cache"
    settings = load_settings(**where, cache_dir=cache)
    embedder: Embedder = (
        StandInEmbedder() if embedder_name == "stand-in"
        else LocalEmbedder(precision="int8" if embedder_name == "int8" else "fp32", cache_dir=settings.cache_dir)
    )  # fmt: skip
    kb = KnowledgeBase.open(settings, embedder)
    if embedder_name != "stand-in" and export == WARM:
        embedder.embed(["warm-up"])  # an int8 graph is built into the cache here, not in the measured run
        return
    if embedder_name != "stand-in":
        embedder.embed(["warm-up"])  # the model's fixed memory is in the peak, not in the samples' growth
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    report = kb.ingest_crm(Path(export), prune=True)  # a full export, as `closer ingest crm --prune`
    seconds = time.perf_counter() - started
    samples = sampler.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": report.added, "chunks": report.chunks, "seconds": round(seconds, 1),
                      "chunks_per_s": round(report.chunks / seconds, 1), "peak_rss_mb": round(peak_mb),
                      "rss_at_quarters_mb": samples, "problems": len(report.problems)}))  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A ``chroma run`` server on ``store`` at 127.0.0.1, and its URL once it accepts connections."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(chroma), "run", "--path", str(store), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(150):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("chroma run did not start within 30 s")


def measure(export: Path, store: Path, embedder: str, server: bool) -> dict[str, object]:
    command = [sys.executable, "-m", "bench.ingest_memory", "--child", str(export)]
    if not server:
        done = subprocess.run([*command, str(store), embedder], check=True, capture_output=True, text=True)
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    else:
        proc, url = start_server(store)
        try:
            idle = rss_mb(proc.pid)[0]
            done = subprocess.run([*command, url, embedder], check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            now, peak = rss_mb(proc.pid)
            result |= {"server_idle_rss_mb": idle, "server_peak_rss_mb": peak, "server_end_rss_mb": now}
        finally:
            proc.terminate()
            proc.wait(60)
    result["store_mb"] = round(sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 1e6)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="20000,100000")
    ap.add_argument("--embedder", choices=("stand-in", "fp32", "int8"), default="stand-in")
    ap.add_argument("--server", action="store_true", help="write to a `chroma run` server on 127.0.0.1")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    for rows in (int(n) for n in args.rows.split(",")):
        with tempfile.TemporaryDirectory(prefix="closer-ingest-mem-") as tmp:
            export, store = Path(tmp) / "export", Path(tmp) / "chroma"
            make_export(export, rows)
            size_mb = (export / "notes.csv").stat().st_size / 1e6
            if args.embedder != "stand-in":
                subprocess.run([sys.executable, "-m", "bench.ingest_memory", "--child", WARM, str(Path(tmp) / "warm"),
                                args.embedder], check=True, capture_output=True)  # fmt: skip
            result = measure(export, store, args.embedder, args.server)
            where = "Chroma server" if args.server else "embedded store"
            print(f"notes.csv {rows:,} rows ({size_mb:.0f} MB), embedder {args.embedder}, {where}: "
                  f"{json.dumps(result)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
