"""The scaffolding every fake HTTP server in tests/ shares: a threaded server on 127.0.0.1 and a free
port, served on a daemon thread, started and stopped as a context manager.

- :class:`LoopbackServer`: give it a request handler class; ``with`` starts it, leaving stops it.
  The fakes (:mod:`tests.fake_openai`, :mod:`tests.fake_slack`, :mod:`tests.fake_vendor`) subclass it.
- :class:`QuietHandler`: a ``BaseHTTPRequestHandler`` that logs nothing, keeps connections alive
  (HTTP/1.1), sends small writes at once, and has the two helpers every fake needs: read the body,
  send a JSON answer.

Nothing here listens on any address but 127.0.0.1.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

HOST = "127.0.0.1"


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small writes otherwise wait ~40 ms for delayed ACKs

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        *,
        content_type: str = "application/json",
    ) -> None:
        """``payload`` as JSON (``None``: an empty body) with ``status`` and extra ``headers``."""
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_body(status, data, headers, content_type=content_type)

    def send_body(
        self, status: int, data: bytes, headers: dict[str, str] | None = None, *, content_type: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer:
    """``handler`` served on 127.0.0.1 and a free port (HTTPS when given ``tls``), on a daemon thread."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        tls: ssl.SSLContext | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        self._server = ThreadingHTTPServer((HOST, 0), handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(poll_interval,), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"
