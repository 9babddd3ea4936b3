"""The Slack door under failure and odd input, in process (real uvicorn, fake Slack, fake LLMs):
answers are never overwritten by errors, placeholders always resolve, nothing secret or live is
posted, oversized and malformed requests are refused with the right status, and every event Slack
sends is acknowledged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from bot.slack import buttons as b
from bot.slack.clients import web_client
from bot.slack.inbound import ATTACHMENTS_NOT_READ
from bot.slack.render import DEGRADED_PUBLIC, notice
from bot.slack.targets import Thread, say
from tests.fake_openai import Failure as LLMFailure
from tests.fake_slack import Failure, FakeSlack, sign
from tests.slack_fixtures import SECRET, Harness, eventually, mention, metric, text_of
from tests.slack_fixtures import crm_fixture as crm_fixture  # the crm fixture
from tests.slack_fixtures import harness_fixture as harness_fixture  # the h fixture

FORM = "application/x-www-form-urlencoded"
LEAKY = ("Invalid key sk-live-0123456789abcdefXYZ for <!channel> <@UALICE>: "
         "see <https://evil.example/x|https://ours.example/help>")  # fmt: skip


def dm(text: str, **extra: object) -> dict[str, object]:
    return {"type": "message", "channel_type": "im", "channel": "D100", "user": "UALICE", "text": text,
            "ts": "1700000701.000100", **extra}  # fmt: skip


def everything_posted(h: Harness) -> str:
    return json.dumps(
        [c.params for c in h.fake.calls] + [r.params for r in h.fake.responses], ensure_ascii=False
    )


# --- a delivered answer is never overwritten; placeholders always resolve -------------------------------


def test_a_failure_after_the_answer_never_overwrites_it(h: Harness) -> None:
    h.fake.fail_next("chat.postEphemeral", Failure.error("user_not_in_channel"))
    before = metric("closer_requests_total", surface="mention", outcome="ok")
    h.driver.event(mention("UBOB", "What does the Globex CISO want before signing?"))
    assert eventually(lambda: metric("closer_requests_total", surface="mention", outcome="ok") == before + 1)
    (answer,) = h.fake.calls_to("chat.update")
    assert "public records only" in text_of(answer.params)
    assert "Sorry" not in everything_posted(h)


def test_an_error_after_delivery_is_told_in_a_new_message() -> None:
    with FakeSlack() as fake:
        thread = Thread(web_client("xoxb-t", fake.api_url), "C1", "1.0")
        thread.placeholder("🔎 Looking into it…")
        thread.send([notice("the answer")])
        say(thread, "Sorry — something failed later")
        (update,) = fake.calls_to("chat.update")
        assert "the answer" in text_of(update.params)
        assert "Sorry" in text_of(fake.calls_to("chat.postMessage")[-1].params)


def test_a_placeholder_that_cannot_be_updated_is_replaced_not_left_behind(h: Harness) -> None:
    h.fake.fail_next("chat.update", Failure.error("cant_update_message"))
    h.driver.event(mention("UALICE", "What discount did Acme ask for?"))
    (delete,) = h.fake.wait_calls("chat.delete")
    (failed,) = h.fake.calls_to("chat.update")
    assert delete.params["ts"] == failed.params["ts"]  # the placeholder, gone
    placeholder, answer = h.fake.calls_to("chat.postMessage")
    assert "Looking into it" in text_of(placeholder.params) and "*15%*" in text_of(answer.params)


# --- nothing secret or live in what Closer posts -----------------------------------------------------------


def test_endpoint_errors_are_generic_in_a_channel_and_masked_for_the_asker(h: Harness) -> None:
    h.std.fail_next(LLMFailure(status=400, body={"error": {"message": LEAKY, "type": "invalid_request"}}))
    h.driver.event(mention("UALICE", "What discount did Acme ask for?"))
    (detail,) = h.fake.wait_calls("chat.postEphemeral")
    (public,) = h.fake.calls_to("chat.update")  # the placeholder, resolved with a generic line
    assert "ref " in text_of(public.params) and "refused" not in text_of(public.params)
    assert detail.params["user"] == "UALICE" and "refused the request" in text_of(detail.params)
    posted = everything_posted(h)
    assert "sk-live" not in posted and "<!channel>" not in posted and "<@UALICE>" not in posted
    assert "|https://ours.example" not in posted and "[redacted]" in text_of(detail.params)


def test_a_degraded_answer_in_a_channel_keeps_the_endpoints_words_for_the_asker(h: Harness) -> None:
    down = LLMFailure(status=503, body={"error": {"message": LEAKY, "type": "server_error"}})
    h.std.fail_next(*[down] * 20)
    h.driver.event(mention("UALICE", "What discount did Acme ask for?"))
    (why,) = h.fake.wait_calls("chat.postEphemeral", timeout=20)
    (public,) = h.fake.calls_to("chat.update")
    assert DEGRADED_PUBLIC in text_of(public.params) and "503" not in text_of(public.params)
    assert why.params["user"] == "UALICE" and "503" in text_of(why.params)
    posted = everything_posted(h)
    assert "sk-live" not in posted and "<!channel>" not in posted


def test_streamed_chunks_are_sanitised_like_the_final_message(h: Harness) -> None:
    h.std.reply = lambda body: "Acme asked for **15%** off [1]. " * 3 + LEAKY + " and that is all."
    h.driver.event(dm("What discount did Acme ask for?"))
    (update,) = h.fake.wait_calls("chat.update")
    streamed = "".join(
        chunk["text"]
        for c in h.fake.calls_to("chat.startStream", "chat.appendStream", "chat.stopStream")
        for chunk in c.params.get("chunks") or []
    )
    assert "Acme asked for" in streamed and "and that is all" in streamed
    for shown in (streamed, text_of(update.params)):
        assert "sk-live" not in shown and "<!channel>" not in shown and "<@UALICE>" not in shown
        assert "](https://evil" not in shown and "|https://ours.example" not in shown
        assert "https://evil.example/x" in shown  # the real address, shown as it is


# --- bounded and well-formed requests ------------------------------------------------------------------


@pytest.mark.parametrize("h", [{"slack_max_body_bytes": 65_536}], indirect=True)
def test_bodies_over_the_limit_are_refused_before_they_are_read(h: Harness) -> None:
    url = f"{h.url}/slack/events"
    big = b'{"type": "event_callback", "pad": "' + b"x" * 300_000 + b'"}'
    assert httpx.post(url, content=big, headers={"Content-Type": "application/json"}).status_code == 413
    assert h.driver.post(big, "application/json").status_code == 413  # signed or not

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap holds on the streamed read
        yield b'{"type": "event_callback", "pad": "'
        for _ in range(40):
            yield b"x" * 65_536

    assert httpx.post(url, content=chunked(), headers={"Content-Type": "application/json"}).status_code == 413
    assert httpx.get(f"{h.url}/healthz").status_code == 200
    r, name = h.driver.command("What discount did Acme ask for?")  # normal requests are unaffected
    assert r.status_code == 200 and h.fake.wait_responses(name)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"type": "event_callback", "event_id": "Ev1", "event": {', "application/json"),
        (b"payload=not-json", "application/x-www-form-urlencoded"),
        (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        (
            '{"type": "event_callback", "event": {"type": "app_mention", "text": "\u00e9"}}'.encode(
                "latin-1"
            ),
            "application/json",
        ),
        (
            json.dumps(
                {
                    "type": "event_callback",
                    "event_id": "Ev2",
                    "team_id": "T0001",
                    "event": {"type": "app_mention", "text": "<@UBOT> hi", "channel": "C1", "ts": "1.0"},
                }
            ).encode(),
            "application/json",
        ),
        (
            json.dumps({"type": "event_callback", "event_id": "Ev3", "event": "app_mention"}).encode(),
            "application/json",
        ),
        (b"[1, 2, 3]", "application/json"),
        (
            b"payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%7D%2C%22actions%22%3A%5B%5D%7D",
            FORM,
        ),
        (
            json.dumps(
                {
                    "type": "event_callback",
                    "event_id": "Ev4",
                    "team_id": "T0001",
                    "event": {
                        "type": "message",
                        "channel_type": "im",
                        "channel": "D1",
                        "text": "hi",
                        "ts": "1.0",
                    },
                }
            ).encode(),
            "application/json",
        ),
    ],
)
def test_malformed_signed_bodies_are_400_and_the_server_stays_up(
    h: Harness, body: bytes, content_type: str
) -> None:
    r = h.driver.post(body, content_type)
    assert r.status_code == 400, r.text
    assert httpx.get(f"{h.url}/healthz").status_code == 200
    assert h.fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-5"])
def test_an_unusable_timestamp_is_401(h: Harness, timestamp: str) -> None:
    body = json.dumps(
        {"type": "event_callback", "event_id": "Ev9", "event": {"type": "app_mention"}}
    ).encode()
    headers = {
        **sign(SECRET, body),
        "X-Slack-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    assert httpx.post(f"{h.url}/slack/events", content=body, headers=headers).status_code == 401


def test_slacks_certificate_probe_is_answered_without_a_signature(h: Harness) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    probe = httpx.post(f"{h.url}/slack/events", content=b"ssl_check=1&token=verification-token", headers=form)
    assert probe.status_code == 200
    smuggled = b"ssl_check=1&token=x&command=%2Fsales&text=hi&user_id=UALICE&trigger_id=t1&response_url=x"
    assert httpx.post(f"{h.url}/slack/events", content=smuggled, headers=form).status_code == 200
    assert [c.method for c in h.fake.calls if c.method != "auth.test"] == [] and h.chats(h.std) == []


# --- events Slack requires an answer to --------------------------------------------------------------------


def test_app_rate_limited_and_unknown_event_types_get_200(h: Harness) -> None:
    before = metric("closer_requests_total", surface="event", outcome="app_rate_limited")
    limited = {"token": "x", "type": "app_rate_limited", "team_id": "T0001",
               "minute_rate_limited": 1518467820, "api_app_id": "A1"}  # fmt: skip
    assert h.driver.post(json.dumps(limited).encode(), "application/json").status_code == 200
    assert metric("closer_requests_total", surface="event", outcome="app_rate_limited") == before + 1
    reaction = {"type": "reaction_added", "user": "UALICE", "reaction": "thumbsup",
                "item": {"type": "message", "channel": "C1", "ts": "1.0"}, "event_ts": "2.0"}  # fmt: skip
    assert h.driver.event(reaction).status_code == 200
    assert (
        h.driver.event({"type": "channel_created", "channel": {"id": "C9", "name": "x"}}).status_code == 200
    )


# --- what people send is answered; bots are not ---------------------------------------------------------


def test_a_dm_with_a_file_is_answered_and_says_files_are_not_read(h: Harness) -> None:
    files = [
        {
            "id": "F1",
            "name": "po.pdf",
            "mimetype": "application/pdf",
            "url_private": "https://files.example/F1",
        }
    ]
    h.driver.event(dm("What discount did Acme ask for?", subtype="file_share", files=files))
    (update,) = h.fake.wait_calls("chat.update")
    assert "*15%*" in text_of(update.params) and ATTACHMENTS_NOT_READ in text_of(update.params)
    h.driver.event(dm("", subtype="file_share", files=files, ts="1700000702.000100"))
    h.fake.wait_for(
        lambda: any("type your question" in text_of(c.params) for c in h.fake.calls_to("chat.postMessage"))
    )


def test_a_thread_broadcast_in_a_dm_is_answered(h: Harness) -> None:
    h.driver.event(
        dm("What discount did Acme ask for?", subtype="thread_broadcast", thread_ts="1700000600.000100")
    )
    (update,) = h.fake.wait_calls("chat.update")
    assert "*15%*" in text_of(update.params)


def test_mentions_by_bots_are_never_answered(h: Harness) -> None:
    bot = {**mention("UOTHERBOT", "What discount did Acme ask for?"), "bot_id": "B999"}
    assert h.driver.event(bot).status_code == 200
    assert h.driver.event({**bot, "subtype": "bot_message", "user": None}).status_code in (200, 400)
    h.driver.event(mention("UALICE", "What discount did Acme ask for?", ts="1700000800.000100"))
    h.fake.wait_calls("chat.update")
    assert len(h.fake.calls_to("chat.postMessage")) == 1 and len(h.chats(h.std)) == 1


def test_a_slash_commands_text_is_decoded_too(h: Harness) -> None:
    _, name = h.driver.command("what did <@UBOB|bob> say about Acme &amp; <#C1|deals>?")
    h.fake.wait_responses(name)
    assert "what did @bob say about Acme & #deals?" in h.prompt(h.std)


def test_the_question_is_what_the_user_wrote(h: Harness) -> None:
    h.driver.event(
        mention("UALICE", "what did <@UBOB> say about Acme &amp; <https://acme.example/po|the PO>?")
    )
    h.fake.wait_calls("chat.update")
    prompt = h.prompt(h.std)
    assert "what did @Bob say about Acme & the PO (https://acme.example/po)?" in prompt
    assert "UBOT" not in prompt and "&amp;" not in prompt


# --- buttons on DM answers act on the DM ------------------------------------------------------------------


def test_buttons_on_a_dm_answer_act_on_the_dm(h: Harness) -> None:
    h.driver.event(dm("What discount did Acme ask for?"))
    (update,) = h.fake.wait_calls("chat.update")
    blocks, where = update.params["blocks"], {"channel": "D100", "thread_ts": "1700000701.000100"}
    (feedback,) = [e for blk in blocks if blk["type"] == "context_actions" for e in blk["elements"]]
    assert feedback["type"] == "feedback_buttons"  # Slack's own 👍/👎 under a streamed answer
    actions = [e for blk in blocks if blk["type"] == "actions" for e in blk["elements"]]
    assert not any(e["action_id"] in (b.UP, b.DOWN) for e in actions)
    value = next(e["value"] for e in actions if e["action_id"] == b.SHORTER)
    answer_ts = update.params["ts"]
    _, click = h.driver.click(b.FEEDBACK, feedback["negative_button"]["value"], message_ts=answer_ts, **where)
    h.fake.wait_for(lambda: any("noted" in text_of(c.params) for c in h.fake.calls_to("chat.postMessage")))
    assert h.fake.responses_to(click) == []  # no "only visible to you" note in a DM
    (row,) = h.svc.assistant.state.feedback_rows(request_id=b.ButtonValue.decode(value).request_id)
    assert row.rating == -1
    _, shorter = h.driver.click(b.SHORTER, value, message_ts=answer_ts, **where)
    h.fake.wait_calls("chat.update", 2)
    assert h.fake.calls_to("chat.update")[-1].params["ts"] == answer_ts and h.fake.responses_to(shorter) == []
