"""Keep secrets out of what Closer prints, logs and posts: the one masker.

- :func:`secrets_of` lists every configured secret: tokens, keys, and the passwords inside
  ``STATE_URL``, ``CHROMA_URL`` and the LLM URLs.
- :func:`mask_secrets` replaces each given secret with ``***`` — a long one wherever it appears, a
  short one (a password like ``p``) only where it stands alone, so masking never mangles words
  ("psycopg" stays "psycopg") — and then hides what merely looks like a credential (API keys such
  as ``sk-…``, Slack tokens, ``Bearer …`` values, the password in ``user:password@``, ``api_key=…``
  pairs, JWTs) with :func:`bot.privacy.credentials.mask_credentials`.
- :func:`masked_url` shows a URL with its password (and query values) hidden, as SQLAlchemy shows
  ``STATE_URL``; :func:`host_of` shows only ``host[:port]``.
- :func:`plain_summary` turns text that came from outside (an endpoint's error message) into a
  short, masked, plain line: no markup a chat client would act on (``<!channel>``, ``<@U1>``,
  ``<url|label>``, ``*bold*``), no line breaks, bounded length.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from bot.privacy.credentials import mask_credentials

if TYPE_CHECKING:
    from bot.config import Settings

MASK = "***"
# A secret this long cannot be part of an ordinary word by chance: masked wherever it appears.
_ANYWHERE = 12

# What a plain summary may keep: letters, digits, spaces and punctuation no chat client acts on.
_UNSAFE = re.compile(r"[^\w \t.,:;()\[\]'\"/+=?%$#-]", re.UNICODE)


def secrets_of(settings: Settings) -> list[str]:
    """Every configured value that must never be printed, logged or posted, longest first."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    values = [settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token,
              settings.llm_api_key, settings.private_llm_api_key, settings.hubspot_access_token,
              settings.salesforce_client_secret]  # fmt: skip
    with contextlib.suppress(ArgumentError):
        password = make_url(settings.state_url).password
        values.append(str(password) if password else None)
    for url in (
        settings.state_url,
        settings.chroma_url,
        settings.llm_base_url,
        settings.private_llm_base_url,
    ):
        values.extend(_url_secrets(url or ""))
    return sorted({v for v in values if v}, key=len, reverse=True)


def mask_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` (longest first) as ``***``, and anything shaped like a
    credential as ``[redacted]`` (:func:`bot.privacy.credentials.mask_credentials`)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= _ANYWHERE:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return mask_credentials(text)


def plain_summary(text: str, secrets: Iterable[str | None] = (), *, limit: int = 160) -> str:
    """One short plain line of ``text`` with secrets masked and chat markup removed."""
    parts = mask_secrets(text, secrets).split(MASK)
    line = " ".join(MASK.join(_UNSAFE.sub(" ", part) for part in parts).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def masked_url(url: str) -> str:
    """``url`` with the password (or a lone token) of its user part and its query values hidden."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return mask_secrets(url)
    if not parts.scheme or host is None:
        return mask_secrets(url)
    netloc = f"{host}:{port}" if port else host
    if parts.password is not None:
        netloc = f"{parts.username}:{MASK}@{netloc}"
    elif parts.username is not None:
        netloc = f"{MASK if _token_user(parts.scheme, parts.netloc) else parts.username}@{netloc}"
    query = re.sub(r"=[^&]*", f"={MASK}", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, for messages, logs and audit rows: never a user:password@ part or a path."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return MASK
    if host is None:
        return mask_secrets(url)
    return f"{host}:{port}" if port else host


def _url_secrets(url: str) -> list[str]:
    """The secret part of a URL's user info (the password, or a lone token), as written and decoded."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return []
    secret = password if password is not None else user if _token_user(parts.scheme, parts.netloc) else None
    return [secret, unquote(secret)] if secret else []


def _token_user(scheme: str, netloc: str) -> bool:
    """``https://TOKEN@host``: a user part without a password on a web URL is a credential; on a
    database URL (``postgresql://closer@db``) it is a user name."""
    return scheme.lower() in ("http", "https") and "@" in netloc
