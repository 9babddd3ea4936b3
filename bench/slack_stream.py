"""Time from a DM to its first streamed words in Slack, beyond the LLM's own first-token time.

    .venv/bin/python -m bench.slack_stream [--messages 30] [--llm-delay 1.0]

A real `closer serve` on loopback; each message is a new question in an assistant-pane thread.
The fake LLM waits ``--llm-delay`` seconds before its first token (its own first-token time), then
streams. For each message: total = Slack's ``chat.startStream`` arrival − the event's POST;
overhead = total − the LLM's first-token time, split into before the LLM call (ack, identity,
status, retrieval, prompt) and after its first token (to ``chat.startStream`` in Slack).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

from bench.slack_common import pct, serving


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=30)
    ap.add_argument("--llm-delay", type=float, default=1.0)
    args = ap.parse_args()
    first_token: list[float] = []  # when the fake LLM produced its first token (time.monotonic)
    lock = threading.Lock()
    totals, before, after = [], [], []
    with serving(llm_delay=args.llm_delay, workers=16) as s:
        text = s.llm.reply

        def reply(body: dict[str, Any]) -> str:
            with lock:
                first_token.append(time.monotonic())
            return text(body)

        s.llm.reply = reply
        for i in range(args.messages + 1):  # the first one warms caches and is not counted
            ts = f"1700100{i:03d}.000100"
            event = {"type": "message", "channel_type": "im", "channel": "D900", "user": "UALICE",
                     "text": "What discount did Halvorsen ask for on the frozen-zone robots?", "ts": ts,
                     "thread_ts": "1700099999.000100"}  # fmt: skip
            sent = time.monotonic()
            assert s.driver.event(event).status_code == 200
            (start, *_) = s.fake.wait_calls("chat.startStream", i + 1)[i:]
            s.fake.wait_calls("chat.update", i + 1)
            if i == 0:
                continue
            with lock:
                token = first_token[i]
            totals.append(start.at - sent)
            before.append(token - args.llm_delay - sent)
            after.append(start.at - token)
    ms = lambda xs: [x * 1000 for x in xs]  # noqa: E731
    over = [t - args.llm_delay for t in totals]
    print("| messages | LLM first-token time | DM → first streamed words p50 / p95 ms | overhead p50 / p95 ms "
          "| before the LLM p50 ms | first token → Slack p50 ms | cores |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.messages} | {args.llm_delay * 1000:.0f} ms | {pct(ms(totals), 50):.0f} / {pct(ms(totals), 95):.0f} "
          f"| {pct(ms(over), 50):.0f} / {pct(ms(over), 95):.0f} | {pct(ms(before), 50):.0f} "
          f"| {pct(ms(after), 50):.1f} | {os.cpu_count()} |")  # fmt: skip
    print(
        f"\ncommand: .venv/bin/python -m bench.slack_stream --messages {args.messages} --llm-delay {args.llm_delay}"
    )


if __name__ == "__main__":
    main()
