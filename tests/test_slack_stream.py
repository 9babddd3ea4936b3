"""Streaming within Slack's rules, against the fake Slack with a fake clock: appends are buffered
(at most one a second per stream) and paced for the whole process under chat.appendStream's
per-minute limit; a long answer stops streaming at the cap; nothing streamed is lost."""

from __future__ import annotations

from bot.slack.clients import web_client
from bot.slack.render import notice
from bot.slack.sanitize import clean
from bot.slack.stream import CAPPED, AppendBudget, Streamer
from tests.fake_slack import FakeSlack

WORDS = "Acme asked for fifteen percent off the bundle with net thirty terms. "


def streamed_text(fake: FakeSlack, ts: str | None = None) -> str:
    calls = fake.calls_to("chat.startStream", "chat.appendStream", "chat.stopStream")
    return "".join(
        chunk["text"]
        for c in calls
        if ts is None or c.params.get("ts") in (ts, None)
        for chunk in c.params.get("chunks") or []
    )


def test_appends_are_buffered_to_one_a_second() -> None:
    now = [0.0]
    with FakeSlack() as fake:
        client = web_client("xoxb-t", fake.api_url)
        streamer = Streamer(client, channel="D1", thread_ts="1.0", clock=lambda: now[0])
        pieces = [WORDS[i : i + 4] for i in range(0, len(WORDS), 4)] * 40  # ~700 model tokens
        for piece in pieces:  # over ~7 seconds
            now[0] += 0.01
            streamer(piece)
        streamer.finish([notice("done")])
        appends = fake.calls_to("chat.appendStream")
        assert 1 <= len(appends) <= 8  # not one call per few characters
        assert streamed_text(fake) == clean("".join(pieces))  # every character arrived, in order


def test_the_budget_paces_all_streams_of_the_process() -> None:
    now = [0.0]
    with FakeSlack() as fake:
        client = web_client("xoxb-t", fake.api_url)
        budget = AppendBudget(60, clock=lambda: now[0])  # 60 appends a minute for everyone
        streams = [
            Streamer(client, channel=f"D{i}", thread_ts="1.0", budget=budget, clock=lambda: now[0])
            for i in range(20)
        ]
        for _ in range(300):  # 30 seconds of twenty answers streaming at once
            now[0] += 0.1
            for s in streams:
                s(WORDS)
        assert len(fake.calls_to("chat.appendStream")) <= 60 // 6 + 30  # the burst, then 1 a second
        for s in streams:
            s.finish([notice("done")])
        for s in streams:  # …and each stream still holds its whole text
            assert streamed_text(fake, s.ts).count("net thirty") >= 1


def test_a_long_answer_stops_streaming_at_the_cap() -> None:
    now = [0.0]
    with FakeSlack() as fake:
        client = web_client("xoxb-t", fake.api_url)
        streamer = Streamer(client, channel="D1", thread_ts="1.0", max_chars=2000, clock=lambda: now[0])
        for _ in range(400):
            now[0] += 0.5
            streamer(WORDS)
        streamer.finish([notice("the whole answer")])
        text = streamed_text(fake)
        assert len(text) <= 2000 + len(CAPPED) and text.endswith(CAPPED) and streamer.capped
        assert fake.calls_to("chat.update")[-1].params["ts"] == streamer.ts  # replaced by the whole answer
