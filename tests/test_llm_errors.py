"""What the LLM client says when an endpoint misbehaves: masked, plain, never a traceback or a blank.

Error text may be posted in a shared Slack channel: it must carry no key, token or URL credential
(not the configured keys, not anything shaped like one) and no live chat markup. A 200 that is not a
completion is an error the answer degrades on, for plain, streamed and structured calls alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from bot.errors import LLMMalformedError, LLMRejectedError, LLMUnavailableError
from bot.llm.client import Endpoint, LLMClient
from tests.fake_openai import Failure, FakeOpenAI

MESSAGES = [{"role": "user", "content": "hi"}]
KEY = "sk-proj-Zq81TPLxVb2mK9eRwA5uYc3n"  # the configured key of the endpoint
OTHER = "hunter2-private-key-55"  # another configured secret (e.g. the private endpoint's key)
LEAKS = [
    f"Incorrect API key provided: {KEY}.",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl was rejected",
    "upstream https://admin:s3cr3t-pw@10.0.0.5:8443/v1 refused; key sk-ant-api03-AbCdEf0123456789",
    f"quota of {OTHER} exceeded; token xoxb-1234-5678-abcdefABCDEF; api_key=live_9f8e7d6c5b4a",
]
MARKUP = "note said <!channel> <@U024BE7LH> <https://evil.example|https://ours.example> *bold* `code`"


@pytest.fixture
def api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def client(api: FakeOpenAI, base_url: str | None = None) -> LLMClient:
    endpoint = Endpoint("standard", base_url or api.base_url, KEY, "fake-model")
    return LLMClient(endpoint, timeout=5, max_retry_seconds=0, secrets=[OTHER])


def _assert_safe(message: str) -> None:
    for secret in (KEY, OTHER, "s3cr3t-pw", "eyJhbGciOiJIUzI1NiJ9", "AbCdEf0123456789", "abcdefABCDEF",
                   "live_9f8e7d6c5b4a"):  # fmt: skip
        assert secret not in message
    for live in ("<", ">", "<!channel>", "<@", "*", "`", "\n"):
        assert live not in message.replace("***", "")  # *** is the mask itself


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 503])
@pytest.mark.parametrize("leak", LEAKS)
def test_an_endpoint_error_is_masked_and_plain(api: FakeOpenAI, status: int, leak: str) -> None:
    api.fail_next(Failure(status, body={"error": {"message": f"{leak}\n{MARKUP}", "type": "invalid"}}))
    expected = LLMUnavailableError if status in (429, 500, 503) else LLMRejectedError
    with pytest.raises(expected) as caught:
        client(api).complete(MESSAGES)
    message = str(caught.value)
    _assert_safe(message)
    assert str(status) in message and "standard LLM endpoint 127.0.0.1:" in message
    assert len(message) < 260  # a summary, not the endpoint's whole body


def test_an_error_body_that_is_a_bare_string_is_masked_too(api: FakeOpenAI) -> None:
    api.fail_next(Failure(401, raw=f"401 Unauthorized: {KEY} <!here>".encode(), content_type="text/plain"))
    with pytest.raises(LLMRejectedError) as caught:
        client(api).complete(MESSAGES)
    _assert_safe(str(caught.value))
    assert "401" in str(caught.value)


def test_credentials_in_the_endpoint_url_never_show(api: FakeOpenAI) -> None:
    port = api.base_url.split(":")[2].split("/")[0]
    with_creds = f"http://closer:url-pass-99@127.0.0.1:{port}/v1"
    endpoint = Endpoint("standard", with_creds, KEY, "fake-model")
    assert endpoint.host == f"127.0.0.1:{port}"
    api.fail_next(Failure(503))
    with pytest.raises(LLMUnavailableError) as caught:
        LLMClient(endpoint, timeout=5, max_retry_seconds=0).complete(MESSAGES)
    assert "url-pass-99" not in str(caught.value) and "closer:" not in str(caught.value)


# --- malformed 200s ---------------------------------------------------------------------------------------

CHOICE = {"index": 0, "message": {"role": "assistant", "content": "  "}, "finish_reason": "stop"}
MALFORMED = {
    "html": Failure(200, raw=b"<html><body>Bad gateway</body></html>", content_type="text/html"),
    "json-that-is-not": Failure(200, raw=b"{not json", content_type="application/json"),
    "no-choices": Failure(200, raw=json.dumps({"id": "x", "object": "chat.completion"}).encode()),
    "empty-choices": Failure(200, raw=json.dumps({"choices": []}).encode()),
    "null-content": Failure(
        200, raw=json.dumps({"choices": [CHOICE | {"message": {"content": None}}]}).encode()
    ),
    "empty-content": Failure(
        200, raw=json.dumps({"choices": [CHOICE | {"finish_reason": "length"}]}).encode()
    ),
    "a-list": Failure(200, raw=b"[1, 2, 3]"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_200_is_an_error_not_a_crash_or_a_blank(api: FakeOpenAI, kind: str) -> None:
    api.fail_next(MALFORMED[kind])
    with pytest.raises(LLMMalformedError, match=r"standard LLM endpoint 127\.0\.0\.1:\d+ sent "):
        client(api).complete(MESSAGES)
    assert len(api.requests) == 1


class Answer(BaseModel):
    text: str


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_200_fails_structured_output_the_same_way(api: FakeOpenAI, kind: str) -> None:
    api.fail_next(MALFORMED[kind])
    with pytest.raises(LLMMalformedError):
        client(api).complete_model(MESSAGES, Answer)


EMPTY_DELTA = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)
STREAMS = {
    "plain-json-body": Failure(200, raw=json.dumps({"choices": []}).encode()),
    "html": Failure(200, raw=b"<html>oops</html>", content_type="text/html"),
    "no-events": Failure(200, raw=b"data: [DONE]\n\n", content_type="text/event-stream"),
    "event-not-json": Failure(
        200, raw=b"data: {broken\n\ndata: [DONE]\n\n", content_type="text/event-stream"
    ),
    "only-empty-deltas": Failure(200, raw=EMPTY_DELTA, content_type="text/event-stream"),
}


@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_a_malformed_stream_is_an_error_not_a_blank(api: FakeOpenAI, kind: str) -> None:
    api.fail_next(STREAMS[kind])
    with pytest.raises(LLMMalformedError):
        list(client(api).complete_stream(MESSAGES))


def test_a_good_answer_still_passes(api: FakeOpenAI) -> None:
    assert client(api).complete(MESSAGES).text == "A grounded answer [1]."
    assert "".join(client(api).complete_stream(MESSAGES)) == "A grounded answer [1]."
