"""What can go wrong, in the user's terms.

CloserError                 base: a one-line message fit to show a user (CLI exit status 2)
├── SettingsError           a setting is missing or has a bad value
├── InputError              a file, folder or argument the user gave is unusable
│   └── UsageError          the command line itself is wrong (unknown option, empty question)
├── StoreError              the vector store cannot be opened, is locked or is inconsistent
│   └── StoreBusyError      another process is writing to the embedded store
├── EmbedderError           the embedding model cannot be loaded or an embedding call failed
├── LLMError                an LLM endpoint failed
│   ├── LLMUnavailableError unreachable, timed out, 429/5xx: the answer degrades to its sources
│   │   └── LLMMalformedError  a 200 that is not a completion (not JSON, no choices, empty)
│   └── LLMRejectedError    refused (other 4xx), or structured output invalid twice
├── PrivacyError            a private request cannot be served without leaving its route
├── StateError              the state database (STATE_URL) cannot be opened, migrated or used
└── CrmError                a CRM sync cannot sign in, is refused, or the CRM keeps failing
"""

from __future__ import annotations

import re


class CloserError(Exception):
    """Base class; ``str(exc)`` is a complete, one-line message for the user."""


class SettingsError(CloserError):
    pass


class InputError(CloserError):
    pass


class UsageError(InputError):
    """The command line itself: an unknown command or option, a missing or empty argument."""


class StoreError(CloserError):
    pass


class StoreBusyError(StoreError):
    pass


class EmbedderError(CloserError):
    pass


class LLMError(CloserError):
    pass


class LLMUnavailableError(LLMError):
    pass


class LLMMalformedError(LLMUnavailableError):
    """A 200 that is not a usable completion (not JSON, no choices, no text): handled like an outage."""


class LLMRejectedError(LLMError):
    pass


class PrivacyError(CloserError):
    pass


class StateError(CloserError):
    pass


def error_json(exc: CloserError) -> dict[str, dict[str, str]]:
    """The ``--json`` shape of a refusal or error: ``{"error": {"type", "message"}}``. ``type`` names
    the most specific class of this module the error is, without "Error", in snake case (``privacy``,
    ``input``, ``llm_unavailable``, ``store_busy``…); ``error`` for the base class alone."""
    cls = next(c for c in type(exc).__mro__ if c.__module__ == __name__)
    name = cls.__name__.removesuffix("Error").removeprefix("Closer") or "error"
    kind = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return {"error": {"type": kind, "message": str(exc)}}


class CrmError(CloserError):
    pass
