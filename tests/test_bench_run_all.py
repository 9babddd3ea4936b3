"""`make bench` runs bench/run_all.py: it knows every benchmark in bench/, and the arguments it
passes in quick mode are ones each benchmark accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.run_all import BENCHES, HELPERS, main

REPO = Path(__file__).resolve().parents[1]


def test_run_all_knows_every_benchmark_in_bench() -> None:
    modules = {p.stem for p in (REPO / "bench").glob("*.py")} - HELPERS
    names = [b.name for b in BENCHES]
    assert sorted(names) == sorted(modules)  # each once
    for name in modules:
        assert 'if __name__ == "__main__":' in (REPO / "bench" / f"{name}.py").read_text(encoding="utf-8")


def test_every_quick_flag_is_one_the_benchmark_accepts() -> None:
    for bench in BENCHES:
        flags = [a for a in (*bench.quick, *bench.full) if a.startswith("--")]
        if not flags:
            continue
        proc = subprocess.run([sys.executable, "-m", f"bench.{bench.name}", "--help"], cwd=REPO,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert all(flag in proc.stdout for flag in flags), (bench.name, flags, proc.stdout)


def test_list_prints_the_quick_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("-m bench.")
    assert not any("scifact" in line for line in lines)  # quick mode leaves the long one out
