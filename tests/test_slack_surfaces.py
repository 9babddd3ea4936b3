"""The Slack surfaces in process: privacy routes, channel mentions, DMs and the assistant pane,
and the buttons under answers. The harness (a real uvicorn server on 127.0.0.1, a fake Slack and
fake standard and private LLM endpoints) is in :mod:`tests.slack_fixtures`.
"""

from __future__ import annotations

import json

import pytest

from bot.slack import buttons as b
from tests.slack_fixtures import MARKER, Harness, mention, text_of
from tests.slack_fixtures import crm_fixture as crm_fixture  # the crm fixture
from tests.slack_fixtures import harness_fixture as harness_fixture  # the h fixture

# --- privacy -----------------------------------------------------------------------------------------


def test_private_on_sends_the_next_answer_only_to_the_private_endpoint(h: Harness) -> None:
    _, name = h.driver.command("private on")
    (reply,) = h.fake.wait_responses(name)
    assert "Private mode is on" in text_of(reply.params)
    _, name = h.driver.command(f"What discount did Acme ask for? {MARKER}")
    (answer,) = h.fake.wait_responses(name)
    host = h.priv.base_url.split("/")[2]
    assert f"🔒 Private — sent only to {host}" in text_of(answer.params)
    assert h.std.bytes_received() == 0 and len(h.chats(h.priv)) == 1
    assert MARKER not in json.dumps(answer.params["blocks"][-1])  # no question in the button values
    value = h.answer_value(name)
    assert value.private and value.text is None


def test_private_flag_is_for_one_request(h: Harness) -> None:
    _, first = h.driver.command("--private What discount did Acme ask for?")
    h.fake.wait_responses(first)
    _, second = h.driver.command("What discount did Acme ask for?")
    h.fake.wait_responses(second)
    assert len(h.chats(h.priv)) == 1 and len(h.chats(h.std)) == 1


@pytest.mark.parametrize("h", [{"private_llm_base_url": None}], indirect=True)
def test_private_without_a_private_endpoint_is_refused_in_plain_words(h: Harness) -> None:
    _, name = h.driver.command("--private What discount did Acme ask for?")
    (reply,) = h.fake.wait_responses(name)
    text = text_of(reply.params)
    assert "🔒" in text and "no private endpoint is configured" in text and "Traceback" not in text
    assert h.std.bytes_received() == 0


def test_a_channel_mention_never_shows_a_private_record(h: Harness) -> None:
    # Bob is on Globex Pilot's team (private deal D2, note N2 "SOC 2"); the channel is not.
    h.driver.event(mention("UBOB", "What does the Globex CISO want before signing?"))
    h.fake.wait_calls("chat.update")
    assert "SOC 2" not in h.prompt(h.std) and "Globex Pilot" not in h.prompt(h.std)
    public_reply = text_of(h.fake.calls_to("chat.update")[0].params)
    assert "Security review" not in public_reply and "N2" not in public_reply
    assert "public records only" in public_reply
    (offer,) = h.fake.wait_calls("chat.postEphemeral")  # only Bob hears that he could see more
    assert offer.params["user"] == "UBOB" and b.MINE in text_of(offer.params)
    value = next(
        e["value"] for blk in offer.params["blocks"] if blk["type"] == "actions" for e in blk["elements"]
    )
    _, name = h.driver.click(b.MINE, value, user="UBOB", channel="C200", ephemeral=True)
    (mine,) = h.fake.wait_responses(name)
    assert mine.params["response_type"] == "ephemeral" and "SOC 2" in h.prompt(h.std)
    assert len(h.fake.calls_to("chat.postMessage")) == 1  # nothing more went to the channel


def test_an_unknown_user_gets_public_sources_and_is_told_why(h: Harness) -> None:
    _, name = h.driver.command("What discount did Acme ask for on AX-PRO-2?", user="UGUEST")
    (answer,) = h.fake.wait_responses(name)
    assert "couldn't see an email on your Slack profile" in text_of(answer.params)
    assert "PO 7700012345" not in h.prompt(h.std)  # Acme's private pricing note


# --- DMs and the assistant pane ------------------------------------------------------------------------


