"""Make untrusted text safe to post: the one sanitiser for everything Closer shows in Slack.

Model answers, endpoint error messages and CRM/doc text are untrusted. Before any of it reaches
Slack — as a final message, a notice, or a streamed chunk — :func:`clean`:

- masks credentials (:func:`bot.privacy.credentials.mask_credentials`);
- turns Slack's control syntax into plain text, so nothing pings anyone or renders as a live
  mention: ``<!channel>``/``<!here>``/``<!everyone>``/``<!subteam^…>`` → ``@channel``…,
  ``<@U…|name>`` → ``@name``, ``<#C…|name>`` → ``#name``, ``<!date^…|text>`` → ``text``;
- makes links honest: a link whose text names another site than its target
  (``<https://evil|https://ours>``, ``[https://ours](https://evil)``) is shown as its real address;
  links to anything but http(s) and mailto are dropped (their text stays);
- breaks ``@word`` so Slack's automatic parsing cannot turn ``@here`` into a notification.

The result is still Markdown-ish raw text: :mod:`bot.slack.mrkdwn` escapes it for mrkdwn, and the
stream (:mod:`bot.slack.stream`) sends it as ``markdown_text``. Both call :func:`clean` — one
sanitiser for both.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.privacy.credentials import mask_credentials

SAFE_SCHEMES = ("http", "https", "mailto")
_SLACK_FORM = re.compile(
    r"<([@#!][^<>\n]{0,500}|[a-zA-Z][a-zA-Z0-9+.-]{0,20}:[^<>\s|]{1,2000}(?:\|[^<>\n]{0,500})?)>"
)
_MD_LINK = re.compile(r"\[([^\]\n]{0,500})\]\(\s*([^)\s]{1,2000})\s*\)")
_DOMAIN = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?![a-z0-9-])", re.IGNORECASE)
_AT_WORD = re.compile(r"(?<![\w.+-])@(?=[\w-])")
BREAK = "\u200b"  # zero-width space: "@here" is shown, but no longer parsed as a mention
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone", "group": "@group"}


def _host(url: str) -> str:
    try:
        host = urlsplit(url if "://" in url else f"//{url}").hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


def _names_other_site(label: str, url: str) -> bool:
    """Does ``label`` mention a web address outside the host ``url`` points to?"""
    target = _host(url)
    for m in _DOMAIN.finditer(label):
        named = m.group(1).lower().removeprefix("www.")
        if named != target and not target.endswith("." + named):
            return True
    return False


def link(url: str, label: str | None) -> str:
    """A link as honest Markdown: ``[label](url)``, the bare ``url``, or just the label."""
    url, label = url.strip(), (label or "").strip()
    scheme = url.split(":", 1)[0].lower()
    if scheme not in SAFE_SCHEMES:
        return label
    if not label or label == url:
        return url
    if scheme != "mailto" and _names_other_site(label, url):
        return url  # the text claims another site: show where the link really goes
    return f"[{label.replace(']', ')')}]({url})"


def _slack_form(m: re.Match[str]) -> str:
    inner = m.group(1)
    head, _, label = inner.partition("|")
    if inner[0] == "@":
        return "@" + (label.lstrip("@") or head[1:])
    if inner[0] == "#":
        return "#" + (label.lstrip("#") or head[1:])
    if inner[0] == "!":
        word = head[1:].split("^", 1)[0]
        if word in _SPECIAL:
            return _SPECIAL[word]
        return label or word
    return link(head, label)


def _md_link(m: re.Match[str]) -> str:
    return link(m.group(2), m.group(1))


def clean(text: str) -> str:
    """``text`` with secrets masked, Slack control syntax made plain and links made honest."""
    text = mask_credentials(text)
    text = _SLACK_FORM.sub(_slack_form, text)
    text = _MD_LINK.sub(_md_link, text)
    return _AT_WORD.sub("@" + BREAK, text)
