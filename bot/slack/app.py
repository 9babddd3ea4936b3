"""The Bolt app: one ``AsyncApp`` and its listeners. Wiring only — each surface registers itself.

``AsyncApp`` keeps the event loop free: Bolt verifies and routes on the loop, listeners ``await
ack()`` first, and the answers run on :class:`~bot.slack.workers.Workers` threads.

Every signed event gets a 200, answered or not: Slack counts other answers against the event
subscription and eventually disables it. ``app_rate_limited`` (Slack dropping our events for a
minute) is logged and counted; event types Closer does not use are acknowledged and ignored.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp

from bot.observability import METRICS
from bot.slack import actions, commands, conversations, digest_hooks, mentions
from bot.slack.clients import async_web_client
from bot.slack.service import SlackService

log = logging.getLogger("bot.slack")


def build_app(svc: SlackService, *, socket_mode: bool = False) -> AsyncApp:
    s = svc.settings
    app = AsyncApp(
        name="closer",
        client=async_web_client(s.slack_bot_token or "", s.slack_api_url),
        signing_secret=s.slack_signing_secret or "",
        request_verification_enabled=not socket_mode,  # Socket Mode is authenticated by the app token
        process_before_response=True,  # listeners only ack and spawn: see bot.slack.workers
        logger=logging.getLogger("slack_bolt.closer"),
    )

    async def remember_bot(context: dict[str, Any], next: Any) -> None:
        svc.bot_user_id = svc.bot_user_id or context.get("bot_user_id")
        await next()

    async def rate_limited(body: dict[str, Any], next: Any) -> BoltResponse | None:
        if body.get("type") != "app_rate_limited":
            await next()
            return None
        METRICS.requests.labels(surface="event", outcome="app_rate_limited").inc()
        log.warning("Slack is dropping this app's events (app_rate_limited)",
                    extra={"minute_rate_limited": body.get("minute_rate_limited")})  # fmt: skip
        return BoltResponse(status=200, body="")

    async def ignore(body: dict[str, Any]) -> None:
        """Registered last: any event no listener above took (Bolt's own answer would be a 404)."""
        METRICS.requests.labels(surface="event", outcome="ignored").inc()

    async def on_error(error: Exception) -> None:
        log.error("listener failed", extra={"error": type(error).__name__})

    async def time_ack(body: dict[str, Any], next: Any) -> None:
        # In HTTP mode the route times the whole request; here the listener's ack is what Slack waits on.
        started = time.perf_counter()
        await next()
        kind = (
            "command"
            if "command" in body
            else "event"
            if body.get("type") == "event_callback"
            else "interactive"
        )
        METRICS.ack_seconds.labels(surface=kind).observe(time.perf_counter() - started)

    app.middleware(rate_limited)
    app.middleware(remember_bot)
    if socket_mode:
        app.middleware(time_ack)
    app.error(on_error)
    commands.register(app, svc)
    conversations.register(app, svc)
    mentions.register(app, svc)
    actions.register(app, svc)
    digest_hooks.register(app, svc)
    app.event(re.compile(".*"))(ignore)
    return app
