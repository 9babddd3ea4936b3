"""Slash-command ack latency under load: bursts of concurrent commands against a real `closer serve`.

    .venv/bin/python -m bench.slack_ack [--concurrent 50] [--rounds 3] [--llm-delay 2.0] [--workers 16]

Each round fires ``--concurrent`` signed ``/sales`` commands at once (one thread each, released by a
barrier) over loopback, while every answer waits ``--llm-delay`` seconds on the fake LLM. Ack latency
is the HTTP round trip of each command (Slack needs it within 3 s). The round ends when every answer
has reached its response_url; "answers done" is the time from the burst to the last answer.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.slack_common import SECRET, pct, serving
from tests.fake_slack import sign


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrent", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--llm-delay", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()
    acks: list[float] = []
    done_s: list[float] = []
    with serving(llm_delay=args.llm_delay, workers=args.workers) as s:
        s.driver.command("help")  # warm-up: Bolt's auth.test, the first connection
        for _ in range(args.rounds):
            bodies = [s.driver.command_body("What discount did Halvorsen ask for on the frozen-zone robots?")
                      for _ in range(args.concurrent)]  # fmt: skip
            barrier = threading.Barrier(args.concurrent)

            def send(body: bytes) -> float:
                with httpx.Client(timeout=10) as client:
                    headers = {"Content-Type": "application/x-www-form-urlencoded"}
                    barrier.wait()
                    signed = {**headers, **sign(SECRET, body)}
                    started = time.perf_counter()
                    r = client.post(s.driver.url, content=body, headers=signed)
                    elapsed = time.perf_counter() - started
                    assert r.status_code == 200 and "Working on it" in r.text, r.text
                    return elapsed

            burst = time.perf_counter()
            with ThreadPoolExecutor(args.concurrent) as pool:
                acks += list(pool.map(send, [b for b, _ in bodies]))
            for _, name in bodies:
                s.fake.wait_responses(name, timeout=300)
            done_s.append(time.perf_counter() - burst)
    ms = [a * 1000 for a in acks]
    over = sum(1 for a in acks if a > 3.0)
    print(
        "| concurrent commands × rounds | LLM delay | SLACK_WORKER_THREADS | ack p50 ms | p95 ms | p99 ms | max ms "
        "| acks over 3 s | answers done (s, per round) | cores |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.concurrent} × {args.rounds} | {args.llm_delay:.1f} s | {args.workers} | {pct(ms, 50):.1f} | "
        f"{pct(ms, 95):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f} | {over} | "
        f"{', '.join(f'{d:.1f}' for d in done_s)} | {os.cpu_count()} |"
    )
    print(
        f"\ncommand: .venv/bin/python -m bench.slack_ack --concurrent {args.concurrent} --rounds {args.rounds} "
        f"--llm-delay {args.llm_delay} --workers {args.workers}"
    )


if __name__ == "__main__":
    main()
