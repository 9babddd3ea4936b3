"""Slash-command ack latency under load: bursts of concurrent commands against a real `closer serve`.

    .venv/bin/python -m bench.slack_ack [--concurrent 50] [--rounds 3] [--llm-delay 2.0] [--workers 16]

Each round fires ``--concurrent`` signed ``/sales`` commands at once (from one asyncio client, as
many connections) over loopback, while every answer waits ``--llm-delay`` seconds on the fake LLM. Ack latency
is the HTTP round trip of each command (Slack needs it within 3 s). The round ends when every answer
has reached its response_url; "answers done" is the time from the burst to the last answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx

from bench.slack_common import SECRET, pct, serving
from tests.fake_slack import sign


async def burst(url: str, bodies: list[bytes]) -> list[float]:
    """Send every command at once from one event loop (as Slack's fan-out would); ack times in s."""
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def one(body: bytes) -> float:
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
            started = time.perf_counter()
            r = await client.post(url, content=body, headers=headers)
            elapsed = time.perf_counter() - started
            assert r.status_code == 200 and "Working on it" in r.text, r.text
            return elapsed

        return list(await asyncio.gather(*(one(b) for b in bodies)))


def server_side(metrics: str) -> tuple[float, str]:
    """Mean server-side ack time (ms) of the commands, and the bucket their p99 falls in."""
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith('closer_ack_seconds_bucket{le="') and 'surface="command"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
        elif line.startswith('closer_ack_seconds_sum{surface="command"}'):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith('closer_ack_seconds_count{surface="command"}'):
            count = float(line.rsplit(" ", 1)[1])
    p99 = next(le for le, n in sorted(buckets) if n >= 0.99 * count)
    return total / max(count, 1) * 1000, f"≤ {p99 * 1000:.0f}"


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
            started = time.perf_counter()
            acks += asyncio.run(burst(s.driver.url, [b for b, _ in bodies]))
            for _, name in bodies:
                s.fake.wait_responses(name, timeout=300)
            done_s.append(time.perf_counter() - started)
        server = server_side(httpx.get(f"{s.url}/metrics").text)
    ms = [a * 1000 for a in acks]
    over = sum(1 for a in acks if a > 3.0)
    print(
        "| concurrent commands × rounds | LLM delay | SLACK_WORKER_THREADS | ack p50 ms | p95 ms | p99 ms | max ms "
        "| acks over 3 s | server-side ack mean / p99 ms | answers done (s, per round) | cores |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.concurrent} × {args.rounds} | {args.llm_delay:.1f} s | {args.workers} | {pct(ms, 50):.1f} | "
        f"{pct(ms, 95):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f} | {over} | {server[0]:.1f} / {server[1]} | "
        f"{', '.join(f'{d:.1f}' for d in done_s)} | {os.cpu_count()} |"
    )
    print(
        f"\ncommand: .venv/bin/python -m bench.slack_ack --concurrent {args.concurrent} --rounds {args.rounds} "
        f"--llm-delay {args.llm_delay} --workers {args.workers}"
    )


if __name__ == "__main__":
    main()
