"""The Slack door's small parts: command grammar, exactly-once keys, button memory, the profile
cache, the streamer's fallback and the JSON log formatter."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bot.errors import InputError
from bot.observability import JsonFormatter, request_scope
from bot.slack.clients import web_client
from bot.slack.dedup import Deduper, click_keys
from bot.slack.identity import Directory
from bot.slack.memory import AnswerMemory, Remembered
from bot.slack.parse import Command, parse
from bot.slack.render import notice
from bot.slack.stream import Streamer
from bot.state.store import StateStore
from tests.fake_slack import Failure, FakeSlack


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("What did Acme ask for?", Command("ask", "What did Acme ask for?")),
        ("ask  what   now", Command("ask", "what now")),
        ("followup Acme Expansion --private", Command("followup", "Acme Expansion", private=True)),
        ("Follow-up D1", Command("followup", "D1")),
        ("reply Can you do 20%?", Command("reply", "Can you do 20%?")),
        ("--private how much?", Command("ask", "how much?", private=True)),
        ("private ON", Command("private", "on")),
        ("private", Command("private", "status")),
        ("digest", Command("digest")),
        ("", Command("help")),
        ("help", Command("help")),
        ("the --privateer ship", Command("ask", "the --privateer ship")),
    ],
)
def test_command_grammar(text: str, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(("text", "message"), [("followup", "deal name"), ("reply --private", "customer"),
                                               ("private maybe", "private on")])  # fmt: skip
def test_command_usage_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse(text)


def test_clicks_within_the_window_count_once_even_across_a_bucket_edge(tmp_path: Path) -> None:
    with StateStore.open(f"sqlite:///{tmp_path / 's.db'}") as state:
        dedup = Deduper(state, window=3.0)
        assert dedup.first_click("U1", "1.0", "closer_up", at=2.9)
        assert not dedup.first_click("U1", "1.0", "closer_up", at=3.1)  # next bucket, 0.2 s later
        assert dedup.first_click("U1", "1.0", "closer_down", at=3.1)  # another button
        assert dedup.first_click("U2", "1.0", "closer_up", at=3.1)  # another person
        assert dedup.first_click("U1", "1.0", "closer_up", at=9.5)  # a deliberate click later
        assert dedup.first_event("Ev1") and not dedup.first_event("Ev1")
        assert dedup.first_command("t1") and not dedup.first_command("t1")
    assert click_keys("U", "ts", "a", at=7.0, window=3.0) == ("btn:U:ts:a:2", "btn:U:ts:a:3")


def test_claims_hold_across_store_instances(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with StateStore.open(url) as one, StateStore.open(url) as two:  # two replicas, one database
        assert Deduper(one, window=3).first_event("EvX")
        assert not Deduper(two, window=3).first_event("EvX")


def test_answer_memory_forgets_after_its_ttl() -> None:
    now = [100.0]
    memory = AnswerMemory(60, clock=lambda: now[0])
    memory.put("r1", Remembered("ask", "q", "a", ()))
    assert memory.get("r1") is not None
    now[0] += 61
    assert memory.get("r1") is None
    AnswerMemory(0).put("r2", Remembered("ask", "q", "a", ()))  # TTL 0 = keep nothing


def test_profiles_are_cached_and_unknown_users_have_no_email() -> None:
    with FakeSlack() as fake:
        now = [0.0]
        directory = Directory(web_client("xoxb-t", fake.api_url), ttl=60, clock=lambda: now[0])
        alice = directory.person("UALICE")
        assert (alice.email, alice.tz, alice.who) == ("alice@x.example", "Europe/Berlin", "alice@x.example")
        directory.person("UALICE")
        assert len(fake.calls_to("users.info")) == 1
        now[0] = 61
        directory.person("UALICE")
        assert len(fake.calls_to("users.info")) == 2
        guest, ghost = directory.person("UGUEST"), directory.person("UNOBODY")
        assert not guest.known and guest.who == "slack:UGUEST" and ghost.email is None


def test_a_stream_that_cannot_start_still_delivers_the_answer() -> None:
    with FakeSlack() as fake:
        fake.fail_next("chat.startStream", Failure(200, None, {"ok": False, "error": "method_not_supported"}))
        streamer = Streamer(web_client("xoxb-t", fake.api_url), channel="D1", thread_ts="1.0")
        for piece in ("Hello ", "there, ", "how are ", "you today?"):
            streamer(piece)  # never raises
        assert streamer.broken and streamer.ts is None
        streamer.finish([notice("Hello there, how are you today?")])
        (post,) = fake.calls_to("chat.postMessage")
        assert post.params["thread_ts"] == "1.0" and fake.calls_to("chat.appendStream") == []


def test_json_logs_carry_the_request_id_and_withhold_slack_library_text() -> None:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter(secrets=["xoxb-secret-token"]))
    ours, theirs = logging.getLogger("bot.slack.test"), logging.getLogger("slack_bolt.test")
    for logger in (ours, theirs):
        logger.addHandler(handler)
        logger.propagate = False
    try:
        with request_scope("abc123"):
            ours.warning("called with %s", "xoxb-secret-token", extra={"surface": "dm"})
            theirs.warning("Unhandled request ({'text': 'a customer secret'})")
    finally:
        for logger in (ours, theirs):
            logger.removeHandler(handler)
            logger.propagate = True
    first, second = (json.loads(line) for line in buf.getvalue().splitlines())
    assert first["request_id"] == "abc123" and first["surface"] == "dm" and "***" in first["message"]
    assert "xoxb-secret-token" not in first["message"]
    assert "customer secret" not in json.dumps(second) and second["level"] == "warning"


def test_a_use_case_inside_a_request_scope_joins_its_request_id() -> None:
    from bot.observability import current_or_new_request_id

    with request_scope("abc123"), request_scope() as inner:
        assert inner == "abc123" and current_or_new_request_id() == "abc123"
    assert current_or_new_request_id() != "abc123"
