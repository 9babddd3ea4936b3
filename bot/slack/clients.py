"""Slack Web API clients with slack-sdk's retry handlers switched on, each retry counted.

A default ``WebClient`` retries only connection errors, once. Answers are worth waiting for, so the
clients here also retry rate limits (sleeping ``Retry-After`` plus jitter) and 5xx answers.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from bot.observability import METRICS

TIMEOUT_SECONDS = 15
RETRIES = 2


class _RateLimited(RateLimitErrorRetryHandler):
    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        METRICS.retries.labels(kind="rate_limited").inc()
        super().prepare_for_next_attempt(**kwargs)


class _ServerError(ServerErrorRetryHandler):
    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        METRICS.retries.labels(kind="server_error").inc()
        super().prepare_for_next_attempt(**kwargs)


class _Connection(ConnectionErrorRetryHandler):
    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        METRICS.retries.labels(kind="connection").inc()
        super().prepare_for_next_attempt(**kwargs)


class _AsyncRateLimited(AsyncRateLimitErrorRetryHandler):
    async def prepare_for_next_attempt_async(self, **kwargs: Any) -> None:
        METRICS.retries.labels(kind="rate_limited").inc()
        await super().prepare_for_next_attempt_async(**kwargs)


class _AsyncServerError(AsyncServerErrorRetryHandler):
    async def prepare_for_next_attempt_async(self, **kwargs: Any) -> None:
        METRICS.retries.labels(kind="server_error").inc()
        await super().prepare_for_next_attempt_async(**kwargs)


class _AsyncConnection(AsyncConnectionErrorRetryHandler):
    async def prepare_for_next_attempt_async(self, **kwargs: Any) -> None:
        METRICS.retries.labels(kind="connection").inc()
        await super().prepare_for_next_attempt_async(**kwargs)


def retry_handlers() -> list[RetryHandler]:
    return [_Connection(max_retry_count=RETRIES), _RateLimited(max_retry_count=RETRIES),
            _ServerError(max_retry_count=RETRIES)]  # fmt: skip


def async_retry_handlers() -> list[AsyncRetryHandler]:
    return [_AsyncConnection(max_retry_count=RETRIES), _AsyncRateLimited(max_retry_count=RETRIES),
            _AsyncServerError(max_retry_count=RETRIES)]  # fmt: skip


def web_client(token: str, base_url: str) -> WebClient:
    """The client worker threads use (blocking calls, never on the event loop)."""
    return WebClient(token=token, base_url=base_url, timeout=TIMEOUT_SECONDS, retry_handlers=retry_handlers())


def no_wait_client(token: str, base_url: str) -> WebClient:
    """For calls with a fallback (thread history): a rate limit is an answer, never a wait — Slack's
    ``Retry-After`` for ``conversations.replies`` can be a minute."""
    handlers: list[RetryHandler] = [
        _Connection(max_retry_count=RETRIES),
        _ServerError(max_retry_count=RETRIES),
    ]
    return WebClient(token=token, base_url=base_url, timeout=TIMEOUT_SECONDS, retry_handlers=handlers)


def async_web_client(token: str, base_url: str) -> AsyncWebClient:
    """Bolt's own client (auth.test, Socket Mode's apps.connections.open, quick calls on the loop)."""
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=TIMEOUT_SECONDS, retry_handlers=async_retry_handlers()
    )


def webhook(url: str) -> WebhookClient:
    """A ``response_url`` poster (slash commands and buttons), with the same retries."""
    return WebhookClient(url, timeout=TIMEOUT_SECONDS, retry_handlers=retry_handlers())
