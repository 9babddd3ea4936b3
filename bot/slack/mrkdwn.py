"""Markdown from the model → Slack mrkdwn, and light emphasis of the figures that matter.

Slack's mrkdwn is not Markdown: ``*bold*``, ``_italic_``, ``~strike~``, ``<url|text>`` links, no
headings, and ``&``, ``<``, ``>`` must be escaped. Code (fenced or inline) is left as it is.

Everything shown passes through :func:`bot.slack.sanitize.clean` first (secrets masked, no pings,
honest links), then is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.slack.sanitize import clean

_FENCE = re.compile(r"(```.*?```)", re.DOTALL)
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$", re.MULTILINE)
# Spans emphasis must not touch: code, links and mentions, text already bold.
_PROTECTED = re.compile(r"(```.*?```|`[^`\n]+`|<[^>\n]+>|\*[^*\n]+\*)", re.DOTALL)
_FIGURE = re.compile(
    r"(?<![\w$€£*.,])((?:[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:k|K|M|bn)\b)?)|(?:\d[\d,]*(?:\.\d+)?\s?%))(?![\w*])"
)


def _escape_chars(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape(text: str) -> str:
    """Untrusted text (a title, an error message…) as mrkdwn that shows it literally and safely."""
    return _escape_chars(clean(text))


def _convert(text: str) -> str:
    text = _escape_chars(text)
    text = _RULE.sub("", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = _HEADING.sub(lambda m: f"*{m.group(1).replace('*', '')}*", text)
    text = _STRIKE.sub(r"~\1~", text)
    return _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1).replace('|', '¦')}>", text)


def to_mrkdwn(markdown: str) -> str:
    """Convert the model's Markdown (sanitised first); code passes through (escaped only)."""
    out: list[str] = []
    for i, block in enumerate(_FENCE.split(clean(markdown))):
        if i % 2:
            out.append(_escape_chars(block))
            continue
        for j, part in enumerate(_INLINE_CODE.split(block)):
            out.append(_escape_chars(part) if j % 2 else _convert(part))
    return "".join(out).strip()


def emphasize(mrkdwn: str, names: Iterable[str] = ()) -> str:
    """Bold money amounts, percentages and the given names (deal names), outside code, links and
    text that is bold already."""
    wanted = sorted({n for n in names if len(n) >= 3}, key=len, reverse=True)
    name_re = (
        re.compile("|".join(rf"(?<![\w*]){re.escape(escape(n))}(?![\w*])" for n in wanted))
        if wanted
        else None
    )

    def plain(segment: str) -> str:
        segment = _FIGURE.sub(r"*\1*", segment)
        if name_re is not None:
            # Names are bolded only where no figure already made the span bold.
            parts = _PROTECTED.split(segment)
            segment = "".join(
                p if k % 2 else name_re.sub(lambda m: f"*{m.group(0)}*", p) for k, p in enumerate(parts)
            )
        return segment

    pieces = _PROTECTED.split(mrkdwn)
    return "".join(p if k % 2 else plain(p) for k, p in enumerate(pieces))
