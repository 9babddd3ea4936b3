"""Peak memory of `closer ingest crm` on a large notes.csv: flat in the export's size (issue 13).

    .venv/bin/python -m bench.ingest_memory --rows 20000,100000 [--embedder stand-in|fp32|int8]

For each size, a fresh export (the sample company's accounts, deals and contacts, and ``rows`` notes
of 20-120 words on its deals) and a fresh embedded store; then one child process per size runs the
ingest the way `closer ingest crm` does (``KnowledgeBase.ingest_crm``) and reports its own peak RSS
(``ru_maxrss``), wall time and chunks/s. ``--embedder stand-in`` gives every chunk a vector made from
a hash of its text, at no cost: it measures parse → chunk → write alone (the real embedder adds its
model's fixed memory, measured with ``fp32``/``int8`` at a size it can finish).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
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


def child(export: str, store: str, embedder_name: str) -> None:
    from bot.config import load_settings
    from bot.knowledge.base import KnowledgeBase
    from bot.knowledge.embedder import Embedder, LocalEmbedder

    settings = load_settings(chroma_path=Path(store), cache_dir=Path(store).parent / "cache")
    embedder: Embedder = (
        StandInEmbedder() if embedder_name == "stand-in"
        else LocalEmbedder(precision="int8" if embedder_name == "int8" else "fp32", cache_dir=settings.cache_dir)
    )  # fmt: skip
    started = time.perf_counter()
    report = KnowledgeBase.open(settings, embedder).ingest_crm(Path(export))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": report.added, "chunks": report.chunks, "seconds": round(seconds, 1),
                      "chunks_per_s": round(report.chunks / seconds, 1), "peak_rss_mb": round(peak_mb),
                      "problems": len(report.problems)}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="20000,100000")
    ap.add_argument("--embedder", choices=("stand-in", "fp32", "int8"), default="stand-in")
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
            done = subprocess.run([sys.executable, "-m", "bench.ingest_memory", "--child", str(export), str(store),
                                   args.embedder], check=True, capture_output=True, text=True)  # fmt: skip
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"notes.csv {rows:,} rows ({size_mb:.0f} MB), embedder {args.embedder}: {result}", flush=True
            )


if __name__ == "__main__":
    main()
