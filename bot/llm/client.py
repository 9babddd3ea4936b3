"""One OpenAI-compatible endpoint: completions (plain, JSON-schema, streamed) with bounded retries.

A client belongs to one route (standard or private) and only ever talks to that route's URL; the
privacy router decides which client a request gets. Every call sends ``store=false``. Nothing here
logs prompt or answer text.

Errors are the user's to read, maybe in a shared channel: they name the route, the endpoint's host
(never its credentials) and the HTTP status, plus at most a short reason from the endpoint's own
message with anything secret-looking masked and chat markup removed (:func:`plain_summary`). A 200
that is not a completion (not JSON, no ``choices``, no text) is an :class:`LLMMalformedError`, never
an empty answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import openai
from pydantic import BaseModel, ValidationError

from bot.errors import LLMMalformedError, LLMRejectedError, LLMUnavailableError
from bot.llm.retry import Clock, call_with_retry
from bot.privacy.secrets import host_of, plain_summary

Route = Literal["standard", "private"]
REASON_CHARS = 120  # the most of an endpoint's own error message that reaches the user
Message = dict[str, str]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Endpoint:
    route: Route
    base_url: str
    api_key: str | None
    model: str

    @property
    def host(self) -> str:
        """``host[:port]``: what messages and the audit trail name, never a ``user:password@``."""
        return host_of(self.base_url)


@dataclass
class Usage:
    """What a call cost and how long it took; the audit row is built from this, never from text."""

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    first_token_ms: float | None = None
    attempts: int = 0

    def add(self, other: Usage) -> None:
        self.model = other.model or self.model
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.latency_ms += other.latency_ms
        self.attempts += other.attempts


@dataclass
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)


class LLMClient:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = 60.0,
        max_retry_seconds: float = 30.0,
        clock: Clock | None = None,
        secrets: Sequence[str | None] = (),
    ) -> None:
        self.endpoint = endpoint
        self._secrets = [endpoint.api_key, *secrets]  # masked in every error message
        self._max_retry_seconds = max_retry_seconds
        self._clock = clock
        self._client = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or "not-needed",
            max_retries=0,  # retries are ours: bounded in total time, Retry-After honoured
            timeout=openai.Timeout(timeout, connect=min(5.0, timeout)),
        )
        self.supports_json_schema: bool | None = None  # learnt on first structured call
        # Typed as Any: the SDK's overloads cannot follow a response_format passed through **kwargs.
        self._create: Any = self._client.chat.completions.create

    # --- plain ------------------------------------------------------------------------------------------

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 800, temperature: float = 0.2,
                 response_format: dict[str, Any] | None = None,
                 allow_empty: bool = False) -> Completion:  # fmt: skip
        """The answer's text. Raises :class:`LLMMalformedError` for a 200 that is not a completion,
        or (unless ``allow_empty``) whose answer is empty."""
        started = time.perf_counter()
        attempts = 0

        def call() -> Any:
            nonlocal attempts
            attempts += 1
            extra: dict[str, Any] = {"response_format": response_format} if response_format else {}
            return self._create(
                model=self.endpoint.model, messages=list(messages), max_tokens=max_tokens,
                temperature=temperature, store=False, **extra,
            )  # fmt: skip

        resp = self._guard(call)
        text = self._answer_text(resp, allow_empty=allow_empty)
        tokens = getattr(resp, "usage", None)
        usage = Usage(
            model=str(getattr(resp, "model", None) or self.endpoint.model),
            prompt_tokens=int(getattr(tokens, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(tokens, "completion_tokens", 0) or 0),
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
        )
        return Completion(text, usage)

    def _answer_text(self, resp: Any, *, allow_empty: bool) -> str:
        """The first choice's text, checked: the SDK hands back a bare string for a non-JSON body
        and a completion without fields for JSON of the wrong shape."""
        choices = getattr(resp, "choices", None) if not isinstance(resp, str | bytes) else None
        if not isinstance(choices, list):
            why = "not a JSON completion" if isinstance(resp, str | bytes) else "a reply without choices"
            raise self._malformed(why)
        if not choices:
            raise self._malformed("a reply without choices")
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if content is not None and not isinstance(content, str):
            raise self._malformed("an answer that is not text")
        if not (content or "").strip() and not allow_empty:
            finish = getattr(choices[0], "finish_reason", None)
            raise self._malformed(f"an empty answer (finish reason: {plain_summary(str(finish), limit=20)})")
        return content or ""

    def _malformed(self, why: str) -> LLMMalformedError:
        return LLMMalformedError(f"the {self.endpoint.route} LLM endpoint {self.endpoint.host} sent {why}")

    # --- structured -------------------------------------------------------------------------------------

    def complete_model(
        self, messages: Sequence[Message], model: type[M], *, max_tokens: int = 800
    ) -> tuple[M, Usage]:
        """A reply validated as ``model``: JSON schema where the endpoint supports it, else JSON by
        instruction; one repair attempt on invalid output. Raises LLMRejectedError if still invalid."""
        usage = Usage()
        spec = {"name": model.__name__, "schema": model.model_json_schema(), "strict": True}
        schema = {"type": "json_schema", "json_schema": spec}
        msgs = list(messages)
        if self.supports_json_schema is not False:
            try:
                done = self.complete(msgs, max_tokens=max_tokens, response_format=schema)
                self.supports_json_schema = True
            except LLMRejectedError as exc:
                if "response_format" not in str(exc) and "json_schema" not in str(exc):
                    raise
                self.supports_json_schema = False
        if self.supports_json_schema is False:
            hint = "Reply with only a JSON object matching this JSON schema, no prose:\n" + json.dumps(
                model.model_json_schema()
            )
            msgs = [*msgs, {"role": "system", "content": hint}]
            done = self.complete(msgs, max_tokens=max_tokens)
        usage.add(done.usage)
        try:
            return model.model_validate_json(_strip_fences(done.text)), usage
        except ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[:3]
        repair = [*msgs, {"role": "assistant", "content": done.text},
                  {"role": "user", "content": f"That reply did not match the schema ({problem}). "
                                              "Send the corrected JSON object only."}]  # fmt: skip
        fixed = self.complete(
            repair, max_tokens=max_tokens, response_format=schema if self.supports_json_schema else None
        )
        usage.add(fixed.usage)
        try:
            return model.model_validate_json(_strip_fences(fixed.text)), usage
        except ValidationError:
            raise LLMRejectedError(
                f"{self.endpoint.host} did not return valid {model.__name__} JSON twice"
            ) from None

    # --- streamed ---------------------------------------------------------------------------------------

    def complete_stream(self, messages: Sequence[Message], *, max_tokens: int = 800, temperature: float = 0.2,
                        usage: Usage | None = None) -> Iterator[str]:  # fmt: skip
        """Yield text as it arrives; ``usage`` (if given) is filled in when the stream ends.

        Retries cover opening the stream only: once text has been shown, a repeat would duplicate it.
        """
        started = time.perf_counter()
        into = usage if usage is not None else Usage()

        def call() -> Any:
            into.attempts += 1
            return self._create(
                model=self.endpoint.model, messages=list(messages), max_tokens=max_tokens,
                temperature=temperature, store=False, stream=True, stream_options={"include_usage": True},
            )  # fmt: skip

        try:
            stream = self._guard(call)
            if isinstance(stream, str | bytes):  # the SDK's answer to a body that is not an event stream
                raise self._malformed("not an event stream")
            shown = False
            try:
                for chunk in stream:
                    if chunk.usage:
                        into.prompt_tokens = chunk.usage.prompt_tokens
                        into.completion_tokens = chunk.usage.completion_tokens
                    into.model = chunk.model or into.model
                    for choice in chunk.choices or ():
                        if choice.delta and choice.delta.content:
                            if into.first_token_ms is None:
                                into.first_token_ms = (time.perf_counter() - started) * 1000
                            shown = shown or bool(choice.delta.content.strip())
                            yield choice.delta.content
            except (ValueError, TypeError, AttributeError):  # an event that is not JSON, or not a chunk
                raise self._malformed("a stream event that is not a completion chunk") from None
            except Exception as exc:  # noqa: BLE001 - any transport failure mid-stream ends the answer
                raise LLMUnavailableError(
                    f"the {self.endpoint.route} LLM endpoint {self.endpoint.host} broke off the answer "
                    f"({type(exc).__name__})"
                ) from None
            if not shown:
                raise self._malformed("a stream without answer text")
        finally:  # also when opening the stream failed: the audit row still gets time and model
            into.latency_ms = (time.perf_counter() - started) * 1000
            into.model = into.model or self.endpoint.model

    # --- errors -----------------------------------------------------------------------------------------

    def _guard(self, call: Any) -> Any:
        host, route = self.endpoint.host, self.endpoint.route
        try:
            return call_with_retry(call, max_seconds=self._max_retry_seconds, clock=self._clock)
        except openai.APIConnectionError as exc:
            kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "is unreachable"
            raise LLMUnavailableError(f"the {route} LLM endpoint {host} {kind}") from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            reason = self._reason(exc)
            if status == 429 or status >= 500:
                said = f" ({reason})" if reason else ""
                raise LLMUnavailableError(
                    f"the {route} LLM endpoint {host} answered {status}{said}"
                ) from None
            said = f" {reason}" if reason else ""
            raise LLMRejectedError(
                f"the {route} LLM endpoint {host} refused the request: {status}{said}"
            ) from None
        except openai.APIResponseValidationError:
            raise self._malformed("a reply that is not a completion") from None
        except ValueError:  # the SDK's json.loads of a body that claims to be JSON and is not
            raise self._malformed("a reply that is not valid JSON") from None

    def _reason(self, exc: openai.APIStatusError) -> str:
        """A short reason from the endpoint's error message — masked, plain — or ""."""
        body: Any = exc.body
        msg = body.get("message") if isinstance(body, dict) else None
        error = body.get("error") if isinstance(body, dict) else None
        if not msg and isinstance(error, dict):
            msg = error.get("message") or error.get("type")
        elif not msg and isinstance(error, str):
            msg = error
        return plain_summary(str(msg or ""), self._secrets, limit=REASON_CHARS)


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()
