"""Realistic Slack payload families replayed through the real app (signed, over HTTP, against the
fake Slack), and every message Closer posts validated with slack-sdk's Block Kit models and Slack's
limits: slash commands, app_mention, message.im and its subtypes (file_share, thread_broadcast,
message_changed, bot messages), assistant_thread_started / _context_changed and messages in an
assistant thread, block_actions (buttons and feedback buttons), url_verification,
app_rate_limited and an event type Closer does not use.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import buttons as b
from bot.slack.inbound import ATTACHMENTS_NOT_READ
from bot.slack.stream import CAPPED, MAX_STREAM_CHARS
from tests import slack_payloads as p
from tests.slack_fixtures import Harness, eventually, metric, text_of
from tests.slack_fixtures import crm_fixture as crm_fixture  # the crm fixture
from tests.slack_fixtures import harness_fixture as harness_fixture  # the h fixture

FORM, JSON = "application/x-www-form-urlencoded", "application/json"
POSTING = ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.stopStream")
MESSAGE_TEXT_LIMIT = 40_000  # Slack truncates longer text
BLOCKS_TEXT_LIMIT = 12_000  # about where Slack answers msg_blocks_too_long


def send(h: Harness, body: dict[str, Any] | bytes, content_type: str = JSON) -> httpx.Response:
    """Deliver ``body`` as Slack does; the ack must not wait for any LLM answer (Slack gives it 3 s),
    so both endpoints hold their answers until it is back: an ack that waited would never come."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    h.std.hold()
    h.priv.hold()
    try:
        response = h.driver.post(raw, content_type)
    finally:
        h.std.release()
        h.priv.release()
    assert response.status_code == 200, (response.status_code, response.text)
    return response


def event(h: Harness, ev: dict[str, Any]) -> httpx.Response:
    return send(h, p.envelope(ev))


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def validate(message: dict[str, Any], *, modal: bool = False) -> None:
    """One message (or modal) as slack-sdk's Block Kit models and Slack's limits accept it."""
    blocks = _blocks(message)
    assert len(blocks) <= (100 if modal else 50)
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None and type(parsed) is not Block, f"unknown block type {raw.get('type')}"
        assert parsed.to_dict() == raw, f"fields Slack would not read in {raw}"  # to_dict() also validates
    if modal:
        View(**message).to_dict()
        return
    text = str(message.get("text") or "")
    assert len(text) <= MESSAGE_TEXT_LIMIT
    shown = sum(len(str((blk.get("text") or {}).get("text") or "")) for blk in blocks) + sum(
        len(str(e.get("text") or "")) for blk in blocks if blk["type"] == "context" for e in blk["elements"]
    )
    assert shown <= BLOCKS_TEXT_LIMIT
    for special in ("<!channel>", "<!here>", "<!everyone>"):
        assert special not in json.dumps(message)


def validate_everything_posted(h: Harness) -> int:
    """Validate all Closer sent to Slack so far; returns how many messages that was."""
    n = 0
    for call in h.fake.calls:
        if call.method in POSTING:
            validate(call.params)
            n += 1
        elif call.method == "views.open":
            view = call.params["view"]
            validate(json.loads(view) if isinstance(view, str) else view, modal=True)
            n += 1
    for posted in h.fake.responses:
        validate(posted.params)
        n += 1
    return n


def elements(message: dict[str, Any], block_type: str = "actions") -> list[dict[str, Any]]:
    return [e for blk in _blocks(message) if blk["type"] == block_type for e in blk["elements"]]


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(e for e in elements(message) if e["action_id"] == action_id)


def test_slash_commands_and_clicks_on_their_answers(h: Harness) -> None:
    ack = send(h, p.slash_command("UALICE", "What discount did Acme ask for?", response_url=h.fake.response_url("c1")),
               FORM)  # fmt: skip
    validate(ack.json())
    (answer,) = h.fake.wait_responses("c1")
    assert "*15%*" in text_of(answer.params)
    shorter = button(answer.params, b.SHORTER)
    ephemeral = {"ts": "1700100999.000100", "text": answer.params["text"]}
    send(h, p.block_actions("UALICE", shorter, message=ephemeral, channel="C0SALES", ephemeral=True,
                            response_url=h.fake.response_url("c2")), FORM)  # fmt: skip
    assert h.fake.wait_responses("c2")[0].params["replace_original"] is True
    send(h, p.block_actions("UALICE", button(answer.params, b.UP), message=ephemeral, channel="C0SALES",
                            ephemeral=True, response_url=h.fake.response_url("c3")), FORM)  # fmt: skip
    assert "noted" in text_of(h.fake.wait_responses("c3")[0].params)
    send(h, p.block_actions("UALICE", button(answer.params, b.SOURCES), message=ephemeral, channel="C0SALES",
                            ephemeral=True, response_url=h.fake.response_url("c4")), FORM)  # fmt: skip
    h.fake.wait_calls("views.open")
    ack = send(h, p.slash_command("UALICE", "help", response_url=h.fake.response_url("c5")), FORM)
    validate(ack.json())
    assert validate_everything_posted(h) >= 4


