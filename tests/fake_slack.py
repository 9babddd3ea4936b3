"""A fake Slack over real HTTP on 127.0.0.1: the Web API, ``response_url``s and Socket Mode.

- :class:`FakeSlack` answers the Web API methods Closer calls (``/api/<method>``, form, query or
  JSON bodies), records every call, and can be told to fail the next calls of a method (429 with
  ``Retry-After``, 5xx, or a 200 with ``{"ok": false, "error": ...}``: :meth:`Failure.error`), or to
  answer a method slowly (:attr:`FakeSlack.delays`). ``/response/<name>`` stands in for a ``response_url``. Tests wait on it with
  :meth:`FakeSlack.wait_for` (a condition with a timeout), never a fixed sleep.
- :class:`SlackDriver` plays Slack's side towards the app: slash commands, events and clicks,
  signed the way Slack signs them (``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``).
- :class:`FakeSocketMode` is a small websocket server: ``hello``, then the envelopes a test queues.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import httpx

from tests.loopback import LoopbackServer, QuietHandler

BOT_USER, BOT_ID, TEAM = "UBOT", "BBOT", "T0001"
USERS: dict[str, dict[str, Any]] = {
    "UALICE": {"email": "alice@x.example", "tz": "Europe/Berlin", "name": "Alice"},
    "UBOB": {"email": "bob@x.example", "tz": "America/New_York", "name": "Bob"},
    "UCAROL": {"email": "carol@x.example", "tz": "UTC", "name": "Carol"},
    "UGUEST": {"email": None, "tz": "UTC", "name": "Guest"},
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    status: int = 429
    retry_after: str | None = "0"
    body: dict[str, Any] = field(default_factory=lambda: {"ok": False, "error": "ratelimited"})

    @classmethod
    def error(cls, error: str) -> Failure:
        """Slack's way of refusing a call: HTTP 200 with ``{"ok": false, "error": error}``."""
        return cls(status=200, retry_after=None, body={"ok": False, "error": error})


