"""The common part of the fake CRM APIs (tests/fake_hubspot.py, tests/fake_salesforce.py).

A threaded HTTP server on 127.0.0.1 (HTTPS when given a certificate) that records every request,
can be told to fail the next calls (a status, with ``Retry-After``), and routes each request to the
fake's ``handle(method, path, query, body, headers) -> (status, payload, headers)``; a payload is sent
as JSON, or as it is when it is ``bytes``.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class Failure:
    status: int = 503
    retry_after: str | None = None
    body: Any = field(default_factory=lambda: {"message": "injected failure"})
    when: str = ""  # only a call whose path contains this


class FakeVendor:
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVendor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def fail_next(self, *failures: Failure) -> None:
        with self.lock:
            self.failures.extend(failures)

    def paths(self) -> list[str]:
        return [c.path for c in self.calls]

    def handle(self, call: Call) -> Answer:  # pragma: no cover - each fake overrides
        raise NotImplementedError

    def _failure_for(self, path: str) -> Failure | None:
        with self.lock:
            for i, f in enumerate(self.failures):
                if f.when in path:
                    return self.failures.pop(i)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                ctype = self.headers.get("Content-Type", "")
                body: Any
                if "json" in ctype and raw:
                    body = json.loads(raw)
                elif raw:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                else:
                    body = None
                call = Call(self.command, parts.path, parse_qs(parts.query), body,
                            {k.lower(): v for k, v in self.headers.items()})  # fmt: skip
                with fake.lock:
                    fake.calls.append(call)
                failure = fake._failure_for(parts.path)
                if failure is not None:
                    headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                    status, payload = failure.status, failure.body
                else:
                    status, payload, headers = fake.handle(call)
                if isinstance(payload, bytes):  # a binary body (e.g. a Salesforce blob field)
                    data, ctype = payload, headers.pop("Content-Type", "application/octet-stream")
                else:
                    data = b"" if payload is None else json.dumps(payload).encode()
                    ctype = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return Handler
