"""Mask credentials in text that is about to be shown or logged: API keys, tokens, passwords in URLs.

Errors from an endpoint sometimes echo the request's key (``Incorrect API key provided: sk-…``) or a
URL with a password in it. :func:`mask_credentials` replaces what looks like a credential with
``[redacted]`` and keeps the rest of the text readable. It matches shapes, not known values, so it
also catches keys Closer was never told about (the configured values themselves are masked by
:func:`bot.observability.mask_secrets`).
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_TOKENS = re.compile(
    r"(?<![\w-])(?:"
    r"sk-[A-Za-z0-9_-]{8,}"  # OpenAI-style keys (sk-…, sk-proj-…, sk-ant-…)
    r"|xox[abposre]-[A-Za-z0-9-]{6,}"  # Slack bot, user, refresh… tokens
    r"|xapp-[A-Za-z0-9-]{6,}"  # Slack app-level tokens
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs
    r")"
)
# A token has a digit somewhere: "an invalid token provided" is prose, not a credential.
_AUTH_HEADER = re.compile(
    r"\b(Bearer|Basic|Token)\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE
)
# A password already shown as *** (SQLAlchemy's and bot.observability.mask_secrets' mask) stays so.
_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/:@]+):(?!\*\*\*@)[^\s/@]+@", re.IGNORECASE)
_URL_USER = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/:@]+@", re.IGNORECASE)
_ASSIGNED = re.compile(
    r"\b((?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd|pwd)"
    r"[\"']?\s*(?:=\s*[\"']?|:\s*[\"']))[^\s\"'&,;]{4,}",
    re.IGNORECASE,
)


def mask_credentials(text: str) -> str:
    """``text`` with every credential-shaped substring replaced by ``[redacted]``."""
    text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    text = _URL_USER.sub(rf"\1{REDACTED}@", text)
    text = _AUTH_HEADER.sub(rf"\1 {REDACTED}", text)
    text = _ASSIGNED.sub(rf"\1{REDACTED}", text)
    return _TOKENS.sub(REDACTED, text)
