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
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import LoopbackServer, QuietHandler

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


class FakeVendor(LoopbackServer):
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.lock = threading.RLock()
        super().__init__(self._handler(), tls=tls)

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

        class Handler(QuietHandler):
            def _serve(self) -> None:
                raw = self.read_body()
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
                    ctype = headers.pop("Content-Type", "application/octet-stream")
                    self.send_body(status, payload, headers, content_type=ctype)
                else:
                    self.send_json(status, payload, headers)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return Handler
