"""Rendering drafts for Slack: mrkdwn conversion, emphasis, badges, warnings and Block Kit limits."""

from __future__ import annotations

import json

import pytest

from bot.assistant import Draft
from bot.drafting.claims import Claim
from bot.drafting.sources import Citation
from bot.knowledge.search import Hit
from bot.privacy.route import RouteDecision
from bot.slack.buttons import MAX_VALUE, ButtonValue, answer_buttons
from bot.slack.mrkdwn import emphasize, to_mrkdwn
from bot.slack.render import MAX_MESSAGES, UNVERIFIED, render_draft, split_text

STANDARD = RouteDecision("standard", "standard is the default here")
PRIVATE = RouteDecision("private", "your private mode is on")


def draft(text: str, *, decision: RouteDecision = STANDARD, **kwargs: object) -> Draft:
    hit = Hit("D1", "deal", "Acme Expansion", 1.0, "Deal: Acme Expansion", "D1", "A1", "D1#0")
    cites = [Citation(1, "D1", "deal", "Acme Expansion")]
    return Draft(text, cites, decision, "rid123", sources=[hit], **kwargs)  # type: ignore[arg-type]


def all_text(messages: list[dict[str, object]]) -> str:
    return json.dumps(messages, ensure_ascii=False)


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __also__", "*bold* and *also*"),
        ("*italic* text", "_italic_ text"),
        ("# Heading\n## **Sub** head", "*Heading*\n*Sub head*"),
        ("see [the docs](https://example.com/x?a=1)", "see <https://example.com/x?a=1|the docs>"),
        ("- one\n* two\n+ three", "• one\n• two\n• three"),
        ("~~old~~ & <new>", "~old~ &amp; &lt;new&gt;"),
        ("keep `a**b**` and\n```\n**raw**\n```", "keep `a**b**` and\n```\n**raw**\n```"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_figures_and_deal_names_are_bold_once() -> None:
    text = emphasize(
        "*Acme Expansion* is $120,000; Acme Expansion wants 15% and `10%` off", ["Acme Expansion"]
    )
    assert text == "*Acme Expansion* is *$120,000*; *Acme Expansion* wants *15%* and `10%` off"
    assert emphasize("<https://x.example/15%|link 15%>") == "<https://x.example/15%|link 15%>"


def test_an_answer_shows_sources_warnings_and_buttons() -> None:
    d = draft("They asked for **15%** [1].", unverified=[Claim("30%", "percent", False)])  # type: ignore[arg-type]
    value = ButtonValue("rid123", "ask", "ephemeral", "UALICE", text="q?", sources=("deal:D1",))
    (message,) = render_draft(d, buttons=answer_buttons(value))
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "They asked for *15%* [1]."
    text = all_text([message])
    assert "[1] Acme Expansion (deal D1)" in text
    assert f"{UNVERIFIED}: `30%`" in text
    actions = [e["action_id"] for e in blocks[-1]["elements"]]
    assert actions == ["closer_regenerate", "closer_shorter", "closer_email", "closer_private", "closer_up",
                       "closer_down", "closer_sources"]  # fmt: skip
    assert "Private — sent only" not in text


def test_private_answers_carry_the_badge_and_no_private_switch() -> None:
    d = draft("Answer [1].", decision=PRIVATE)
    value = ButtonValue("rid123", "ask", "dm", "UALICE", private=True, text="secret question")
    (message,) = render_draft(d, private_host="llm.internal:8000", buttons=answer_buttons(value))
    text = all_text([message])
    assert "🔒 Private — sent only to llm.internal:8000" in text
    assert "closer_private" not in text and "secret question" not in text


def test_degraded_answers_show_the_note() -> None:
    d = draft("I couldn't draft an answer: no model. These are the most relevant sources:", note="no model")
    (message,) = render_draft(d)
    assert "⚠ Degraded answer: no model" in all_text([message])


def test_followup_drafts_show_subject_and_next_steps() -> None:
    d = draft("Hi Dana, [1]", subject="Next steps", next_steps=["Send MSA", "Book a call"])
    (message,) = render_draft(d)
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert sections[0] == "*Subject:* Next steps" and "• Send MSA\n• Book a call" in sections[-1]


def test_long_answers_respect_block_kit_limits() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "lorem ipsum " * 400 for i in range(40))
    messages = render_draft(draft(text), buttons=answer_buttons(ButtonValue("r", "ask", "dm", "U")))
    assert 1 < len(messages) <= MAX_MESSAGES
    for m in messages:
        assert len(m["blocks"]) <= 50 and len(m["text"]) <= 3000
        assert all(len(b["text"]["text"]) <= 3000 for b in m["blocks"] if b["type"] == "section")
        assert sum(len(b["text"]["text"]) for b in m["blocks"] if b["type"] == "section") <= 12_000
    assert messages[-1]["blocks"][-1]["type"] == "actions"


def test_split_text_cuts_at_paragraphs_then_lines_then_words() -> None:
    pieces = split_text("a" * 50 + "\n\n" + "b" * 50, limit=80)
    assert pieces == ["a" * 50, "b" * 50]
    assert all(len(p) <= 80 for p in split_text("word " * 100, limit=80))
    assert split_text("x" * 200, limit=80) == ["x" * 80, "x" * 80, "x" * 40]


def test_button_values_stay_under_slacks_limit_and_drop_private_text() -> None:
    long = ButtonValue("r", "ask", "dm", "U", text="q" * 5000, sources=("note:N1",))
    assert len(long.encode()) <= MAX_VALUE and ButtonValue.decode(long.encode()).text is None
    private = ButtonValue("r", "ask", "dm", "U", private=True, text="a private question")
    assert "private question" not in private.encode()
    short = ButtonValue("r", "reply", "channel", "U", public_only=True, text="hello", sources=("doc:a.md",))
    assert ButtonValue.decode(short.encode()) == short