def test_mentions_in_a_channel_and_mentions_by_bots(h: Harness) -> None:
    event(h, p.bot_mention("What does the Globex CISO want before signing?"))
    event(h, p.app_mention("UBOB", "What does the Globex CISO want before signing?"))
    (answer,) = h.fake.wait_calls("chat.update")
    (offer,) = h.fake.wait_calls("chat.postEphemeral")
    assert len(h.chats(h.std)) == 1  # the bot's mention was not answered
    mine = button(offer.params, b.MINE)
    send(h, p.block_actions("UBOB", mine, message={"ts": "1700100998.000100", "text": "offer"}, channel="C0SALES",
                            ephemeral=True, response_url=h.fake.response_url("m1")), FORM)  # fmt: skip
    h.fake.wait_responses("m1")
    assert validate_everything_posted(h) >= 3 and "public records only" in text_of(answer.params)


def test_direct_messages_and_their_subtypes(h: Harness) -> None:
    for ignored in (p.im_changed("UALICE"), p.im_from_another_bot("hello"), p.classic_bot_message("hello")):
        event(h, ignored)
    event(h, p.im("UALICE", "What discount did Acme ask for?"))
    h.fake.wait_calls("chat.update")
    event(h, p.im_with_file("UALICE", "What discount did Acme ask for?"))
    filed = h.fake.wait_calls("chat.update", 2)[-1]
    assert ATTACHMENTS_NOT_READ in text_of(filed.params)
    event(h, p.im_thread_broadcast("UALICE", "What discount did Acme ask for?", root_ts="1700100000.000100"))
    last = h.fake.wait_calls("chat.update", 3)[-1]
    assert len(h.chats(h.std)) == 3  # edits and bots' messages were not answered
    (feedback,) = elements(last.params, "context_actions")
    message = {"ts": last.params["ts"], "thread_ts": "1700100000.000100", "text": last.params["text"],
               "blocks": _blocks(last.params)}  # fmt: skip
    action = {"type": "feedback_buttons", "action_id": feedback["action_id"],
              "value": feedback["positive_button"]["value"]}  # fmt: skip
    send(h, p.block_actions("UALICE", action, message=message, channel="D0ALICE",
                            response_url=h.fake.response_url("d1")), FORM)  # fmt: skip
    h.fake.wait_for(lambda: any("noted" in text_of(c.params) for c in h.fake.calls_to("chat.postMessage")))
    assert h.fake.responses_to("d1") == []
    assert validate_everything_posted(h) >= 6


def test_the_assistant_pane(h: Harness) -> None:
    root = "1700100500.000100"
    event(h, p.assistant_thread("assistant_thread_started", "UALICE", thread_ts=root))
    h.fake.wait_calls("assistant.threads.setSuggestedPrompts")
    h.fake.wait_calls("chat.postMessage")
    seen = len(h.fake.calls)
    event(h, p.assistant_thread("assistant_thread_context_changed", "UALICE", thread_ts=root))
    assert [c.method for c in h.fake.calls[seen:]] == []
    event(h, p.assistant_message("UALICE", "What discount did Acme ask for?", thread_ts=root))
    h.fake.wait_calls("chat.update")
    (status,) = h.fake.calls_to("assistant.threads.setStatus")
    assert status.params["loading_messages"] and status.params["status"]
    (title,) = h.fake.calls_to("assistant.threads.setTitle")
    assert title.params["title"] == "What discount did Acme ask for?" and title.params["thread_ts"] == root
    assert validate_everything_posted(h) >= 3


def test_protocol_events_are_answered_and_nothing_is_posted(h: Harness) -> None:
    assert send(h, p.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")).json() == {
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    }
    before = metric("closer_requests_total", surface="event", outcome="app_rate_limited")
    send(h, p.app_rate_limited())
    assert metric("closer_requests_total", surface="event", outcome="app_rate_limited") == before + 1
    ignored = metric("closer_requests_total", surface="event", outcome="ignored")
    event(h, p.unknown_event("UALICE"))
    assert eventually(
        lambda: metric("closer_requests_total", surface="event", outcome="ignored") == ignored + 1
    )
    assert [c.method for c in h.fake.calls if c.method != "auth.test"] == []


def test_a_long_answer_streams_within_slacks_limits_and_is_posted_whole(h: Harness) -> None:
    paragraph = "Acme asked for **15%** off the AX-PRO-2 bundle [1], with net-30 terms and a pilot first. "
    h.std.reply = lambda body: "\n\n".join([paragraph * 6] * 80)  # ~43,000 characters
    done = metric("closer_requests_total", surface="dm", outcome="ok")
    event(h, p.im("UALICE", "Tell me everything about Acme's discount request"))
    assert eventually(lambda: metric("closer_requests_total", surface="dm", outcome="ok") == done + 1, 30)
    streams = h.fake.calls_to("chat.startStream", "chat.appendStream", "chat.stopStream")
    streamed = "".join(chunk["text"] for c in streams for chunk in c.params.get("chunks") or [])
    assert len(streamed) <= MAX_STREAM_CHARS + len(CAPPED) and streamed.endswith(CAPPED)
    shown = [c.params for c in h.fake.calls_to("chat.update", "chat.postMessage")]
    assert len(shown) >= 4  # the whole answer, over several messages, within Slack's limits
    assert sum(text_of(m).count("net-30 terms") for m in shown) >= 400
    assert validate_everything_posted(h) == len(shown) + 1
