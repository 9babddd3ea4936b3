"""When to try an LLM call again, and how long to wait.

Retried: 429, 5xx, 408/409, timeouts and connection errors, with exponential backoff and full
jitter, honouring ``Retry-After`` (seconds or an HTTP date). Never retried: any other 4xx — a bad
key, a missing model or a malformed request will not change by asking again. The whole call is
bounded: attempts stop once the next wait would pass ``max_seconds``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

import openai
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, if it said."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    return asked_wait(exc.response.headers)


def asked_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds a response's ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms`` asks for."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


Asked = Callable[[BaseException | None], "float | None"]


class _Wait:
    def __init__(self, *, base: float, cap: float, asked_of: Asked) -> None:
        self.base, self.cap, self.asked_of = base, cap, asked_of

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = self.asked_of(exc)
        # Full jitter: spread retries of many clients; a server's Retry-After is a floor.
        backoff = random.uniform(0, min(self.cap, self.base * 2 ** (state.attempt_number - 1)))
        return max(asked, backoff) if asked is not None else backoff


class Clock:
    """Time as the retry policy sees it; tests pass one whose sleep only moves its own hands."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def call_with_retry(fn: Callable[[], T], *, max_seconds: float, attempts: int = 6, base: float = 0.5,
                    cap: float = 8.0, clock: Clock | None = None,
                    retryable: Callable[[BaseException], bool] = is_retryable,
                    asked: Asked = retry_after) -> T:  # fmt: skip
    """Run ``fn`` under the policy above; the last error is raised as is when it gives up.

    ``retryable`` and ``asked`` say which errors to retry and what wait their server asked for;
    the defaults are the OpenAI client's (the CRM sync passes its own)."""
    clock = clock or Clock()
    deadline_at = clock.now() + max_seconds
    wait = _Wait(base=base, cap=cap, asked_of=asked)
    by_count = stop_after_attempt(attempts)

    def stop(state: RetryCallState) -> bool:
        if by_count(state):
            return True
        # Give up now if the server asks us to wait past the budget (a long Retry-After).
        wanted = asked(state.outcome.exception() if state.outcome else None) or 0.0
        return clock.now() + wanted > deadline_at

    def bounded_wait(state: RetryCallState) -> float:
        return max(0.0, min(wait(state), deadline_at - clock.now()))

    retrying = Retrying(
        retry=retry_if_exception(retryable),
        wait=bounded_wait,
        stop=stop,
        sleep=clock.sleep,
        reraise=True,
    )
    return retrying(fn)
