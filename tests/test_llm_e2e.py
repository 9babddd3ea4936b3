"""The LLM client against a real OpenAI-compatible server: llama.cpp's llama-server on 127.0.0.1.

The model (Gemma 3 270M, a base model) says nothing useful, so these tests check the protocol only:
text arrives, usage is counted, a stream comes in pieces, a JSON-schema reply validates. Schemas are
bounded and ``max_tokens`` small so each call takes a second or two on one thread. That every call
sends ``store=false`` is checked against the recording fake in test_llm_client.py: llama-server does
not show what it received.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import LLMRejectedError
from bot.llm.client import Endpoint, LLMClient, Usage
from tests.support.llama_server import ensure_llama_server, gemma_model_path, run_llama_server

# A cold cache builds llama-server inside the first test's setup (~5 min on 2 cores), hence the
# timeout; `make test` builds it beforehand.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MESSAGES = [{"role": "user", "content": "Write one short sentence about a sales meeting."}]
MAX_TOKENS = 48
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class Followup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=40)
    priority: int = Field(ge=1, le=3)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for name in _PROXY_VARS:  # the client must talk to 127.0.0.1 directly, never through a proxy
            if name in os.environ:
                mp.delenv(name)
        with run_llama_server(ensure_llama_server(), gemma_model_path()) as url:
            yield url


@pytest.fixture
def client(base_url: str) -> LLMClient:
    return LLMClient(Endpoint(route="standard", base_url=base_url, api_key=None, model="gemma"), timeout=120)


def test_complete_returns_text_and_usage(client: LLMClient) -> None:
    done = client.complete(MESSAGES, max_tokens=MAX_TOKENS)
    assert done.text.strip()
    assert done.usage.prompt_tokens > 0
    assert 0 < done.usage.completion_tokens <= MAX_TOKENS
    assert done.usage.model
    assert done.usage.attempts == 1
    assert done.usage.latency_ms > 0


def test_stream_arrives_in_pieces_and_fills_usage(client: LLMClient) -> None:
    usage = Usage()
    chunks = list(client.complete_stream(MESSAGES, max_tokens=MAX_TOKENS, usage=usage))
    assert len(chunks) >= 2
    assert "".join(chunks).strip()
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= MAX_TOKENS
    assert usage.first_token_ms is not None and 0 < usage.first_token_ms <= usage.latency_ms
    assert usage.model
    assert usage.attempts == 1


def test_complete_model_validates_against_the_schema(client: LLMClient) -> None:
    messages = [{"role": "user", "content": "Plan a follow-up email to a customer as JSON."}]
    followup, usage = client.complete_model(messages, Followup, max_tokens=MAX_TOKENS)
    assert isinstance(followup, Followup)
    assert len(followup.subject) <= 40 and 1 <= followup.priority <= 3
    assert client.supports_json_schema is True  # the server took response_format=json_schema
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


def test_truncated_structured_reply_is_rejected_after_one_repair(client: LLMClient) -> None:
    # Four tokens cannot hold a whole Followup object, so the reply and its repair are both cut short.
    with pytest.raises(LLMRejectedError, match="did not return valid Followup JSON twice"):
        client.complete_model(
            [{"role": "user", "content": "Plan a follow-up as JSON."}], Followup, max_tokens=4
        )
    assert client.supports_json_schema is True


def test_a_prompt_past_the_context_is_refused_not_retried(client: LLMClient) -> None:
    too_long = [{"role": "user", "content": "word " * 6000}]  # > the server's 4096-token context
    with pytest.raises(LLMRejectedError, match="refused the request: 400"):
        client.complete(too_long, max_tokens=8)
    usage = Usage()
    with pytest.raises(LLMRejectedError, match="refused the request: 400"):
        list(client.complete_stream(too_long, max_tokens=8, usage=usage))
    assert usage.attempts == 1  # a 4xx is final: asked once
