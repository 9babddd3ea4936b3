"""Closer's own time per `ask`, beyond the LLM's: retrieval, prompt, citation and claim checks, audit.

    .venv/bin/python -m bench.ask_overhead [--asks 100]

The sample company in a temp store, a state database in SQLite, and the fake OpenAI-compatible
server from the tests answering at once over loopback. For each ask, overhead = wall time of
Assistant.ask minus the LLM call's own latency (as the client measured it, HTTP round trip included).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from bot.assistant import Assistant
from bot.config import load_settings
from bot.knowledge.base import KnowledgeBase
from bot.llm.router import LLMRouter
from bot.state.store import StateStore
from tests.fake_openai import FakeOpenAI

QUESTIONS = [
    "What discount did Halvorsen ask for on the frozen-zone robots?",
    "What's the status of TKT-2291?",
    "Which robot works in cold rooms?",
    "catch me up on Meridian",
    "What did we promise about SOC 2?",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--asks", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as api:
        api.reply = lambda body: "Halvorsen asked for 15% off hardware [1], approved by the manager [2]."
        settings = load_settings(chroma_path=Path(tmp) / "chroma", state_url=f"sqlite:///{tmp}/state.db",
                                 llm_base_url=api.base_url, llm_api_key="sk")  # fmt: skip
        kb = KnowledgeBase.open(settings)
        kb.ingest_sample()
        assistant = Assistant(settings, kb, LLMRouter(settings), StateStore.open(settings.state_url),
                              today=lambda: date(2026, 11, 25))  # fmt: skip
        user = "maya.okafor@brindlewood.example"
        for q in QUESTIONS:  # warm-up: model, index, connections
            assistant.ask(q, user=user)
        overhead, llm = [], []
        for i in range(args.asks):
            t = time.perf_counter()
            draft = assistant.ask(QUESTIONS[i % len(QUESTIONS)], user=user)
            total = (time.perf_counter() - t) * 1000
            llm_ms = draft.usage.latency_ms
            overhead.append(total - llm_ms)
            llm.append(llm_ms)
        print(f"asks {args.asks}: overhead p50 {statistics.median(overhead):.1f} ms, "
              f"p95 {float(np.percentile(overhead, 95)):.1f} ms; fake LLM round trip p50 {statistics.median(llm):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