def test_assistant_pane_prompts_status_stream_and_thread_history(h: Harness) -> None:
    thread = {"user_id": "UALICE", "channel_id": "D100", "thread_ts": "1700000300.000100", "context": {}}
    h.driver.event({"type": "assistant_thread_started", "assistant_thread": thread})
    (prompts,) = h.fake.wait_calls("assistant.threads.setSuggestedPrompts")
    assert prompts.params["thread_ts"] == thread["thread_ts"] and len(prompts.params["prompts"]) >= 3

    h.std.reply = lambda body: "Acme asked for **15%** off the AX-PRO-2 bundle [1]. " * 8
    first = {"type": "message", "channel_type": "im", "channel": "D100", "user": "UALICE",
             "text": f"What did Acme ask for? {MARKER}", "ts": "1700000301.000100", "thread_ts": thread["thread_ts"]}  # fmt: skip
    greeted = len(h.fake.wait_calls("chat.postMessage"))
    seen = len(h.fake.calls)
    h.driver.event(first)
    (stop,) = h.fake.wait_calls("chat.stopStream")
    calls = [
        c.method for c in h.fake.calls[seen:] if c.method.startswith(("assistant.threads.setStatus", "chat."))
    ]
    assert calls[:2] == ["assistant.threads.setStatus", "chat.startStream"]
    (status,) = h.fake.calls_to("assistant.threads.setStatus")
    assert status.params["status"] == "is thinking…"
    (start,) = h.fake.calls_to("chat.startStream")
    assert (
        start.params["chunks"][0]["type"] == "markdown_text" and start.params["recipient_user_id"] == "UALICE"
    )
    (update,) = h.fake.wait_calls("chat.update")
    assert update.params["ts"] == stop.params["ts"]  # the streamed message becomes the checked answer
    assert any(blk["type"] == "actions" for blk in update.params["blocks"])

    # A follow-up in the same thread, without mentioning anyone: the thread is the history (kept in
    # memory from the turns Closer took part in: no conversations.replies call).
    h.driver.event({**first, "text": "Which PO is that?", "ts": "1700000303.000100"})
    h.fake.wait_calls("chat.stopStream", 2)
    assert len(h.fake.calls_to("chat.postMessage")) == greeted  # streamed and updated, never re-posted
    last = h.prompt(h.std)
    assert MARKER in last and "Acme asked for **15%** off" in last and "Which PO is that?" in last
    assert h.fake.calls_to("conversations.replies") == []


def test_a_top_level_dm_is_answered_in_its_thread(h: Harness) -> None:
    h.driver.event({"type": "message", "channel_type": "im", "channel": "D200", "user": "UALICE",
                    "text": "What discount did Acme ask for?", "ts": "1700000400.000100"})  # fmt: skip
    (start,) = h.fake.wait_calls("chat.startStream")
    assert start.params["thread_ts"] == "1700000400.000100"
    h.fake.wait_calls("chat.update")
    assert h.fake.calls_to("conversations.replies") == []  # a new thread has no history to read


# --- buttons -----------------------------------------------------------------------------------------


def test_feedback_is_recorded_with_the_sources_shown(h: Harness) -> None:
    _, name = h.driver.command("What discount did Acme ask for?")
    value = h.answer_value(name)
    _, click = h.driver.click(b.DOWN, value.encode(), ephemeral=True)
    (thanks,) = h.fake.wait_responses(click)
    assert thanks.params["replace_original"] is False and "noted" in text_of(thanks.params)
    (row,) = h.svc.assistant.state.feedback_rows(request_id=value.request_id)
    assert (row.rating, row.route, row.user_email) == (-1, "standard", "alice@x.example")
    assert row.sources == value.sources and row.sources[0].startswith("note:")


def test_sources_button_opens_a_modal(h: Harness) -> None:
    _, name = h.driver.command("What discount did Acme ask for?")
    h.driver.click(b.SOURCES, h.answer_value(name).encode(), ephemeral=True)
    (view,) = h.fake.wait_calls("views.open")
    assert view.params["view"]["type"] == "modal" and "Pricing call" in text_of(view.params)


def test_switch_to_private_and_email_buttons(h: Harness) -> None:
    _, name = h.driver.command("What discount did Acme ask for?")
    value = h.answer_value(name).encode()
    _, priv = h.driver.click(b.PRIVATE, value, ephemeral=True)
    assert "🔒 Private — sent only to" in text_of(h.fake.wait_responses(priv)[0].params)
    assert len(h.chats(h.priv)) == 1
    _, email = h.driver.click(b.EMAIL, value, ephemeral=True)
    h.fake.wait_responses(email)
    reply_prompt = h.prompt(h.std)
    assert (
        "What discount did Acme ask for?" in reply_prompt and "15%" in reply_prompt
    )  # the answer as history


def test_digest_buttons_draft_a_followup_and_snooze(h: Harness) -> None:
    from bot.digest.actions import FOLLOWUP_ACTION, SNOOZE_ACTION

    h.driver.click(FOLLOWUP_ACTION, "D1", channel="D300", message_ts="1700000600.000100")
    (draft,) = h.fake.wait_calls("chat.postMessage")
    assert draft.params["thread_ts"] == "1700000600.000100" and "closer_regenerate" in text_of(draft.params)
    h.driver.click(SNOOZE_ACTION, "D1", channel="D300", message_ts="1700000600.000100")
    (_, snoozed) = h.fake.wait_calls("chat.postMessage", 2)
    assert "Snoozed `D1` until" in text_of(snoozed.params)
