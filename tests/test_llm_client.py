"""The LLM client's retry policy and structured output, against the fake endpoint over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import LLMRejectedError, LLMUnavailableError
from bot.llm.client import Endpoint, LLMClient, Usage
from bot.llm.retry import Clock
from tests.fake_openai import Failure, FakeOpenAI

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


class FakeClock(Clock):
    """Sleeping only moves this clock's hands (and records the nap)."""

    def __init__(self, sleeps: list[float]) -> None:
        self.sleeps = sleeps
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def client(api: FakeOpenAI, sleeps: list[float], *, budget: float = 30.0, timeout: float = 5) -> LLMClient:
    endpoint = Endpoint("standard", api.base_url, "sk", "fake-model")
    return LLMClient(endpoint, timeout=timeout, max_retry_seconds=budget, clock=FakeClock(sleeps))


def test_retry_after_is_honoured_then_backoff(api: FakeOpenAI) -> None:
    api.fail_next(Failure(429, retry_after="3"), Failure(503), Failure(502))
    sleeps: list[float] = []
    done = client(api, sleeps).complete(MESSAGES)
    assert done.text and done.usage.attempts == 4 and len(api.requests) == 4
    assert sleeps[0] >= 3.0  # the server's Retry-After is a floor
    assert all(0 <= s <= 8.0 for s in sleeps[1:])  # jittered exponential backoff, capped


def test_http_date_retry_after(api: FakeOpenAI) -> None:
    from email.utils import formatdate

    api.fail_next(Failure(429, retry_after=formatdate(time.time() + 5, usegmt=True)))
    sleeps: list[float] = []
    client(api, sleeps).complete(MESSAGES)
    assert 3.0 <= sleeps[0] <= 6.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(api: FakeOpenAI, status: int) -> None:
    api.fail_next(Failure(status, body={"error": {"message": "nope"}}))
    sleeps: list[float] = []
    with pytest.raises(LLMRejectedError, match=f"refused the request: {status} nope"):
        client(api, sleeps).complete(MESSAGES)
    assert len(api.requests) == 1 and sleeps == []


def test_retries_are_bounded_in_count_and_total_sleep(api: FakeOpenAI) -> None:
    api.fail_next(*[Failure(503)] * 20)
    sleeps: list[float] = []
    with pytest.raises(LLMUnavailableError, match="answered 503"):
        client(api, sleeps, budget=3.0).complete(MESSAGES)
    assert len(api.requests) <= 6 and sum(sleeps) <= 3.0 + 1e-9  # float sums of the capped waits


def test_a_retry_after_beyond_the_budget_gives_up_at_once(api: FakeOpenAI) -> None:
    api.fail_next(Failure(429, retry_after="120"))
    sleeps: list[float] = []
    with pytest.raises(LLMUnavailableError, match="429"):
        client(api, sleeps, budget=2.0).complete(MESSAGES)
    assert len(api.requests) == 1 and sleeps == []  # no wait at all, let alone the 120 s asked for


def test_timeouts_are_retried_then_reported(api: FakeOpenAI) -> None:
    api.fail_next(Failure(200, delay=4.0), Failure(200, delay=4.0))
    sleeps: list[float] = []
    # 1 s for an answer the fake holds back 4 s: room for a loaded machine on the third, prompt one
    assert client(api, sleeps, timeout=1.0).complete(MESSAGES).usage.attempts == 3
    assert len(sleeps) == 2


def test_unreachable_endpoint_is_one_line() -> None:
    dead = LLMClient(Endpoint("private", "http://127.0.0.1:9/v1", None, "m"), timeout=1, max_retry_seconds=1)
    with pytest.raises(LLMUnavailableError, match=r"the private LLM endpoint 127\.0\.0\.1:9 is unreachable"):
        dead.complete(MESSAGES)


def test_stream_yields_text_and_usage(api: FakeOpenAI) -> None:
    api.reply = lambda body: "A streamed answer in several pieces."
    usage = Usage()
    pieces = list(client(api, []).complete_stream(MESSAGES, usage=usage))
    assert len(pieces) > 2 and "".join(pieces) == "A streamed answer in several pieces."
    assert usage.completion_tokens > 0 and usage.first_token_ms is not None
    body = api.requests[-1].json()
    assert (
        body["stream"] is True
        and body["store"] is False
        and body["stream_options"] == {"include_usage": True}
    )


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(max_length=40)
    priority: int = Field(ge=1, le=3)


def test_structured_output_is_validated_and_repaired_once(api: FakeOpenAI) -> None:
    answers = iter(['{"subject": "x", "priority": 9}', '{"subject": "Follow up", "priority": 2}'])
    api.reply = lambda body: next(answers)
    plan, usage = client(api, []).complete_model(MESSAGES, Plan)
    assert plan == Plan(subject="Follow up", priority=2) and usage.attempts == 2
    repair = api.requests[-1].json()["messages"]
    assert repair[-2]["role"] == "assistant" and "did not match the schema" in repair[-1]["content"]


def test_structured_output_gives_up_after_one_repair(api: FakeOpenAI) -> None:
    api.reply = lambda body: "not json at all"
    with pytest.raises(LLMRejectedError, match="did not return valid Plan JSON twice"):
        client(api, []).complete_model(MESSAGES, Plan)
    assert len(api.requests) == 2


def test_endpoint_without_json_schema_gets_json_by_instruction(api: FakeOpenAI) -> None:
    api.fail_next(Failure(400, body={"error": {"message": "response_format json_schema is not supported"}}))
    api.reply = lambda body: '```json\n{"subject": "Hi", "priority": 1}\n```'
    llm = client(api, [])
    plan, _ = llm.complete_model(MESSAGES, Plan)
    assert plan.priority == 1 and llm.supports_json_schema is False
    assert "response_format" not in api.requests[-1].json()
