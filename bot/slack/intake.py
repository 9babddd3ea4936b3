"""The front door of ``POST /slack/events``: size, signature and shape, before Bolt sees a request.

In order, each refusal a short plain-text answer, the server unaffected:

1. a body larger than ``SLACK_MAX_BODY_BYTES`` → 413, refused on its ``Content-Length`` before
   reading, or as soon as the streamed read passes the cap (never buffered whole);
2. no valid Slack signature (missing or non-numeric timestamp, stale, wrong secret) → 401 — except
   Slack's ``ssl_check=1&token=…`` probe, which Bolt answers without doing anything;
3. a signed body that is not UTF-8, not JSON / form / ``payload=<JSON object>``, or an event
   without the fields every event has → 400.

What passes is handed to Bolt as an ``AsyncBoltRequest`` (Bolt checks the signature again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.async_app import AsyncBoltRequest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str

    def response(self) -> Response:
        return PlainTextResponse(self.reason, status_code=self.status)


TOO_LARGE = Refused(413, "request body too large")
UNSIGNED = Refused(401, "invalid or missing Slack signature")
MAX_AGE_SECONDS = 300


async def read_capped(request: Request, limit: int) -> bytes | Refused:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return TOO_LARGE if declared.isdigit() else Refused(400, "bad Content-Length")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return TOO_LARGE
        chunks.append(chunk)
    return b"".join(chunks)


def signed(secret: str, body: bytes, request: Request, *, now: float | None = None) -> bool:
    """Slack's request signature: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{raw body}``, at most five
    minutes old. Over the raw bytes, so a body that is not even UTF-8 is still judged on it."""
    timestamp = request.headers.get("x-slack-request-timestamp") or ""
    signature = request.headers.get("x-slack-signature") or ""
    if not secret or not timestamp.isdigit() or not signature:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return hmac.compare_digest(f"v0={mac.hexdigest()}", signature)


def parse(text: str, content_type: str) -> dict[str, Any] | None:
    """The request as Bolt will read it, or None when it is not a Slack request body."""
    try:
        if content_type.startswith("application/json") or text.startswith("{"):
            data = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
            data = json.loads(form["payload"]) if "payload" in form else form
    except (ValueError, KeyError):
        return None
    return data if isinstance(data, dict) and data else None


def malformed(data: dict[str, Any]) -> str | None:
    """What is missing from a parsed body for Closer's listeners to read it safely, if anything."""
    kind = data.get("type")
    if kind == "event_callback":
        event = data.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "an event_callback without an event"
        if not isinstance(data.get("event_id"), str):
            return "an event without an event_id"
        if event["type"] in ("app_mention", "message") and not event.get("subtype"):
            if not all(isinstance(event.get(k), str) for k in ("channel", "ts")):
                return "a message event without channel or ts"
            if not isinstance(event.get("user"), str) and (
                event["type"] == "app_mention" or not event.get("bot_id")
            ):
                return f"a person's {event['type']} without a user"
    elif kind == "block_actions":
        user, actions = data.get("user"), data.get("actions")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return "block_actions without a user"
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return "block_actions without actions"
    elif "command" in data and not all(isinstance(data.get(k), str) for k in ("user_id", "trigger_id")):
        return "a slash command without user_id or trigger_id"
    return None


async def admit(request: Request, secret: str, *, limit: int) -> AsyncBoltRequest | Refused:
    body = await read_capped(request, limit)
    if isinstance(body, Refused):
        return body
    if not signed(secret, body, request):
        if len(body) < 500 and dict(parse_qsl(body.decode("latin-1"))).get("ssl_check") == "1":
            return _bolt(body.decode("latin-1"), request)  # Slack's certificate probe: Bolt answers 200
        return UNSIGNED
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refused(400, "body is not UTF-8")
    data = parse(text, request.headers.get("content-type") or "")
    if data is None:
        return Refused(400, "body is not a Slack request")
    problem = malformed(data)
    if problem:
        return Refused(400, problem)
    return _bolt(text, request)


def _bolt(text: str, request: Request) -> AsyncBoltRequest:
    return AsyncBoltRequest(body=text, query=request.query_params, headers=request.headers)  # type: ignore[arg-type]
