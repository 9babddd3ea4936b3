"""The Slack app in process, on a real uvicorn server on 127.0.0.1, against a fake Slack and fake
OpenAI-compatible endpoints (standard and private), all over real HTTP.

Requests are signed as Slack signs them; answers are read back from what the fakes received.
Background work runs on worker threads, so tests wait on conditions with timeouts.
"""

from __future__ import annotations

import io
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.knowledge.embedder import LocalEmbedder
from bot.observability import configure_logging
from bot.slack import buttons as b
from tests.fake_openai import Failure as LLMFailure
from tests.fake_slack import Failure, FakeSocketMode
from tests.slack_fixtures import (
    APP_TOKEN,
    MARKER,
    SECRET,
    TOKEN,
    Harness,
    eventually,
    harness_for,
    mention,
    metric,
    text_of,
)
from tests.slack_fixtures import crm_fixture as crm_fixture  # the crm fixture
from tests.slack_fixtures import harness_fixture as harness_fixture  # the h fixture

# --- acks, signatures, exactly once ------------------------------------------------------------------


@pytest.mark.parametrize("h", [{"slack_worker_threads": 4}], indirect=True)
def test_commands_ack_at_once_while_the_llm_is_slow(h: Harness) -> None:
    # /healthz checks the index a request would search: load it first, so what follows is about the
    # event loop while workers wait on the LLM, not the first index load
    assert httpx.get(f"{h.url}/healthz", timeout=60).status_code == 200
    h.std.hold()  # no chat completion is answered until released; only 4 workers for 12 commands
    bodies = [h.driver.command_body(f"What discount did Acme ask for? #{i}") for i in range(12)]

    def send(body: bytes) -> tuple[int, str]:
        r = h.driver.post(body, "application/x-www-form-urlencoded")
        return r.status_code, r.text

    try:
        with ThreadPoolExecutor(12) as pool:  # an ack that waited on the LLM would never come
            results = list(pool.map(send, [body for body, _ in bodies]))
        assert all(status == 200 for status, _ in results)
        assert all("Working on it" in text for _, text in results)
        assert eventually(lambda: len(h.std.requests) >= 4, 30)  # every worker waits on the LLM…
        health = httpx.get(f"{h.url}/healthz", timeout=10)
        assert health.status_code == 200  # …and the loop is still free
        assert health.json()["in_flight"] > 0
        assert h.fake.responses == []  # the acks came first: no answer was written yet
    finally:
        h.std.release()
    for _, name in bodies:  # …and every answer still arrives, replacing its "working on it"
        (answer,) = h.fake.wait_responses(name, timeout=30)
        assert answer.params["replace_original"] is True and answer.params["response_type"] == "ephemeral"
        assert "*15%*" in text_of(answer.params)


