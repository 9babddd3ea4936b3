"""Metrics (Prometheus) and structured logs (JSON lines with a request id), content-free by design.

- :data:`METRICS` is the process's one set of metrics, on its own registry (``GET /metrics``
  renders it). Other parts use it directly, e.g. ``METRICS.digests_sent.labels(outcome="sent").inc()``.
- :func:`configure_logging` sends every log record through :class:`JsonFormatter`: one JSON object
  a line, with the request id of the current context (:func:`request_scope`) on every line.
- Nothing here logs message content. Third-party Slack libraries may put request bodies into their
  messages (Bolt's "unhandled request", slack-sdk's debug lines), so their records are reduced to
  logger, level and error type. Every line goes through the one secret masker
  (:mod:`bot.privacy.secrets`, re-exported here): configured secrets and anything shaped like a key,
  token or URL password come out as ``***``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.privacy.secrets import mask_secrets, secrets_of

__all__ = [
    "METRICS",
    "JsonFormatter",
    "Metrics",
    "configure_logging",
    "current_request_id",
    "mask_secrets",
    "request_scope",
    "secrets_of",
]

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 60.0)


class Metrics:
    """Every metric Closer exports. One instance per process (:data:`METRICS`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("closer_requests", "Slack requests handled, by surface and outcome",
                                ["surface", "outcome"], registry=r)  # fmt: skip
        self.ack_seconds = Histogram("closer_ack_seconds", "Time from a Slack request to its acknowledgement",
                                     ["surface"], buckets=_LATENCY, registry=r)  # fmt: skip
        self.answer_seconds = Histogram("closer_answer_seconds", "Time from the ack to the answer in Slack",
                                        ["surface"], buckets=_LATENCY, registry=r)  # fmt: skip
        self.retrieval_seconds = Histogram("closer_retrieval_seconds", "Knowledge base search latency",
                                           buckets=_LATENCY, registry=r)  # fmt: skip
        self.llm_seconds = Histogram("closer_llm_seconds", "LLM call latency, by route",
                                     ["route"], buckets=_LATENCY, registry=r)  # fmt: skip
        self.llm_tokens = Counter("closer_llm_tokens", "LLM tokens, by route and kind (prompt, completion)",
                                  ["route", "kind"], registry=r)  # fmt: skip
        self.retries = Counter("closer_retries", "Retries: Slack Web API (rate_limited, server_error, "
                               "connection), Slack redeliveries (slack_redelivery), LLM calls (llm)",
                               ["kind"], registry=r)  # fmt: skip
        self.deduplicated = Counter("closer_deduplicated_events", "Duplicate deliveries and clicks dropped",
                                    ["kind"], registry=r)  # fmt: skip
        self.digests_sent = Counter("closer_digests_sent", "Deal digests delivered, by outcome",
                                    ["outcome"], registry=r)  # fmt: skip
        self.thread_history = Counter("closer_thread_history", "Follow-ups' thread history, by source (new, "
                                      "memory, slack) or why it was left out (rate_limited, unavailable)",
                                      ["source"], registry=r)  # fmt: skip
        self.in_flight = Gauge("closer_in_flight", "Slack requests acknowledged and still being answered",
                               registry=r)  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = Metrics()

# --- request ids -----------------------------------------------------------------------------------

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("closer_request_id", default="-")


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


def current_request_id() -> str:
    return _request_id.get()


def current_or_new_request_id() -> str:
    """The request in progress, or a new id when there is none."""
    current = _request_id.get()
    return current if current != "-" else new_request_id()


@contextmanager
def request_scope(request_id: str | None = None) -> Iterator[str]:
    """Every log line inside carries ``request_id``: the one given, else the request already in
    progress (a core use case inside a Slack request joins it), else a new one."""
    rid = request_id or current_or_new_request_id()
    token = _request_id.set(rid)
    try:
        yield rid
    finally:
        _request_id.reset(token)


# --- warnings --------------------------------------------------------------------------------------


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A library's warning as one line naming where it came from, without the quoted source line."""
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        where = path.rsplit("/site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    else:
        where = path.rsplit("/", 1)[-1].removesuffix(".py")
    text = " ".join(str(message).split())
    return f"closer: warning from {where}: {category.__name__}: {text}\n"


def readable_warnings() -> None:
    """Python warnings — mostly from third-party libraries — as one line each (on stderr, or through
    logging once :func:`configure_logging` captured them), never a quoted source line."""
    warnings.formatwarning = _one_line_warning


# --- JSON logs -------------------------------------------------------------------------------------

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_GUARDED = ("slack_bolt", "slack_sdk", "aiohttp", "websockets")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id and the record's extras.

    Records from the Slack libraries keep only their level and error type: their messages may quote
    a request body. ``secrets`` are masked wherever they would still appear.
    """

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": current_request_id(),
        }
        if record.name.startswith(_GUARDED):
            out["message"] = f"{record.name.split('.')[0]} reported a {record.levelname.lower()}"
            out["detail"] = "withheld: it may quote a Slack request"
        else:
            out["message"] = record.getMessage().rstrip("\n")
            for key, value in vars(record).items():
                if key not in _STANDARD and not key.startswith("_"):
                    # The core passes its own request id in ``extra``: keep both.
                    out["core_request_id" if key == "request_id" else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
        return mask_secrets(json.dumps(out, default=str, ensure_ascii=False), self._secrets)


def configure_logging(
    level: str = "INFO", *, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """JSON lines on stderr (or ``stream``) for the whole process; the server calls this once."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets=secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    readable_warnings()
    logging.captureWarnings(True)  # one JSON line each, like every other record
    # Debug lines of the Slack libraries carry whole payloads: never below WARNING.
    for name in _GUARDED:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler


def timed(observe: Callable[[float], None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: call ``observe(seconds)`` after each call, whether it returned or raised."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                observe(time.perf_counter() - started)

        return inner

    return wrap
