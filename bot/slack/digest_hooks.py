"""The digest's hooks in the Slack server: its two buttons, and its schedule in ``closer serve``.

The digest itself (what it holds, its Block Kit, its delivery) lives in :mod:`bot.digest` and
:mod:`bot.slack.digest`; this module only routes to them, and is skipped if they are not installed.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.render import notice
from bot.slack.service import Request, SlackService
from bot.slack.targets import Target, Thread

log = logging.getLogger(__name__)


def _followup(svc: SlackService, body: dict[str, Any], deal_id: str, target: Target) -> str:
    person = svc.directory.person(str(body["user"]["id"]))
    thread = target.key if isinstance(target, Thread) else None  # a reply in it carries the draft
    req = Request("followup", deal_id, person, surface="slack-digest", thread=thread)
    draft = svc.draft(req)
    target.send(svc.present(draft, req, mode="dm"))
    return "degraded" if draft.degraded else "ok"


def _snooze(svc: SlackService, body: dict[str, Any], deal_id: str, target: Target) -> str:
    from bot.digest.actions import snooze, snoozed_until
    from bot.digest.schedule import default_zone, today_in, zone_of

    person = svc.directory.person(str(body["user"]["id"]))
    today = today_in(zone_of(person.tz, default_zone(svc.settings)))
    snooze(svc.assistant.state, person.who, deal_id, today)
    target.send([notice(f"😴 Snoozed `{deal_id}` until {snoozed_until(today).isoformat()}.")])
    return "ok"


def register(app: AsyncApp, svc: SlackService) -> None:
    try:
        from bot.digest.actions import FOLLOWUP_ACTION, SNOOZE_ACTION
    except ImportError:
        return

    async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = body["actions"][0]
        container = body.get("container") or {}
        channel, ts = str(container.get("channel_id") or ""), str(container.get("message_ts") or "")
        target = Thread(svc.client, channel, ts)
        work = _followup if action["action_id"] == FOLLOWUP_ACTION else _snooze

        def job() -> str:
            at = float(action.get("action_ts") or 0)
            if not svc.dedup.first_click(str(body["user"]["id"]), ts, str(action["action_id"]), at=at):
                return "duplicate"
            return work(svc, body, str(action["value"]), target)

        svc.workers.spawn(svc.job("digest-button", target, job))

    app.action(FOLLOWUP_ACTION)(on_click)
    app.action(SNOOZE_ACTION)(on_click)


def start_scheduler(svc: SlackService) -> Any:
    """The in-process digest schedule (``DIGEST_SCHEDULER``); returns it, or None. Stop it with
    ``.shutdown(wait=False)``."""
    if not getattr(svc.settings, "digest_scheduler", False):
        return None
    try:
        from bot.digest.service import DigestService
        from bot.slack.digest import digest_scheduler
    except ImportError:
        return None
    return digest_scheduler(svc.settings, DigestService(svc.assistant), svc.client)
