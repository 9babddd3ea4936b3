"""A fake OpenAI-compatible API over real HTTP on 127.0.0.1, recording every request it gets.

Serves ``/v1/models``, ``/v1/embeddings`` and ``/v1/chat/completions`` (plain and streamed). Tests
script failures per call (``fail_next``: a status with optional ``Retry-After``, or a delay), can hold
every answer until the test releases it (``hold``/``release``: work that must not wait on the LLM), and
read back what arrived (``requests``), which is how "zero bytes reached the standard endpoint" is
proved. Answers are canned or computed by a test-provided function.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackServer, QuietHandler


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Failure:
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    body: dict[str, Any] = field(
        default_factory=lambda: {"error": {"message": "injected", "type": "server_error"}}
    )
    # A verbatim body (sent with ``status``, also 200) instead of the JSON ``body``: malformed answers.
    raw: bytes | None = None
    content_type: str = "application/json"


def hash_vector(text: str, dim: int = 64) -> list[float]:
    vec = [0.0] * dim
    for word in text.lower().split():
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
        vec[h % dim] += 1.0
    vec[0] += 1e-3
    norm = sum(v * v for v in vec) ** 0.5
    return [v / norm for v in vec]


class FakeOpenAI(LoopbackServer):
    def __init__(self, *, model: str = "fake-model", dim: int = 64) -> None:
        self.model = model
        self.dim = dim
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.reply: Callable[[dict[str, Any]], str] = lambda body: "A grounded answer [1]."
        self.delay = 0.0
        self._open = threading.Event()  # cleared by hold(): every answer waits until release()
        self._open.set()
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def hold(self) -> None:
        """From now on every request waits (after it is recorded) until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def close(self) -> None:
        self.release()  # a held handler thread ends instead of waiting on a closed server
        super().close()

    def fail_next(self, *failures: Failure) -> None:
        with self._lock:
            self.failures.extend(failures)

    def bytes_received(self) -> int:
        return sum(len(r.body) for r in self.requests)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # --- HTTP ---------------------------------------------------------------------------------------------

    def _next_failure(self) -> Failure | None:
        with self._lock:
            return self.failures.pop(0) if self.failures else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def _record(self) -> Recorded:
                body = self.read_body()
                rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(rec)
                return rec

            def _maybe_fail(self) -> bool:
                fake._open.wait()
                failure = fake._next_failure()
                if failure is None:
                    if fake.delay:
                        time.sleep(fake.delay)
                    return False
                if failure.delay:
                    time.sleep(failure.delay)
                if failure.raw is not None:
                    self.send_body(failure.status, failure.raw, content_type=failure.content_type)
                    return True
                if failure.status == 200:
                    return False
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
                self.send_json(failure.status, failure.body, headers)
                return True

            def do_GET(self) -> None:
                self._record()
                if self._maybe_fail():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    self.send_json(200, {"object": "list", "data": [{"id": fake.model, "object": "model",
                                                                   "created": 0, "owned_by": "fake"}]})  # fmt: skip
                else:
                    self.send_json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                rec = self._record()
                if self._maybe_fail():
                    return
                body = rec.json() or {}
                if self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [{"object": "embedding", "index": i, "embedding": hash_vector(t, fake.dim)}
                            for i, t in enumerate(inputs)]  # fmt: skip
                    self.send_json(200, {"object": "list", "data": data, "model": body.get("model"),
                                     "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip
                elif self.path.endswith("/chat/completions"):
                    text = fake.reply(body)
                    if body.get("stream"):
                        self._stream(text, body)
                    else:
                        self.send_json(200, _completion(text, body, fake.model))
                else:
                    self.send_json(404, {"error": {"message": "not found"}})

            def _stream(self, text: str, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = [text[i : i + 8] for i in range(0, len(text), 8)] or [""]
                for piece in pieces:
                    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                             "model": fake.model,
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}  # fmt: skip
                    self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                final = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": fake.model,
                         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}}  # fmt: skip
                self._chunk(f"data: {json.dumps(final)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def _completion(text: str, body: dict[str, Any], model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
