"""``closer serve``: the Slack app on uvicorn (a production ASGI server), HTTP or Socket Mode.

HTTP mode serves ``POST /slack/events`` (commands, events, interactivity; Slack-signed),
``GET /healthz`` and ``GET /metrics`` on ``HOST:PORT``. With ``SLACK_APP_TOKEN`` set, Slack traffic
comes over Socket Mode instead and ``/healthz`` and ``/metrics`` stay on ``HOST:PORT``.

On SIGTERM (or Ctrl-C) uvicorn stops taking requests, Socket Mode disconnects, and the answers
already acknowledged get up to ``SLACK_SHUTDOWN_SECONDS`` to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import anyio.to_thread
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import Settings
from bot.crm_sync.schedule import start_sync_scheduler
from bot.errors import CloserError, SettingsError
from bot.observability import METRICS, configure_logging, secrets_of
from bot.privacy.secrets import host_of
from bot.slack.app import build_app
from bot.slack.digest_hooks import start_scheduler
from bot.slack.instrument import instrument
from bot.slack.intake import Refused, admit
from bot.slack.service import SlackService
from bot.state.rows import utc_now

if TYPE_CHECKING:
    from bot.assistant import Assistant

log = logging.getLogger("bot.slack")
PRUNE_EVERY_SECONDS = 600.0
KEEP_CLAIMS = timedelta(days=1)  # Slack stops redelivering after minutes


def check_settings(settings: Settings) -> None:
    """The settings ``serve`` cannot start without, as one line naming the setting."""
    if not settings.slack_bot_token:
        raise SettingsError("setting SLACK_BOT_TOKEN: required for `closer serve` (the bot token, xoxb-…)")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise SettingsError(
            "setting SLACK_SIGNING_SECRET: required for `closer serve` in HTTP mode "
            "(or set SLACK_APP_TOKEN for Socket Mode)"
        )


def surface_of(body: str) -> str:
    if body.startswith("{"):
        return "event"
    return "interactive" if body.startswith("payload=") or "&payload=" in body else "command"


def create_http_app(svc: SlackService, bolt: AsyncApp, *, socket_mode: bool = False) -> Starlette:
    """The ASGI app. In Socket Mode its lifespan opens the websocket (on the server's own loop)."""
    limit = svc.settings.slack_max_body_bytes
    mode = "socket" if socket_mode else "http"

    async def events(request: Request) -> Response:
        started = time.perf_counter()
        admitted = await admit(request, svc.settings.slack_signing_secret or "", limit=limit)
        if isinstance(admitted, Refused):
            METRICS.requests.labels(surface="http", outcome=f"refused_{admitted.status}").inc()
            log.warning("request refused", extra={"status": admitted.status, "reason": admitted.reason})
            return admitted.response()
        if request.headers.get("x-slack-retry-num"):
            METRICS.retries.labels(kind="slack_redelivery").inc()
        response = to_starlette_response(await bolt.async_dispatch(admitted))
        surface = surface_of(admitted.raw_body)
        METRICS.ack_seconds.labels(surface=surface).observe(time.perf_counter() - started)
        return response

    async def healthz(request: Request) -> Response:
        status, code = "ok", 200
        try:
            await anyio.to_thread.run_sync(svc.assistant.state.schema_revision)
        except CloserError:
            status, code = "state database unreachable", 503
        try:  # the index a request would search, reloaded if an ingest changed the store
            await anyio.to_thread.run_sync(svc.assistant.kb.index)
        except CloserError as exc:
            log.warning("knowledge store unreadable", extra={"error": type(exc).__name__})
            status, code = "knowledge store unreadable", 503
        if svc.workers.draining:
            status, code = "shutting down", 503
        uptime = round(time.monotonic() - svc.started)
        body = {"status": status, "mode": mode, "in_flight": svc.workers.in_flight,
                "workers": svc.workers.threads, "uptime_s": uptime}  # fmt: skip
        return JSONResponse(body, status_code=code)

    async def metrics(request: Request) -> Response:
        return Response(METRICS.render(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pruner = asyncio.create_task(_prune_claims(svc))
        socket = None
        if socket_mode:  # aiohttp's session must be made on the running loop
            socket = AsyncSocketModeHandler(bolt, svc.settings.slack_app_token, web_client=bolt.client)
            await socket.connect_async()  # type: ignore[no-untyped-call]
        scheduler = await anyio.to_thread.run_sync(start_scheduler, svc)
        crm_sync = await anyio.to_thread.run_sync(start_sync_scheduler, svc.settings)
        log.info("serving Slack", extra={"mode": mode, "workers": svc.workers.threads})
        try:
            yield
        finally:
            for running in (scheduler, crm_sync):
                if running is not None:
                    running.shutdown(wait=False)
            if socket is not None:
                await socket.close_async()  # type: ignore[no-untyped-call]  # no new envelopes now
            drained = await svc.workers.drain(svc.settings.slack_shutdown_seconds)
            pruner.cancel()
            log.info("stopped", extra={"drained": drained})

    routes = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
    if not socket_mode:
        routes.append(Route("/slack/events", events, methods=["POST"]))
    return Starlette(routes=routes, lifespan=lifespan)


async def _prune_claims(svc: SlackService) -> None:
    """Exactly-once claims older than a day are no longer needed: keep the table small."""
    while True:
        try:
            await anyio.to_thread.run_sync(
                lambda: svc.assistant.state.prune_events(before=utc_now() - KEEP_CLAIMS)
            )
        except CloserError as exc:
            log.warning("could not prune old event claims", extra={"error": type(exc).__name__})
        await asyncio.sleep(PRUNE_EVERY_SECONDS)


def build(settings: Settings, assistant: Assistant) -> tuple[SlackService, Starlette]:
    """The whole server for ``assistant`` (tests build it in process the same way)."""
    instrument(assistant)
    svc = SlackService.build(settings, assistant)
    socket_mode = bool(settings.slack_app_token)
    bolt = build_app(svc, socket_mode=socket_mode)
    return svc, create_http_app(svc, bolt, socket_mode=socket_mode)


def listen(host: str, port: int) -> socket.socket:
    """Bind before anything slow, so a taken port is one clear line, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(f"setting PORT: cannot listen on {host}:{port} ({exc.strerror})") from None
    return sock


def uvicorn_server(app: Starlette, settings: Settings) -> uvicorn.Server:
    grace = int(settings.slack_shutdown_seconds) or None
    config = uvicorn.Config(
        app, log_config=None, lifespan="on", access_log=False, timeout_graceful_shutdown=grace
    )
    return uvicorn.Server(config)


def startup_summary(settings: Settings) -> str:
    """Where ``serve`` listens and how it runs, in one line with no secret in it."""
    from bot.llm.router import private_endpoint, standard_endpoint
    from bot.state.engine import describe, parse

    where = f"http://{settings.host}:{settings.port}"
    mode = (
        f"Socket Mode (Slack over a WebSocket; /healthz and /metrics on {where})"
        if settings.slack_app_token
        else f"HTTP mode on {where} (POST /slack/events, GET /healthz, GET /metrics)"
    )
    store = f"Chroma server {host_of(settings.chroma_url)}" if settings.chroma_url else (
        f"embedded store {settings.chroma_path}")  # fmt: skip
    std, priv = standard_endpoint(settings), private_endpoint(settings)
    standard = host_of(std.base_url) if std else "none (answers show their sources only)"
    private = host_of(priv.base_url) if priv else "none (private requests are refused)"
    return (
        f"closer serve: {mode}; {store}; {describe(parse(settings.state_url))}; "
        f"LLM standard endpoint {standard}, private endpoint {private}"
    )


def serve(settings: Settings, make_assistant: Callable[[Settings], Assistant]) -> int:
    check_settings(settings)
    configure_logging(settings.log_level, secrets=secrets_of(settings))
    sock = listen(settings.host, settings.port)
    log.info(startup_summary(settings))
    _, app = build(settings, make_assistant(settings))
    server = uvicorn_server(app, settings)
    # uvicorn re-raises SIGTERM once it has shut down; after a clean drain that is a normal exit (0).
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: setattr(server, "should_exit", True))
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
