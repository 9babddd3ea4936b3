"""One HTTP call to a CRM, retried on 429/5xx within a time budget, counted, and errors in words.

Both CRM client libraries use ``requests``; their errors are translated here: 401 -> "the token was
refused", 403 -> "missing permission/scope", other 4xx -> what the CRM said. 429, 5xx, timeouts and
connection errors are retried with backoff, honouring ``Retry-After``, until ``CRM_RETRY_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from bot.errors import CrmError
from bot.llm.retry import asked_wait, call_with_retry

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class CrmHttpError(Exception):
    """A CRM answered with an error status (raised inside the retry loop)."""

    def __init__(self, status: int, headers: Mapping[str, str], message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.headers, self.message = status, dict(headers), message


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, CrmHttpError):
        return exc.status in RETRYABLE_STATUS or exc.status >= 500
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def _asked(exc: BaseException | None) -> float | None:
    if isinstance(exc, CrmHttpError):
        return asked_wait({k.lower(): v for k, v in exc.headers.items()})
    return None


@dataclass
class CallCounter:
    """API calls made (each HTTP request, retries included) and retries among them."""

    calls: int = 0
    retries: int = 0


def call(fn: Callable[[], T], *, crm: str, what: str, budget: float, counter: CallCounter) -> T:
    """Run ``fn`` (one HTTP request that raises :class:`CrmHttpError` on an error status)."""
    first = True

    def once() -> T:
        nonlocal first
        counter.calls += 1
        if not first:
            counter.retries += 1
        first = False
        return fn()

    try:
        return call_with_retry(once, max_seconds=budget, attempts=8, retryable=_retryable, asked=_asked)
    except CrmHttpError as exc:
        raise CrmError(explain(crm, what, exc)) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise CrmError(f"{crm}: cannot reach the API for {what} ({type(exc).__name__})") from None


def explain(crm: str, what: str, exc: CrmHttpError) -> str:
    if exc.status == 401:
        return f"{crm} refused the credentials (401) while reading {what}; check the token/app settings"
    if exc.status == 403:
        return (
            f"{crm} denied access to {what} (403: {exc.message}); grant the permission/scope listed in README"
        )
    if exc.status == 429 or exc.status >= 500:
        return f"{crm} kept failing while reading {what} (HTTP {exc.status}) past CRM_RETRY_SECONDS"
    return f"{crm} rejected the request for {what} (HTTP {exc.status}: {exc.message})"


def error_text(body: Any) -> str:
    """The human part of a CRM's JSON error body, cut short (never the request, never a token)."""
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        text = body.get("message") or body.get("error_description") or body.get("error") or ""
        return str(text)[:300]
    return str(body)[:300]
