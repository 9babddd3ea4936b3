"""The buttons under an answer and what their values carry.

A value travels through Slack and back, so it holds ids only: the answer's request id, the asker,
where the answer lives, its route and (for feedback) the ids of the sources shown. The question
rides along only for standard-route answers; a private answer's question stays in process memory
(:mod:`bot.slack.memory`) or nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Mode = Literal["ephemeral", "dm", "channel"]

REGENERATE, SHORTER, EMAIL, PRIVATE = "closer_regenerate", "closer_shorter", "closer_email", "closer_private"
UP, DOWN, SOURCES, MINE = "closer_up", "closer_down", "closer_sources", "closer_mine"
FEEDBACK = "closer_feedback"  # Slack's feedback_buttons (👍/👎 under a streamed answer): rating in the value
ACTION_IDS = (REGENERATE, SHORTER, EMAIL, PRIVATE, UP, DOWN, SOURCES, MINE, FEEDBACK)
MAX_VALUE = 2000  # Slack's limit for a button value


@dataclass(frozen=True)
class ButtonValue:
    request_id: str
    action: str  # ask | reply | followup
    mode: Mode
    asker: str  # Slack user id of whoever got the answer
    private: bool = False  # the answer went the private route
    public_only: bool = False  # docs and public records only (channel answers, unknown users)
    text: str | None = None  # the question: standard-route answers only
    sources: tuple[str, ...] = field(default=())  # "type:id" of the sources shown (feedback)
    rating: int = 0  # +1 / -1 on the two halves of a feedback_buttons element

    def encode(self) -> str:
        out: dict[str, Any] = {"r": self.request_id, "a": self.action, "m": self.mode, "u": self.asker}
        if self.private:
            out["p"] = 1
        if self.public_only:
            out["o"] = 1
        if self.sources:
            out["s"] = list(self.sources)
        if self.rating:
            out["f"] = self.rating
        raw = json.dumps(out, separators=(",", ":"))
        if self.text and not self.private:
            with_text = json.dumps({**out, "q": self.text}, separators=(",", ":"), ensure_ascii=False)
            if len(with_text) <= MAX_VALUE:
                raw = with_text
        return raw

    @classmethod
    def decode(cls, raw: str) -> ButtonValue:
        data = json.loads(raw)
        return cls(
            request_id=str(data["r"]), action=str(data["a"]), mode=data["m"], asker=str(data["u"]),
            private=bool(data.get("p")), public_only=bool(data.get("o")), text=data.get("q"),
            sources=tuple(data.get("s") or ()), rating=int(data.get("f") or 0),
        )  # fmt: skip


def _button(text: str, action_id: str, value: ButtonValue, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value.encode(),
    }
    if style:
        out["style"] = style
    return out


def answer_buttons(value: ButtonValue, *, email_ok: bool = True, thumbs: bool = True) -> list[dict[str, Any]]:
    """Regenerate, shorter, email, private, 👍, 👎 (unless ``thumbs=False``: see
    :func:`feedback_block`), sources. Feedback buttons carry the source ids."""
    bare = ButtonValue(value.request_id, value.action, value.mode, value.asker, value.private,
                       value.public_only, value.text)  # fmt: skip
    buttons = [_button("↻ Regenerate", REGENERATE, bare)]
    if value.action == "ask":
        buttons.append(_button("Shorter", SHORTER, bare))
    if email_ok and value.action != "followup":
        buttons.append(_button("✉ Turn into an email", EMAIL, bare))
    if not value.private:
        buttons.append(_button("🔒 Switch to private", PRIVATE, bare))
    if thumbs:
        buttons += [_button("👍", UP, value), _button("👎", DOWN, value)]
    buttons.append(_button("Sources", SOURCES, bare))
    return buttons


def feedback_block(value: ButtonValue) -> dict[str, Any]:
    """Slack's own 👍/👎 for AI answers: a ``context_actions`` block with ``feedback_buttons``."""

    def half(text: str, label: str, rating: int) -> dict[str, Any]:
        rated = replace(value, rating=rating)
        return {"text": {"type": "plain_text", "text": text}, "accessibility_label": label,
                "value": rated.encode()}  # fmt: skip

    element = {"type": "feedback_buttons", "action_id": FEEDBACK,
               "positive_button": half("👍", "This answer was helpful", 1),
               "negative_button": half("👎", "This answer was not helpful", -1)}  # fmt: skip
    return {"type": "context_actions", "elements": [element]}


def offer_button(value: ButtonValue) -> dict[str, Any]:
    """For a channel answer: the same question, answered only to the asker, with their own access."""
    return _button("Answer privately for me", MINE, value, style="primary")


def source_ids(pairs: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(f"{kind}:{sid}" for kind, sid in pairs)