class FakeSlack(LoopbackServer):
    def __init__(self, *, users: dict[str, dict[str, Any]] | None = None) -> None:
        self.users = {uid: dict(user) for uid, user in (USERS if users is None else users).items()}
        self.calls: list[Call] = []
        self.responses: list[Call] = []  # posts to response URLs (method = the URL's name)
        # thread_ts -> the thread's messages, as conversations.replies gives them: the users' messages
        # the driver delivered and what the bot posted (ephemeral messages are not part of a thread).
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.enterprise_id: str | None = None  # auth.test's: set it to play an Enterprise Grid install
        self.replies_limit = 15  # conversations.replies' page cap (Slack's for non-Marketplace apps)
        self.failures: dict[str, list[Failure]] = {}
        self.delays: dict[str, float] = {}  # method -> seconds every call of it takes
        self.socket_url: str | None = None
        self._last_ts = 1700000000.0  # message timestamps only grow, as in Slack
        self._cond = threading.Condition()
        super().__init__(self._handler())

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def fail_next(self, method: str, *failures: Failure) -> None:
        with self._cond:
            self.failures.setdefault(method, []).extend(failures)

    # --- reading what arrived ------------------------------------------------------------------------

    def calls_to(self, *methods: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method in methods]

    def responses_to(self, name: str) -> list[Call]:
        with self._cond:
            return [c for c in self.responses if c.method == name]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate()`` holds (re-checked on every request), at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_calls(self, method: str, n: int = 1, timeout: float = 10.0) -> list[Call]:
        assert self.wait_for(lambda: len(self.calls_to(method)) >= n, timeout), (
            f"expected {n} {method} call(s), got {[c.method for c in self.calls]}"
        )
        return self.calls_to(method)

    def wait_responses(self, name: str, n: int = 1, timeout: float = 10.0) -> list[Call]:
        assert self.wait_for(lambda: len(self.responses_to(name)) >= n, timeout), (
            f"expected {n} post(s) to response URL {name}, got {len(self.responses_to(name))}"
        )
        return self.responses_to(name)

    # --- the Web API ---------------------------------------------------------------------------------

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts
        if method == "auth.test":
            org = {"enterprise_id": self.enterprise_id} if self.enterprise_id else {}
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "team_id": TEAM,
                "user": "closer",
                **org,
            }
        if method == "users.info":
            user = self.users.get(str(p.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": self._user(str(p["user"]), user)}
        if method == "users.lookupByEmail":
            for uid, user in self.users.items():
                if user.get("email") == p.get("email"):
                    return {"ok": True, "user": self._user(uid, user)}
            return {"ok": False, "error": "users_not_found"}
        if method == "conversations.replies":
            return self._replies(p)
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(p.get("users", "X"))[1:]}}
        if method in ("chat.postMessage", "chat.startStream"):
            posted = ts()
            self._keep(method, p, posted)
            return {"ok": True, "channel": p.get("channel"), "ts": posted}
        if method in ("chat.update", "chat.appendStream", "chat.stopStream"):
            self._keep(method, p, str(p.get("ts")))
            return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts")}
        if method == "chat.delete":
            return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts()}
        if method == "apps.connections.open":
            if self.socket_url is None:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"ok": True, "url": self.socket_url}
        if method in ("views.open",):
            return {"ok": True, "view": {"id": "V1"}}
        if method.startswith("assistant.threads."):
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    @staticmethod
    def _user(uid: str, user: dict[str, Any]) -> dict[str, Any]:
        """A user object shaped like Slack's (``users.info``): a confirmed full member of ``TEAM``
        unless the test's user says otherwise (``team_id``, ``is_restricted``, ``is_stranger``…)."""
        profile: dict[str, Any] = {
            "real_name": user.get("name") or uid.title(),
            "display_name": user.get("name") or "",
        }
        if user.get("email"):
            profile["email"] = user["email"]
        out: dict[str, Any] = {
            "id": uid, "team_id": TEAM, "name": uid.lower(), "deleted": False, "real_name": profile["real_name"],
            "tz": user.get("tz"), "is_admin": False, "is_owner": False, "is_restricted": False,
            "is_ultra_restricted": False, "is_bot": False, "is_app_user": False, "is_email_confirmed": True,
            "updated": 1700000000, "profile": profile,
        }  # fmt: skip
        out.update({k: v for k, v in user.items() if k not in ("email", "name", "tz")})
        return out

    def _next_ts(self) -> str:
        with self._cond:
            self._last_ts += 0.0001
            return f"{self._last_ts:.6f}"

    def add_message(self, message: dict[str, Any]) -> None:
        """A message now in Slack (a user's, delivered as an event): part of its thread from now on."""
        with self._cond:
            root = str(message.get("thread_ts") or message["ts"])
            self.threads.setdefault(root, []).append(dict(message))
            self._last_ts = max(self._last_ts, float(message["ts"]))

    def _keep(self, method: str, p: dict[str, Any], ts: str) -> None:
        """What the bot posts (or streams, or edits) becomes part of its thread, as in Slack."""
        chunks = p.get("chunks")
        if isinstance(chunks, str):
            chunks = json.loads(chunks)
        streamed = "".join(str(c.get("text") or "") for c in chunks or [] if isinstance(c, dict))
        text = str(p.get("text") or p.get("markdown_text") or streamed)
        with self._cond:
            self._keep_locked(method, p, ts, text)

    def _keep_locked(self, method: str, p: dict[str, Any], ts: str, text: str) -> None:
        blocks = p.get("blocks")
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        for messages in self.threads.values():
            for m in messages:
                if m["ts"] == ts:
                    appends = method in ("chat.appendStream", "chat.stopStream")
                    m["text"] = m["text"] + text if appends else text or m["text"]
                    if blocks is not None:
                        m["blocks"] = blocks
                    return
        if method in ("chat.postMessage", "chat.startStream"):
            root = str(p.get("thread_ts") or ts)
            message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "text": text, "ts": ts}
            self.threads.setdefault(root, []).append({**message, "thread_ts": root, "blocks": blocks or []})

    def _replies(self, p: dict[str, Any]) -> dict[str, Any]:
        """``conversations.replies``: oldest first, ``oldest``/``latest`` bounds, cursor pages."""
        inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        with self._cond:
            messages = sorted(self.threads.get(str(p.get("ts")), []), key=lambda m: float(m["ts"]))
        messages = [m for m in messages if (oldest <= float(m["ts"]) <= latest if inclusive
                                            else oldest < float(m["ts"]) < latest)]  # fmt: skip
        start = int(str(p.get("cursor") or "off:0").removeprefix("off:"))
        size = min(int(p.get("limit") or self.replies_limit), self.replies_limit)
        page = messages[start : start + size]
        more = start + size < len(messages)
        meta = {"next_cursor": f"off:{start + size}" if more else ""}
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": meta}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                self.send_json(status, payload, headers, content_type="application/json; charset=utf-8")

            def _params(self) -> dict[str, Any]:
                url = urlparse(self.path)
                params: dict[str, Any] = dict(parse_qsl(url.query))
                raw = self.read_body()
                if raw:
                    if (self.headers.get("Content-Type") or "").startswith("application/json"):
                        params.update(json.loads(raw))
                    else:
                        params.update(parse_qsl(raw.decode()))
                return params

            def _handle(self) -> None:
                path = urlparse(self.path).path
                params = self._params()
                headers = {k.lower(): v for k, v in self.headers.items()}
                if path.startswith("/response/"):
                    with fake._cond:
                        fake.responses.append(Call(path.rsplit("/", 1)[-1], params, headers))
                        fake._cond.notify_all()
                    self._send(200, {"ok": True})
                    return
                method = path.removeprefix("/api/")
                with fake._cond:
                    fake.calls.append(Call(method, params, headers))
                    queue = fake.failures.get(method)
                    failure = queue.pop(0) if queue else None
                    delay = fake.delays.get(method, 0.0)
                    fake._cond.notify_all()
                if delay:
                    time.sleep(delay)
                if failure is not None:
                    extra = {"Retry-After": failure.retry_after} if failure.retry_after else None
                    self._send(failure.status, failure.body, extra)
                    return
                self._send(200, fake._answer(method, params))

            do_GET = _handle
            do_POST = _handle

        return Handler


