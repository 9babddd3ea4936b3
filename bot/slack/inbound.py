"""What an incoming message says, and whether a person sent it.

Slack sends message text in its wire format: ``<@U…>`` mentions, ``<#C…|name>`` channels,
``<url|text>`` links, ``&amp; &lt; &gt;`` escaping. :func:`plain_text` turns it back into what the
user wrote — only the bot's own mention is dropped; other people's mentions become their names — so
search and drafting see the question, not markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

HUMAN_SUBTYPES = (None, "file_share", "thread_broadcast")  # what Bolt also treats as a user's message
ATTACHMENTS_NOT_READ = "I can't read attached files yet — I answered from the text of your message."
ONLY_ATTACHMENTS = "I can't read attached files yet. Please type your question as a message."


def from_a_person(event: dict[str, Any], *, bot_user_id: str | None = None) -> bool:
    """Messages and mentions by bots (another app, a workflow, ourselves) are never answered: no
    bot loops. A person's message with a file or sent to the channel from a thread is."""
    return (
        bool(event.get("user"))
        and event.get("user") != bot_user_id
        and not event.get("bot_id")
        and event.get("subtype") in HUMAN_SUBTYPES
    )


def has_files(event: dict[str, Any]) -> bool:
    return bool(event.get("files")) or event.get("subtype") == "file_share"


_SLACK_FORM = re.compile(r"<([^<>\n]{1,3000})>")
_SPECIAL = ("here", "channel", "everyone")


def _nobody(user_id: str) -> str | None:
    return None


def plain_text(
    text: str, *, bot_user_id: str | None = None, name_of: Callable[[str], str | None] = _nobody
) -> str:
    """What the user wrote, from a message's ``text`` as Slack sends it (mentions, links, escaping)."""

    def form(m: re.Match[str]) -> str:
        head, _, label = m.group(1).partition("|")
        if head.startswith("@"):
            user_id = head[1:]
            if user_id == bot_user_id:
                return " "
            return "@" + (label.lstrip("@") or name_of(user_id) or user_id)
        if head.startswith("#"):
            return "#" + (label or head[1:])
        if head.startswith("!"):
            word = head[1:].split("^", 1)[0]
            return f"@{word}" if word in _SPECIAL else (label or word)
        url = head.removeprefix("mailto:")
        return f"{label} ({url})" if label and label != url else url

    text = _SLACK_FORM.sub(form, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()
