"""The slash command (``SLACK_COMMAND``, default ``/sales``): ack at once, answer via ``response_url``.

The ack is a short ephemeral "working on it" (or the whole answer, for ``help`` and usage errors);
the answer replaces it, visible only to the person who asked, wherever they typed the command.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.errors import InputError
from bot.observability import METRICS
from bot.slack.identity import Person
from bot.slack.inbound import plain_text
from bot.slack.parse import Command, help_text, parse
from bot.slack.render import Message, notice
from bot.slack.service import STAYS_PRIVATE, Request, SlackService
from bot.slack.targets import ResponseUrl, Target

WORKING = "⏳ Working on it…"
COMING_SOON = "Deal digests are coming soon to Slack. Until then: `closer digest --user you@company.com`."


def privacy_text(svc: SlackService, person: Person, mode: str, *, thread: str | None = None) -> str:
    """``private on|off|status`` for ``person``: change (unless status) and describe the result
    (typed in a thread that went private: that it stays private whatever the mode)."""
    text = _mode_text(svc, person, mode)
    if thread and mode != "on" and svc.assistant.state.thread_private(thread):
        text += f" {STAYS_PRIVATE}"
    return text


def _mode_text(svc: SlackService, person: Person, mode: str) -> str:
    a = svc.assistant
    decision = a.decide(person.who) if mode == "status" else a.set_privacy(person.who, mode == "on")
    if decision.private:
        where = (
            f"only to {svc.private_host}" if svc.private_host else "nowhere: no private endpoint is set up"
        )
        text = f"🔒 Private mode is on ({decision.reason}). Your requests go {where}."
        if mode == "off" and svc.settings.privacy_enforced:
            text += " The operator enforces it, so it stays on."
        return text
    return f"Standard mode ({decision.reason}). Add `--private` to any request to keep that one private."


def digest_message(svc: SlackService, person: Person) -> Message:
    """The digest hook: ``bot.slack.digest.slash_digest`` when that module is installed."""
    if not person.email:
        return notice("I need the email on your Slack profile to find your deals.")
    try:
        from bot.slack.digest import slash_digest
    except ImportError:  # the digest's Slack door is not installed: say so, in one line
        return notice(COMING_SOON)
    return slash_digest(svc.assistant, email=person.email, user_id=person.user_id, client=svc.client)


def run_command(
    svc: SlackService, cmd: Command, person: Person, target: Target, *, channel: str | None,
    thread: str | None = None,
) -> str:  # fmt: skip
    """Carry out a parsed command for ``person``; returns the outcome. Shared with direct messages
    (``thread``: the DM thread's key, see :class:`~bot.slack.service.Request`)."""
    if cmd.verb == "help":
        target.send([notice(help_text(svc.settings.slack_command))])
    elif cmd.verb == "private":
        target.send([notice(privacy_text(svc, person, cmd.arg, thread=thread))])
    elif cmd.verb == "digest":
        target.send([digest_message(svc, person)])
    else:
        req = Request(cmd.verb, cmd.arg, person, private=cmd.private, channel=channel,
                      surface="slack-command", thread=thread)  # fmt: skip
        draft = svc.draft(req)
        target.send(svc.present(draft, req, mode="ephemeral"))
        return "degraded" if draft.degraded else "ok"
    return "ok"


def register(app: AsyncApp, svc: SlackService) -> None:
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            cmd = parse(plain_text(str(body.get("text") or ""), bot_user_id=svc.bot_user_id))
        except InputError as exc:
            await ack(response_type="ephemeral", **notice(f"{exc}. Try `{svc.settings.slack_command} help`."))
            METRICS.requests.labels(surface="command", outcome="rejected").inc()
            return
        if cmd.verb == "help":
            await ack(response_type="ephemeral", **notice(help_text(svc.settings.slack_command)))
            METRICS.requests.labels(surface="command", outcome="ok").inc()
            return
        await ack(response_type="ephemeral", **notice(WORKING))
        target = ResponseUrl(str(body["response_url"]))

        def work() -> str:
            if not svc.dedup.first_command(str(body["trigger_id"])):
                return "duplicate"
            person = svc.directory.person(str(body["user_id"]))
            return run_command(svc, cmd, person, target, channel=body.get("channel_id"))

        svc.workers.spawn(svc.job("command", target, work))

    app.command(svc.settings.slack_command)(on_command)
