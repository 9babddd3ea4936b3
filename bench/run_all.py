"""Run the benchmarks in bench/, one after the other, each in its own process (what `make bench` runs).

    .venv/bin/python bench/run_all.py                 # quick: small sizes, a few minutes on 2 cores
    .venv/bin/python bench/run_all.py --full          # the sizes docs/benchmarks.md reports (long)
    .venv/bin/python bench/run_all.py --only search_latency ask_overhead
    .venv/bin/python bench/run_all.py --list          # what would run, with its arguments

Quick mode checks that every benchmark still runs and gives rough figures; the figures in
docs/benchmarks.md come from --full (or from each script's own defaults, named there). SciFact
needs the dataset (../shared/data/scifact by default) and embeds 5k abstracts on a first run, so it
runs only with --full or --only scifact. Each benchmark's output is shown as it runs; a summary
follows, and the exit status is 1 if any benchmark failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bench:
    name: str  # the module under bench/
    quick: tuple[str, ...]  # arguments in quick mode (its own defaults when empty)
    full: tuple[str, ...] = ()  # arguments with --full (its own defaults when empty)
    in_quick: bool = True


BENCHES = (
    Bench("search_latency", ("--sizes", "10000", "--queries", "50")),
    Bench("ask_overhead", ("--asks", "20")),
    Bench("ingest_throughput", ("--copies", "1")),
    Bench("embedder_throughput", ("--copies", "1", "--rounds", "1")),
    Bench("ingest_memory", ("--rows", "2000"), ("--rows", "2000,20000")),
    Bench("sample_quality", ()),
    Bench("feedback_replay", ()),
    Bench("store_memory", ("--chunks", "5000")),
    Bench("index_scale", ("--chunks", "5000"), ("--chunks", "1000000")),
    Bench("slack_ack", ("--concurrent", "10", "--rounds", "1", "--llm-delay", "0.5")),
    Bench("slack_stream", ("--messages", "5", "--llm-delay", "0.2")),
    Bench("claim_check", ()),
    Bench("crm_sync", ("--objects", "2000", "--real", "0"), ("--objects", "50000", "--real", "2000")),
    Bench("scifact", (), in_quick=False),
    Bench("embedder_quality", (), in_quick=False),  # needs the SciFact data, like scifact
)
HELPERS = {"__init__", "run_all", "slack_common", "synthetic"}  # modules that are not benchmarks


def command(bench: Bench, *, full: bool) -> list[str]:
    return [sys.executable, "-m", f"bench.{bench.name}", *(bench.full if full else bench.quick)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the benchmarks in bench/ (quick mode by default).")
    ap.add_argument("--full", action="store_true", help="the sizes docs/benchmarks.md reports (long)")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[b.name for b in BENCHES],
                    help="run only these benchmarks")  # fmt: skip
    ap.add_argument("--list", action="store_true", help="print what would run and exit")
    args = ap.parse_args(argv)
    chosen = [b for b in BENCHES if (b.name in args.only if args.only else args.full or b.in_quick)]
    if args.list:
        for bench in chosen:
            print(" ".join(command(bench, full=args.full)[1:]))
        return 0
    results: list[tuple[str, int, float]] = []
    for bench in chosen:
        cmd = command(bench, full=args.full)
        print(f"\n=== {bench.name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(cmd, cwd=REPO, check=False).returncode
        results.append((bench.name, code, time.perf_counter() - started))
    print("\n=== summary")
    for name, code, seconds in results:
        print(f"  {name:<18} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:7.1f} s")
    return 1 if any(code for _, code, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
