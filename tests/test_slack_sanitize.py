"""What Closer posts is safe whatever it quotes: secrets masked, no pings, honest links — in final
messages, notices and streamed chunks alike (one sanitiser). And what users write is read as they
wrote it (Slack's wire format decoded)."""

from __future__ import annotations

import re

import pytest

from bot.privacy.credentials import mask_credentials
from bot.slack.inbound import from_a_person, plain_text
from bot.slack.mrkdwn import escape, to_mrkdwn
from bot.slack.render import notice
from bot.slack.sanitize import BREAK, clean
from bot.slack.stream import AppendBudget, settled

SECRETS = [
    "sk-proj-AbCdEf0123456789xyz",
    "xoxb-1234-5678-abcdefABCDEF",
    "xapp-1-A0123-456-abcdef",
    "ghp_abcdefghijklmnopqrstuvwxyz012345",
    "AKIAABCDEFGHIJKLMNOP",
]
LIVE = re.compile(r"<[!@#]|<https?://|\[[^\]]*\]\(")  # anything Slack would turn into a ping or a link


@pytest.mark.parametrize("secret", SECRETS)
def test_credential_shapes_are_masked(secret: str) -> None:
    text = f"Incorrect API key provided: {secret}. Check your settings."
    masked = mask_credentials(text)
    assert secret not in masked and "[redacted]" in masked and masked.startswith("Incorrect API key")


def test_bearer_tokens_passwords_in_urls_and_assignments_are_masked() -> None:
    text = ("auth failed for Authorization: Bearer abc.def-123456 at "
            "postgresql://closer:hunter2pw@db.internal:5432/x?api_key=QWERTY987 password=\"p4ssw0rd!\"")  # fmt: skip
    masked = mask_credentials(text)
    for secret in ("abc.def-123456", "hunter2pw", "QWERTY987", "p4ssw0rd!"):
        assert secret not in masked
    assert "db.internal:5432" in masked and "postgresql://closer:[redacted]@" in masked
    assert mask_credentials("Our secret: a great onboarding") == "Our secret: a great onboarding"


@pytest.mark.parametrize(
    ("raw", "gone"),
    [
        ("Heads up <!channel> the price moved", "<!channel>"),
        ("<!here|here> call now", "<!here"),
        ("ping <@U024BE7LH> and <!subteam^SAZ94GDB8|@sales>", "<@U024BE7LH>"),
        ("plain @here and @channel and @everyone", "@here"),
    ],
)
def test_nothing_posted_can_ping_anyone(raw: str, gone: str) -> None:
    for shown in (escape(raw), to_mrkdwn(raw), notice(raw)["blocks"][0]["text"]["text"], notice(raw)["text"]):
        assert gone not in shown and not LIVE.search(shown)
        assert not re.search(r"(?<![\w.])@(here|channel|everyone)\b", shown)
    assert f"@{BREAK}" in clean(raw) or "@" not in clean(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "See <https://evil.example/login|https://ours.example/pricing>",
        "See [https://ours.example/pricing](https://evil.example/login)",
        "See [ours.example](https://evil.example/login)",
        "See [visit www.ours.example today](https://evil.example/login)",
        "See [ours.example](https://ours.example.evil.example/x)",
    ],
)
def test_a_link_whose_text_names_another_site_shows_its_real_address(raw: str) -> None:
    shown = to_mrkdwn(raw)
    assert "https://evil.example/" in shown or "https://ours.example.evil.example/x" in shown
    assert not re.search(r"<[^>|]*evil[^>|]*\|[^>]*ours", shown)  # no link text pretending to be ours
    assert "|https://ours.example" not in shown


def test_honest_links_stay_links_and_odd_schemes_are_dropped() -> None:
    assert to_mrkdwn("Read [the pricing page](https://ours.example/pricing)") == (
        "Read <https://ours.example/pricing|the pricing page>"
    )
    assert to_mrkdwn("[docs.ours.example](https://docs.ours.example/a)") == (
        "<https://docs.ours.example/a|docs.ours.example>"
    )
    assert "javascript" not in to_mrkdwn("[click](javascript:alert(1)) and <slack://open|open>")
    assert "<mailto:" not in escape("<mailto:bob@x.example|bob@x.example>")


def test_notices_are_escaped_and_masked_but_keep_their_formatting() -> None:
    msg = notice("*Refused*: the endpoint said `bad key sk-live-0123456789abcdef` & <!channel>")
    text = msg["blocks"][0]["text"]["text"]
    assert text.startswith("*Refused*: the endpoint said `bad key [redacted]` &amp; @")
    assert "sk-live" not in msg["text"] and "<!channel>" not in msg["text"]


def test_streamed_text_is_cleaned_like_the_final_message() -> None:
    whole = "Use key sk-proj-AbCdEf0123456789xyz, ping <!here>, see [https://ours.example](https://evil.example/x) ok"
    streamed = "".join(clean(part) for part in _pieces(whole))
    assert streamed == clean(whole)
    assert "sk-proj" not in streamed and "<!here>" not in streamed and "](https://evil" not in streamed


def _pieces(text: str) -> list[str]:
    """``text`` split where :func:`settled` would cut it as it grows."""
    pieces, start = [], 0
    for i in range(1, len(text) + 1):
        cut = settled(text[start:i])
        if cut:
            pieces.append(text[start : start + cut])
            start += cut
    return [*pieces, text[start:]]


@pytest.mark.parametrize(
    "whole",
    [
        "my password = hunter2secret and more words follow here",
        "header Authorization: Bearer abcdef123456 then more words here",
        "text [see https://ours.example/a b c](https://evil.example/x) d e f g",
    ],
)
def test_a_secret_or_link_spread_over_pieces_is_still_cleaned(whole: str) -> None:
    assert "".join(clean(p) for p in _pieces(whole)) == clean(whole)


def test_the_append_budget_paces_every_stream_of_the_process() -> None:
    now = [0.0]
    budget = AppendBudget(60, clock=lambda: now[0])
    taken = 0
    for _ in range(600):  # ten minutes of a stream asking ten times a second
        now[0] += 0.1
        taken += budget.take()
    assert taken <= 60 * 10 + 10  # the rate, plus one initial burst


def test_what_the_user_wrote_is_decoded_from_slack_text() -> None:
    names = {"UBOB": "Bob"}
    text = ("<@UBOT> what did <@UBOB> and <@UCAROL|carol> say in <#C123|deals> about "
            "<https://acme.example/po|the PO> &amp; terms &lt;30 days&gt; <!here>")  # fmt: skip
    got = plain_text(text, bot_user_id="UBOT", name_of=names.get)
    assert got == (
        "what did @Bob and @carol say in #deals about the PO (https://acme.example/po) & terms <30 days> @here"
    )
    assert plain_text("&amp;lt;b&amp;gt;") == "&lt;b&gt;"  # decoded once, as Slack encoded it once


def test_bots_and_edits_are_not_people() -> None:
    person = {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.0", "channel": "C1"}
    assert from_a_person(person)
    assert from_a_person({**person, "subtype": "file_share"})
    assert from_a_person({**person, "subtype": "thread_broadcast"})
    assert not from_a_person({**person, "bot_id": "B9"})
    assert not from_a_person({**person, "subtype": "bot_message"})
    assert not from_a_person({**person, "subtype": "message_changed"})
    assert not from_a_person(person, bot_user_id="U1")