def test_bad_signature_and_stale_timestamp_are_refused(h: Harness) -> None:
    body, name = h.driver.command_body("anything")
    assert h.driver.post(body, "application/x-www-form-urlencoded", secret="wrong-secret").status_code == 401
    stale = int(time.time()) - 600
    assert h.driver.post(body, "application/x-www-form-urlencoded", timestamp=stale).status_code == 401
    unsigned = httpx.post(
        f"{h.url}/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert unsigned.status_code == 401
    assert h.fake.calls_to("users.info") == [] and h.fake.responses_to(name) == []
    assert h.chats(h.std) == []


def test_a_redelivered_event_is_answered_once(h: Harness) -> None:
    before = metric("closer_deduplicated_events_total", kind="event")
    event = mention("UALICE", "What discount did Acme ask for?")
    assert h.driver.event(event, event_id="EvSAME1").status_code == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert h.driver.event(event, event_id="EvSAME1", headers=retry).status_code == 200
    h.fake.wait_calls("chat.update")
    assert eventually(lambda: metric("closer_deduplicated_events_total", kind="event") == before + 1)
    assert len(h.fake.calls_to("chat.postMessage")) == 1 and len(h.chats(h.std)) == 1
    # A redelivery of an event nobody processed yet (say, the first try hit a dead replica) still runs.
    h.driver.event(mention("UALICE", "Acme PO?", ts="1700000200.000100"), event_id="EvNEW2", headers=retry)
    h.fake.wait_calls("chat.update", 2)
    assert metric("closer_retries_total", kind="slack_redelivery") >= 2


def test_a_double_click_acts_once(h: Harness) -> None:
    _, name = h.driver.command("What discount did Acme ask for?")
    value = h.answer_value(name).encode()
    before = metric("closer_deduplicated_events_total", kind="click")
    now = time.time()
    with ThreadPoolExecutor(2) as pool:
        clicks = [pool.submit(h.driver.click, b.REGENERATE, value, ephemeral=True, message_ts="1700000500.000001",
                              action_ts=f"{now + d:.6f}") for d in (0.0, 0.25)]  # fmt: skip
        names = [c.result()[1] for c in clicks]
    assert eventually(lambda: metric("closer_deduplicated_events_total", kind="click") == before + 1)
    assert h.fake.wait_for(lambda: sum(len(h.fake.responses_to(n)) for n in names) >= 1)
    assert len(h.chats(h.std)) == 2  # the first answer and exactly one regeneration
    assert sum(len(h.fake.responses_to(n)) for n in names) == 1


# --- robustness --------------------------------------------------------------------------------------


def test_rate_limits_and_server_errors_are_retried(h: Harness) -> None:
    before = (
        metric("closer_retries_total", kind="rate_limited"),
        metric("closer_retries_total", kind="server_error"),
    )
    h.fake.fail_next("users.info", Failure(429, "0"))
    h.fake.fail_next("chat.postMessage", Failure(503, None, {"ok": False, "error": "service_unavailable"}))
    h.driver.event(mention("UALICE", "What discount did Acme ask for?"))
    h.fake.wait_calls("chat.update", timeout=15)
    assert len(h.fake.calls_to("users.info")) == 2 and len(h.fake.calls_to("chat.postMessage")) == 2
    after = (
        metric("closer_retries_total", kind="rate_limited"),
        metric("closer_retries_total", kind="server_error"),
    )
    assert after == (before[0] + 1, before[1] + 1)


def test_failures_become_a_short_message_with_a_reference(h: Harness) -> None:
    h.fake.fail_next("users.info", *[Failure(500, None, {"ok": False, "error": "fatal_error"})] * 3)
    _, name = h.driver.command("What discount did Acme ask for?")
    (reply,) = h.fake.wait_responses(name, timeout=15)
    text = text_of(reply.params)
    assert "Sorry" in text and "ref " in text and "Traceback" not in text
    h.std.fail_next(LLMFailure(status=400, body={"error": {"message": "bad request", "type": "invalid"}}))
    _, name = h.driver.command("What discount did Acme ask for?")
    text = text_of(h.fake.wait_responses(name)[0].params)
    assert "refused the request" in text and "Traceback" not in text


def test_help_and_usage_errors_are_answered_in_the_ack(h: Harness) -> None:
    r, name = h.driver.command("help")
    assert r.status_code == 200 and "followup" in r.json()["text"]
    r, _ = h.driver.command("followup")
    assert "needs a deal name or id" in r.json()["text"]
    r, name = h.driver.command("digest")
    assert "Working on it" in r.json()["text"]
    assert "digest" in text_of(h.fake.wait_responses(name)[0].params).lower()


def test_long_answers_are_split_within_block_kit_limits(h: Harness) -> None:
    h.std.reply = lambda body: "\n\n".join(f"Paragraph {i}: " + "word " * 300 + "[1]" for i in range(60))
    _, name = h.driver.command("Tell me everything about Acme")
    is_last = lambda: any(blk["type"] == "actions" for blk in h.fake.responses_to(name)[-1].params["blocks"])  # noqa: E731
    assert h.fake.wait_for(lambda: bool(h.fake.responses_to(name)) and is_last())
    posts = h.fake.responses_to(name)
    assert 2 <= len(posts) <= 5 and "too long for Slack" in text_of(posts[-1].params)
    for post in posts:
        blocks = post.params["blocks"]
        assert len(blocks) <= 50 and len(json.dumps(blocks)) < 40_000
        assert all(len(blk["text"]["text"]) <= 3000 for blk in blocks if blk["type"] == "section")
    assert posts[0].params["replace_original"] is True and posts[1].params["replace_original"] is False
    assert any(blk["type"] == "actions" for blk in posts[-1].params["blocks"])


def test_url_verification_is_answered(h: Harness) -> None:
    r = h.driver.post(
        json.dumps({"type": "url_verification", "challenge": "ch-123"}).encode(), "application/json"
    )
    assert r.status_code == 200 and r.json() == {"challenge": "ch-123"}


@pytest.mark.parametrize("h", [{"slack_memory_seconds": 0}], indirect=True)
def test_regenerating_a_forgotten_private_answer_asks_again(h: Harness) -> None:
    _, name = h.driver.command("--private What discount did Acme ask for?")
    value = h.answer_value(name)
    assert value.private and value.text is None
    _, click = h.driver.click(b.REGENERATE, value.encode(), ephemeral=True)
    (reply,) = h.fake.wait_responses(click)
    assert "Please ask again" in text_of(reply.params) and reply.params["replace_original"] is False
    assert len(h.chats(h.priv)) == 1 and h.std.bytes_received() == 0


def test_healthz_and_metrics(h: Harness) -> None:
    _, name = h.driver.command("What discount did Acme ask for?")
    h.fake.wait_responses(name)
    health = httpx.get(f"{h.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["mode"] == "http"
    text = httpx.get(f"{h.url}/metrics").text
    for name in ("closer_ack_seconds_bucket", "closer_requests_total", "closer_retrieval_seconds_count",
                 'closer_llm_seconds_count{route="standard"}', 'closer_llm_tokens_total{kind="prompt",route="standard"}',
                 "# TYPE closer_digests_sent_total counter", "# TYPE closer_deduplicated_events_total counter"):  # fmt: skip
        assert name in text, name


def test_logs_are_json_lines_without_content_or_secrets(h: Harness) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buf = io.StringIO()
    configure_logging("DEBUG", secrets=[TOKEN, SECRET], stream=buf)
    try:
        _, name = h.driver.command(f"--private What did Acme ask about {MARKER}?")
        h.fake.wait_responses(name)
        h.driver.event(mention("UBOB", f"Globex security {MARKER}"))
        h.fake.wait_calls("chat.update")
        h.fake.fail_next("users.info", *[Failure(500, None, {"ok": False, "error": "fatal_error"})] * 3)
        _, name = h.driver.command(f"and {MARKER}")
        h.fake.wait_responses(name, timeout=15)
        assert eventually(lambda: buf.getvalue().count("request handled") >= 3)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    out = buf.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    assert any(line["request_id"] != "-" and line["message"] == "request handled" for line in lines)
    for secret in (MARKER, TOKEN, SECRET, "sk-std", "sk-priv", "Acme ask", "15%"):
        assert secret not in out, secret


# --- Socket Mode ---------------------------------------------------------------------------------------


def test_socket_mode_acks_envelopes_and_answers(tmp_path: Path, embedder: LocalEmbedder, crm: Path) -> None:
    with (
        FakeSocketMode() as ws,
        harness_for(tmp_path, embedder, crm, socket=ws, slack_signing_secret=None) as h,
    ):
        assert ws.connected.wait(10)
        assert h.fake.calls_to("apps.connections.open")[0].headers["authorization"] == f"Bearer {APP_TOKEN}"
        assert httpx.get(f"{h.url}/healthz").json()["mode"] == "socket"
        assert httpx.post(f"{h.url}/slack/events", content=b"{}").status_code in (404, 405)
        payload = {"team_id": "T0001", "channel_id": "C100", "user_id": "UALICE", "command": "/sales",
                   "text": "What discount did Acme ask for?", "response_url": h.fake.response_url("sock1"),
                   "trigger_id": "trig-sock1"}  # fmt: skip
        acks_before = metric("closer_ack_seconds_count", surface="command")
        ws.send({"envelope_id": "env-1", "type": "slash_commands", "payload": payload,
                 "accepts_response_payload": True})  # fmt: skip
        ack = ws.wait_ack("env-1")
        assert "Working on it" in json.dumps(ack.get("payload"))
        (answer,) = h.fake.wait_responses("sock1")
        assert metric("closer_ack_seconds_count", surface="command") == acks_before + 1
        assert "*15%*" in text_of(answer.params)
