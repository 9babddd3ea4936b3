"""Direct messages and the assistant pane: suggested prompts, "is thinking…", a streamed answer.

Every DM is answered in its thread, and a follow-up in that thread is answered with the thread so
far as history (:mod:`bot.slack.history`: recent turns kept in memory, else read from Slack), without
mentioning the bot again.
Bolt's ``Assistant`` middleware takes threaded DMs (the pane's threads included); top-level DMs
come through the plain ``message`` listener and start a thread. The same command words as the
slash command work here too (``followup …``, ``private on`` …).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncAssistant
from slack_sdk.errors import SlackApiError

from bot.drafting.history import Turn
from bot.errors import InputError
from bot.slack.commands import run_command
from bot.slack.history import HISTORY_UNREAD, History, Said, just_after
from bot.slack.identity import Person
from bot.slack.inbound import ATTACHMENTS_NOT_READ, ONLY_ATTACHMENTS, from_a_person, has_files, plain_text
from bot.slack.parse import Command, parse
from bot.slack.render import notice
from bot.slack.service import Request, SlackService
from bot.slack.targets import Thread

log = logging.getLogger(__name__)
THINKING = "is thinking…"
GREETING = ("Hi! Ask me about your deals, accounts and our product docs — I answer from what *you* can see "
            "in the CRM, with sources. Type `help` for what else I can do.")  # fmt: skip
PROMPTS = [
    {"title": "Catch me up on an account", "message": "Catch me up on my biggest open deal"},
    {"title": "A pricing question", "message": "What discounts can we offer on a multi-year contract?"},
    {"title": "Private mode", "message": "private status"},
    {"title": "What can you do?", "message": "help"},
]
LOADING = ["Searching your CRM records…", "Reading the product docs…", "Checking the sources…"]
TITLE_CHARS = 80


def _status(svc: SlackService, channel: str, thread_ts: str, status: str) -> None:
    try:
        svc.client.assistant_threads_setStatus(
            channel_id=channel, thread_ts=thread_ts, status=status, loading_messages=LOADING
        )
    except SlackApiError as exc:  # a plain DM thread has no assistant status: carry on without it
        log.info("no thread status", extra={"slack_error": exc.response.get("error")})


def _title(svc: SlackService, channel: str, thread_ts: str, question: str) -> None:
    """Name the assistant thread after its first question (the pane's history lists it so)."""
    title = " ".join(question.split())
    title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"
    try:
        svc.client.assistant_threads_setTitle(channel_id=channel, thread_ts=thread_ts, title=title)
    except SlackApiError as exc:  # not an assistant thread: nothing to name
        log.info("no thread title", extra={"slack_error": exc.response.get("error")})


def answer_dm(svc: SlackService, event: dict[str, Any], event_id: str, team_id: str | None) -> str:
    if not svc.dedup.first_event(event_id):
        return "duplicate"
    channel, ts = str(event["channel"]), str(event["ts"])
    thread_ts = str(event.get("thread_ts") or ts)
    person = svc.directory.person(str(event["user"]))
    _status(svc, channel, thread_ts, THINKING)
    thread = Thread(svc.client, channel, thread_ts)
    text = plain_text(str(event.get("text") or ""), bot_user_id=svc.bot_user_id,
                      name_of=lambda uid: svc.directory.person(uid).name)  # fmt: skip
    if not text and has_files(event):
        thread.send([notice(ONLY_ATTACHMENTS)])
        return "rejected"
    try:
        cmd = parse(text)
    except InputError as exc:
        thread.send([notice(str(exc))])
        return "rejected"
    if cmd.verb not in ("ask", "reply"):
        return run_command(svc, cmd, person, thread, channel=channel, thread=thread.key)
    history = None  # a top-level DM starts its thread
    if event.get("thread_ts"):
        history = svc.history.before(thread.key, channel, thread_ts, ts, bot_user_id=svc.bot_user_id)
        if not history.unread and not any(turn.role == "user" for turn in history.turns):
            _title(svc, channel, thread_ts, cmd.arg)  # the first question of an assistant thread
    notes = [ATTACHMENTS_NOT_READ] if has_files(event) else []
    question = Said(ts, Turn("user", text))
    return _streamed(svc, cmd, person, history, question, thread, team_id or person.team_id, notes)


def _streamed(svc: SlackService, cmd: Command, person: Person, history: History | None, question: Said,
              thread: Thread, team_id: str | None, notes: list[str]) -> str:  # fmt: skip
    assert cmd.verb in ("ask", "reply")
    channel, thread_ts = thread.channel, thread.thread_ts
    turns = history.turns if history else []
    req = Request(cmd.verb, cmd.arg, person, private=cmd.private, channel=channel, history=turns,
                  surface="slack-dm", thread=thread.key)  # fmt: skip
    streamer = svc.streamer(channel=channel, thread_ts=thread_ts, user_id=person.user_id, team_id=team_id)
    try:
        draft = svc.draft(req, on_text=streamer)
    except Exception:
        if streamer.ts:  # leave no half answer behind; the boundary posts what went wrong
            streamer.finish([notice("(stopped — see below)")])
        raise
    # Kept before it is shown: a reply to what the user sees always finds it.
    answer = Said(just_after(question.ts), Turn("assistant", draft.text))
    svc.history.answered(thread.key, history, question, answer, private=draft.decision.private)
    notes = [*notes, HISTORY_UNREAD] if history and history.unread else notes
    streamer.finish(svc.present(draft, req, mode="dm", notes=notes))
    return "degraded" if draft.degraded else "ok"


def greet(svc: SlackService, event: dict[str, Any]) -> str:
    thread = event["assistant_thread"]
    channel, thread_ts = str(thread["channel_id"]), str(thread["thread_ts"])
    svc.client.assistant_threads_setSuggestedPrompts(channel_id=channel, thread_ts=thread_ts, prompts=PROMPTS)
    svc.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=GREETING)
    svc.history.recent.keep(Thread(svc.client, channel, thread_ts).key, [], start=True)  # nothing to read yet
    return "ok"


def register(app: AsyncApp, svc: SlackService) -> None:
    assistant = AsyncAssistant()

    async def on_thread_started(body: dict[str, Any]) -> None:
        event = body["event"]
        where = Thread(
            svc.client, event["assistant_thread"]["channel_id"], event["assistant_thread"]["thread_ts"]
        )

        def work() -> str:
            return greet(svc, event) if svc.dedup.first_event(str(body["event_id"])) else "duplicate"

        svc.workers.spawn(svc.job("assistant", where, work))

    async def on_dm(body: dict[str, Any]) -> None:
        event = body["event"]
        if not from_a_person(event, bot_user_id=svc.bot_user_id):
            return  # edits, joins, bots and our own messages: nothing to answer
        where = Thread(svc.client, str(event["channel"]), str(event.get("thread_ts") or event["ts"]))
        job = svc.job("dm", where, lambda: answer_dm(svc, event, str(body["event_id"]), body.get("team_id")))
        svc.workers.spawn(job)

    async def on_message(body: dict[str, Any]) -> None:
        if body["event"].get("channel_type") == "im":
            await on_dm(body)

    async def on_context_changed() -> None:
        """Closer does not use the pane's context (the channel being viewed): no calls to save it."""

    assistant.thread_started(on_thread_started)
    assistant.thread_context_changed(on_context_changed)
    assistant.user_message(on_dm)
    app.use(assistant)
    app.event("message")(on_message)
