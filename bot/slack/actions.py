"""Buttons on answers: regenerate, shorter, turn into an email, switch to private, 👍/👎, sources,
and "answer privately for me" under a channel answer.

Each click is acked at once and counted once (double clicks within ``SLACK_CLICK_WINDOW_SECONDS``).
What a click re-runs uses the clicker's own identity. In a channel, anything drawn from the
clicker's own records (an email draft, a private answer) is shown to them alone; a regenerated
public answer stays public-only. On an answer in a DM, buttons act on the DM itself: a new version
replaces the message, and thanks and errors are messages in its thread (a ``response_url`` there
would make "only visible to you" notes that vanish on reload).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.drafting.history import Turn
from bot.slack import buttons as b
from bot.slack.buttons import ButtonValue, Mode
from bot.slack.mrkdwn import escape
from bot.slack.render import Block, context, section
from bot.slack.service import Request, SlackService
from bot.slack.targets import Ephemeral, ResponseUrl, Target, Thread, say
from bot.state.rows import FeedbackRow

log = logging.getLogger(__name__)
FORGOTTEN = ("I don't keep the text of private questions (or I restarted since). "
             "Please ask again — it only takes a moment.")  # fmt: skip
THANKS_DOWN = "Thanks — noted. Try ↻ Regenerate, or tell me in a new message what was wrong."
OWN_ACCESS = (b.EMAIL, b.PRIVATE, b.MINE)  # answers drawn from the clicker's own records
REPLACES = (b.REGENERATE, b.SHORTER, b.PRIVATE, b.MINE)  # a new version of the same answer


def _where(
    svc: SlackService, body: dict[str, Any], value: ButtonValue, action_id: str
) -> tuple[Target, Mode]:
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    message = body.get("message") or {}
    thread_ts = str(
        message.get("thread_ts") or container.get("thread_ts") or container.get("message_ts") or ""
    )
    clicker = str(body["user"]["id"])
    if container.get("is_ephemeral") or value.mode == "ephemeral":
        return ResponseUrl(str(body["response_url"]), replace=action_id in REPLACES), "ephemeral"
    if value.mode == "channel" and action_id in OWN_ACCESS:
        return Ephemeral(svc.client, channel, clicker, thread_ts or None), "ephemeral"
    update = str(container.get("message_ts")) if action_id in REPLACES and value.mode == "dm" else None
    return Thread(svc.client, channel, thread_ts, update_ts=update), value.mode


def reply_target(svc: SlackService, body: dict[str, Any]) -> Target | None:
    """Where a short reply to a click goes (thanks, errors): the DM thread for an answer in a DM,
    else the clicker alone (``response_url``)."""
    container = body.get("container") or {}
    if str(container.get("channel_id") or "").startswith("D") and not container.get("is_ephemeral"):
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts") or container.get("thread_ts") or container.get("message_ts")
        if thread_ts:
            return Thread(svc.client, str(container["channel_id"]), str(thread_ts))
    return ResponseUrl(str(body["response_url"]), replace=False) if body.get("response_url") else None


def _beside(target: Target) -> Target:
    """The same place, but adding a message rather than replacing the answer."""
    if isinstance(target, ResponseUrl):
        return ResponseUrl(target.url, replace=False)
    if isinstance(target, Thread):
        return Thread(target.client, target.channel, target.thread_ts)
    return target


def _feedback(svc: SlackService, body: dict[str, Any], value: ButtonValue, rating: int) -> str:
    person = svc.directory.person(str(body["user"]["id"]))
    svc.assistant.state.record_feedback(FeedbackRow(
        user_email=person.who, request_id=value.request_id, rating=1 if rating > 0 else -1,
        route="private" if value.private else "standard", sources=value.sources,
    ))  # fmt: skip
    thanks = "Thanks — your feedback is noted." if rating > 0 else THANKS_DOWN
    where = reply_target(svc, body)
    if where is not None:
        say(where, thanks)
    return "ok"


def _rerun(svc: SlackService, body: dict[str, Any], value: ButtonValue, action_id: str) -> str:
    clicker = str(body["user"]["id"])
    target, mode = _where(svc, body, value, action_id)
    if value.mode != "channel" and clicker != value.asker:
        say(_beside(target), "Only the person who asked can do that.")
        return "rejected"
    remembered = svc.memory.get(value.request_id)
    text = value.text or (remembered.text if remembered else None)
    if not text:
        say(_beside(target), FORGOTTEN)
        return "forgotten"
    person = svc.directory.person(clicker)
    channel = str((body.get("container") or {}).get("channel_id") or "") or None
    action, history = value.action, tuple[Turn, ...]()
    if action_id == b.EMAIL:
        action = "reply"
        history = (Turn("user", text), Turn("assistant", remembered.answer)) if remembered else ()
    req = Request(action, text, person, private=value.private or action_id == b.PRIVATE, channel=channel,  # type: ignore[arg-type]
                  history=history, public_only=value.public_only and action_id not in OWN_ACCESS,
                  surface="slack-button", shorter=action_id == b.SHORTER,
                  thread=target.key if isinstance(target, Thread) else None)  # fmt: skip
    draft = svc.draft(req)
    target.send(svc.present(draft, req, mode=mode))
    return "degraded" if draft.degraded else "ok"


def handle_click(svc: SlackService, body: dict[str, Any]) -> str:
    action = body["actions"][0]
    action_id, value = str(action["action_id"]), ButtonValue.decode(str(action["value"]))
    message_ts = str((body.get("container") or {}).get("message_ts") or value.request_id)
    at = float(action.get("action_ts") or 0)
    if not svc.dedup.first_click(str(body["user"]["id"]), message_ts, action_id, at=at):
        return "duplicate"
    if action_id in (b.UP, b.DOWN):
        return _feedback(svc, body, value, 1 if action_id == b.UP else -1)
    if action_id == b.FEEDBACK:
        return _feedback(svc, body, value, value.rating or 1)
    return _rerun(svc, body, value, action_id)


def sources_view(svc: SlackService, value: ButtonValue, clicker: str) -> dict[str, Any]:
    """The "sources" modal, from process memory (it holds the snippets for a short while)."""
    blocks: list[Block] = []
    remembered = svc.memory.get(value.request_id)
    if clicker != value.asker and not value.public_only:
        blocks.append(section("Only the person who asked can see these sources."))
    elif remembered and remembered.sources:
        for s in remembered.sources[:40]:
            head = f"*[{s.number}] {escape(s.title)}*  ({s.source_type} {escape(s.source_id)})"
            blocks.append(section(f"{head}\n>{escape(s.snippet)}"))
    elif value.sources:
        blocks.append(section("\n".join(f"• {sid}" for sid in value.sources)))
        blocks.append(
            context("The excerpts are kept in memory for a short while only; ask again to see them.")
        )
    else:
        blocks.append(section("This answer cites no sources."))
    return {"type": "modal", "title": {"type": "plain_text", "text": "Sources"},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": blocks[:100]}  # fmt: skip


def register(app: AsyncApp, svc: SlackService) -> None:
    async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        where = reply_target(svc, body)
        svc.workers.spawn(
            svc.job("button", where, lambda: handle_click(svc, body), asker=str(body["user"]["id"]))
        )

    async def on_sources(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        value = ButtonValue.decode(str(body["actions"][0]["value"]))
        view = sources_view(svc, value, body["user"]["id"])  # from process memory: no waiting

        async def open_view() -> None:  # within 3 s of the click (trigger ids expire): on the loop
            try:
                await client.views_open(trigger_id=body["trigger_id"], view=view)
            except Exception as exc:  # noqa: BLE001 - a modal that fails to open is logged, never raised
                log.warning("could not open the sources view", extra={"error": type(exc).__name__})

        svc.workers.background(open_view())

    for action_id in b.ACTION_IDS:
        if action_id != b.SOURCES:
            app.action(action_id)(on_click)
    app.action(b.SOURCES)(on_sources)
