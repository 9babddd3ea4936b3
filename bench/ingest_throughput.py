"""Ingest throughput end to end, and how much faster an unchanged re-ingest is.

    .venv/bin/python bench/ingest_throughput.py [--copies 8]

The sample company's CRM is replicated ``--copies`` times (ids suffixed) into a temp folder and
ingested into a fresh embedded store with the real local embedder: parse, chunk, embed, write to
Chroma. Then the same files again (nothing changed), both in process and as whole `closer`
commands (process start and imports included).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenizers import Tokenizer

from bot.config import load_settings
from bot.knowledge.base import SAMPLE_DIR, KnowledgeBase
from bot.knowledge.embedder import default_model_dir

ID_COLUMNS = ("account_id", "deal_id", "contact_id", "note_id")


def replicate(target: Path, copies: int) -> None:
    target.mkdir(parents=True)
    for name in ("accounts", "deals", "contacts", "notes"):
        with (SAMPLE_DIR / "crm" / f"{name}.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        with (target / f"{name}.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            for c in range(copies):
                for row in rows:
                    writer.writerow({k: (f"{v}-{c}" if k in ID_COLUMNS and v else v) for k, v in row.items()})


def replicate_docs(target: Path, copies: int) -> None:
    for c in range(copies):
        for path in (SAMPLE_DIR / "docs").rglob("*"):
            if path.is_file():
                dest = target / f"copy{c}" / path.relative_to(SAMPLE_DIR / "docs")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(path.read_text() + f"\n\nRevision {c}.\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export, store = Path(tmp) / "export", Path(tmp) / "chroma"
        replicate(export, args.copies)
        kb = KnowledgeBase.open(load_settings(chroma_path=store))
        first = kb.ingest_crm(export)
        again = kb.ingest_crm(export)
        records = first.added
        print(f"records {records}, chunks {first.chunks}")
        print(
            f"first ingest (in process): {first.seconds:.1f} s, {first.chunks / first.seconds:.1f} chunks/s"
        )
        print(f"unchanged re-ingest (in process): {again.seconds:.2f} s, "
              f"{first.seconds / again.seconds:.0f}x faster, {again.chunks} chunks embedded")  # fmt: skip
        docs = Path(tmp) / "docs"
        replicate_docs(docs, args.copies)
        first_docs = kb.ingest_docs(docs)
        index = kb.index()
        tokenizer = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        sizes = {kind: [len(tokenizer.encode(t).ids) for t, m in zip(index.texts, index.metas, strict=True)
                        if (m.source_type == "doc") == (kind == "doc")] for kind in ("doc", "crm")}  # fmt: skip
        print(
            f"docs: {first_docs.added} files, {first_docs.chunks} chunks in {first_docs.seconds:.1f} s, "
            f"{first_docs.chunks / first_docs.seconds:.1f} chunks/s"
        )
        for kind, n in sizes.items():
            print(
                f"mean tokens per {kind} chunk: {statistics.mean(n):.0f} (median {statistics.median(n):.0f})"
            )
        # The embedder alone on passages of ~128 tokens, the size the reference used.
        words = " ".join(index.texts).split()
        passages = [" ".join(words[i : i + 100]) for i in range(0, min(len(words), 100 * 512), 100)]
        t = time.perf_counter()
        kb.embedder.embed(passages)
        secs = time.perf_counter() - t
        mean_tokens = statistics.mean(len(tokenizer.encode(p).ids) for p in passages)
        print(
            f"embedder alone: {len(passages)} passages of ~{mean_tokens:.0f} tokens, {len(passages) / secs:.1f}/s"
        )
        env = dict(os.environ, CHROMA_PATH=str(Path(tmp) / "chroma2"))
        cmd = [sys.executable, "-m", "bot", "ingest", "crm", str(export)]
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            warm.append(time.perf_counter() - t)
        warm.sort()
        print(f"whole command: first {cold:.1f} s, unchanged re-run median {warm[1]:.2f} s "
              f"({cold / warm[1]:.0f}x faster)")  # fmt: skip


if __name__ == "__main__":
    main()