# --- Slack's side: signed requests to the app ------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackDriver:
    """Sends slash commands, events and clicks to the app at ``url`` (``/slack/events``)."""

    def __init__(self, url: str, secret: str, fake: FakeSlack) -> None:
        self.url = url.rstrip("/") + "/slack/events"
        self.secret = secret
        self.fake = fake
        self.client = httpx.Client(timeout=10)
        self._n = itertools.count(1)

    def close(self) -> None:
        self.client.close()

    def post(self, body: bytes, content_type: str, *, headers: dict[str, str] | None = None,
             timestamp: int | None = None, secret: str | None = None) -> httpx.Response:  # fmt: skip
        signed = sign(secret or self.secret, body, timestamp)
        return self.client.post(
            self.url, content=body, headers={"Content-Type": content_type, **signed, **(headers or {})}
        )

    def command_body(self, text: str, *, user: str = "UALICE", channel: str = "C100", name: str | None = None,
                     command: str = "/sales") -> tuple[bytes, str]:  # fmt: skip
        n = next(self._n)
        name = name or f"cmd{n}"
        form = {"token": "x", "team_id": TEAM, "channel_id": channel, "channel_name": "sales", "user_id": user,
                "user_name": user.lower(), "command": command, "text": text, "api_app_id": "A1",
                "response_url": self.fake.response_url(name), "trigger_id": f"trig-{name}"}  # fmt: skip
        return urlencode(form).encode(), name

    def command(self, text: str, **kwargs: Any) -> tuple[httpx.Response, str]:
        body, name = self.command_body(text, **kwargs)
        return self.post(body, "application/x-www-form-urlencoded"), name

    def event(self, event: dict[str, Any], *, event_id: str | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        payload = {"token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
                   "event_id": event_id or f"Ev{next(self._n):06d}", "event_time": int(time.time()), "event": event,
                   "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}  # fmt: skip
        if event.get("type") in ("message", "app_mention") and event.get("ts") and not event.get("subtype"):
            self.fake.add_message(event)  # a message is in Slack before Slack sends the event
        return self.post(json.dumps(payload).encode(), "application/json", headers=headers)

    def click(self, action_id: str, value: str, *, user: str = "UALICE", channel: str = "C100",
              message_ts: str = "1700000999.000100", ephemeral: bool = False, thread_ts: str | None = None,
              name: str | None = None, action_ts: str | None = None) -> tuple[httpx.Response, str]:  # fmt: skip
        name = name or f"click{next(self._n)}"
        container = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        }
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A1",
            "container": container, "channel": {"id": channel}, "trigger_id": f"trig-{name}",
            "response_url": self.fake.response_url(name),
            "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                         "action_ts": action_ts or f"{time.time():.6f}"}],
        }  # fmt: skip
        if not ephemeral:
            payload["message"] = {"ts": message_ts, "thread_ts": thread_ts or message_ts, "text": "an answer"}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded"), name


# --- Socket Mode ---------------------------------------------------------------------------------------


class FakeSocketMode:
    """A websocket server on 127.0.0.1: says ``hello``, sends queued envelopes, records the acks."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._cond = threading.Condition()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> FakeSocketMode:
        self._thread.start()
        assert self._started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    def send(self, envelope: dict[str, Any]) -> None:
        assert self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, envelope)

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ack in self.acks:
                    if ack.get("envelope_id") == envelope_id:
                        return ack
                left = deadline - time.monotonic()
                assert left > 0, f"no ack for {envelope_id}"
                self._cond.wait(left)

    def _run(self) -> None:
        from websockets.asyncio.server import ServerConnection, serve

        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        self._stop = asyncio.Event()

        async def handler(ws: ServerConnection) -> None:
            await ws.send(json.dumps({"type": "hello", "num_connections": 1,
                                      "debug_info": {"host": "fake", "approximate_connection_time": 3600}}))  # fmt: skip
            self.connected.set()

            async def pump() -> None:
                assert self._queue is not None
                while True:
                    await ws.send(json.dumps(await self._queue.get()))

            sender = asyncio.ensure_future(pump())
            try:
                async for raw in ws:
                    with self._cond:
                        self.acks.append(json.loads(raw))
                        self._cond.notify_all()
            except Exception:  # the client went away
                pass
            finally:
                sender.cancel()

        async def main() -> None:
            async with serve(handler, "127.0.0.1", 0) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                self._started.set()
                await self._stop.wait()

        self._loop.run_until_complete(main())
