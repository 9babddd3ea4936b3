"""A fake OpenAI-compatible API over real HTTP on 127.0.0.1, recording every request it gets.

Serves ``/v1/models``, ``/v1/embeddings`` and ``/v1/chat/completions`` (plain and streamed). Tests
script failures per call (``fail_next``: a status with optional ``Retry-After``, or a delay) and
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


class FakeOpenAI:
    def __init__(self, *, model: str = "fake-model", dim: int = 64) -> None:
        self.model = model
        self.dim = dim
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.reply: Callable[[dict[str, Any]], str] = lambda body: "A grounded answer [1]."
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

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

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small writes otherwise wait ~40 ms for delayed ACKs

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Recorded:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(rec)
                return rec

            def _maybe_fail(self) -> bool:
                failure = fake._next_failure()
                if failure is None:
                    if fake.delay:
                        time.sleep(fake.delay)
                    return False
                if failure.delay:
                    time.sleep(failure.delay)
                if failure.raw is not None:
                    self.send_response(failure.status)
                    self.send_header("Content-Type", failure.content_type)
                    self.send_header("Content-Length", str(len(failure.raw)))
                    self.end_headers()
                    self.wfile.write(failure.raw)
                    return True
                if failure.status == 200:
                    return False
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
                self._send(failure.status, failure.body, headers)
                return True

            def do_GET(self) -> None:
                self._record()
                if self._maybe_fail():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model",
                                                                   "created": 0, "owned_by": "fake"}]})  # fmt: skip
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                rec = self._record()
                if self._maybe_fail():
                    return
                body = rec.json() or {}
                if self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [{"object": "embedding", "index": i, "embedding": hash_vector(t, fake.dim)}
                            for i, t in enumerate(inputs)]  # fmt: skip
                    self._send(200, {"object": "list", "data": data, "model": body.get("model"),
                                     "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip
                elif self.path.endswith("/chat/completions"):
                    text = fake.reply(body)
                    if body.get("stream"):
                        self._stream(text, body)
                    else:
                        self._send(200, _completion(text, body, fake.model))
                else:
                    self._send(404, {"error": {"message": "not found"}})

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
