"""Retrieval and LLM metrics for the core, attached at the composition root.

The core stays free of metrics code: ``closer serve`` wraps the knowledge base's ``search`` and each
route's LLM client calls once at start. Only timings, token counts and attempts are read, never text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from bot.llm.client import Completion, LLMClient, Message, Usage
from bot.observability import METRICS, timed

if TYPE_CHECKING:
    from bot.assistant import Assistant


def _observe(route: str, usage: Usage) -> None:
    METRICS.llm_seconds.labels(route=route).observe(usage.latency_ms / 1000)
    METRICS.llm_tokens.labels(route=route, kind="prompt").inc(usage.prompt_tokens)
    METRICS.llm_tokens.labels(route=route, kind="completion").inc(usage.completion_tokens)
    if usage.attempts > 1:
        METRICS.retries.labels(kind="llm").inc(usage.attempts - 1)


def instrument_llm(client: LLMClient) -> None:
    route = client.endpoint.route
    complete, stream = client.complete, client.complete_stream

    def counted_complete(messages: Sequence[Message], **kwargs: Any) -> Completion:
        done = complete(messages, **kwargs)
        _observe(route, done.usage)
        return done

    def counted_stream(messages: Sequence[Message], **kwargs: Any) -> Iterator[str]:
        usage = kwargs.pop("usage", None) or Usage()
        try:
            yield from stream(messages, usage=usage, **kwargs)
        finally:
            _observe(route, usage)

    client.complete = counted_complete  # type: ignore[method-assign]
    client.complete_stream = counted_stream  # type: ignore[method-assign]


def instrument(assistant: Assistant) -> None:
    kb = assistant.kb
    kb.search = timed(METRICS.retrieval_seconds.observe)(kb.search)  # type: ignore[method-assign]
    for client in (assistant.router.standard, assistant.router.private):
        if client is not None:
            instrument_llm(client)
