"""Mentions in a channel: answered in the thread, from product docs and public records only.

Everyone in the channel can read the reply, so the core is asked with ``public_only=True`` whoever
asks. When the asker's own search (as they would see the CRM) ranks records the public answer could
not use, they alone are told (ephemeral) and offered the same question answered privately. A
mention in a thread has the thread's earlier mentions and answers as history
(:mod:`bot.slack.history`; Closer reads no channel history it did not take part in).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.assistant import ASK_SOURCES
from bot.drafting.history import Turn
from bot.slack.buttons import ButtonValue, offer_button
from bot.slack.history import Said, just_after
from bot.slack.identity import Person
from bot.slack.inbound import from_a_person, plain_text
from bot.slack.render import Message, notice
from bot.slack.service import Request, SlackService
from bot.slack.targets import Ephemeral, Thread

log = logging.getLogger(__name__)
PUBLIC_NOTE = "Answered from product docs and public records only, because everyone here can read it."
PLACEHOLDER = "🔎 Looking into it…"
MORE_PRIVATELY = ("Your own CRM records may say more about this; I kept them out of this public reply. "
                  "Want an answer only you can see?")  # fmt: skip
TOP_OWN_HITS = 3


def question_of(svc: SlackService, text: str) -> str:
    """The question as the user wrote it: our own mention dropped, other people's as their names."""
    return plain_text(text, bot_user_id=svc.bot_user_id, name_of=lambda uid: svc.directory.person(uid).name)


def has_more_privately(svc: SlackService, question: str, person: Person, public: set[tuple[str, str]],
                       *, private: bool) -> bool:  # fmt: skip
    """Would the asker's own search put records the public answer could not use near the top?"""
    if not person.email:
        return False
    a = svc.assistant
    embedder = a.router.query_embedder(a.decide(person.email, requested=private), a.kb.embedder)
    mine = a.kb.search(question, viewer=a.kb.viewer(person.email), k=ASK_SOURCES, embedder=embedder)
    return any((h.source_type, h.source_id) not in public for h in mine[:TOP_OWN_HITS])


def answer_mention(svc: SlackService, event: dict[str, Any], event_id: str, thread: Thread) -> str:
    if not svc.dedup.first_event(event_id):
        return "duplicate"
    channel, user = str(event["channel"]), str(event["user"])
    question = question_of(svc, str(event.get("text") or ""))
    if not question:  # for the asker alone (issue 10.7): nothing to show the channel
        hint = f"Ask me a question after the mention, or try `{svc.settings.slack_command} help`."
        _aside(Ephemeral(svc.client, channel, user, event.get("thread_ts")), notice(hint))
        return "rejected"
    person = svc.directory.person(user)
    thread.placeholder(PLACEHOLDER)
    ts, history = str(event["ts"]), None  # a mention outside a thread starts one
    if event.get("thread_ts"):  # what Closer took part in there (it reads no channel history)
        history = svc.history.before(thread.key, channel, thread.thread_ts, ts, bot_user_id=svc.bot_user_id,
                                     fetch=False)  # fmt: skip
    req = Request("ask", question, person, channel=channel, public_only=True, surface="slack-mention",
                  history=history.turns if history else (), thread=thread.key)  # fmt: skip
    draft = svc.draft(req)
    answer = Said(just_after(ts), Turn("assistant", draft.text))
    svc.history.answered(thread.key, history, Said(ts, Turn("user", question)), answer,
                         private=draft.decision.private)  # fmt: skip
    thread.send(svc.present(draft, req, mode="channel", notes=[PUBLIC_NOTE]))
    if draft.degraded:  # the thread was told "degraded"; why (an endpoint's error) is for the asker only
        _aside(Ephemeral(svc.client, channel, user, thread.thread_ts), notice(f"⚠ Why: {draft.note}"))
    if person.notice:  # why they get public sources only: for them, not the channel
        _aside(Ephemeral(svc.client, channel, user, thread.thread_ts), notice(person.notice))
    public = {(h.source_type, h.source_id) for h in draft.sources}
    if has_more_privately(svc, question, person, public, private=draft.decision.private):
        offer = ButtonValue(draft.request_id, "ask", "channel", user, private=draft.decision.private,
                            public_only=True, text=question)  # fmt: skip
        actions = {"type": "actions", "elements": [offer_button(offer)]}
        _aside(
            Ephemeral(svc.client, channel, user, thread.thread_ts), notice(MORE_PRIVATELY, extra=[actions])
        )
    return "degraded" if draft.degraded else "ok"


def _aside(target: Ephemeral, message: Message) -> None:
    """An extra for the asker after the answer is delivered: a failure is only logged."""
    try:
        target.send([message])
    except (SlackApiError, SlackClientError) as exc:
        code = str(exc.response.get("error")) if isinstance(exc, SlackApiError) else None
        log.warning("could not send the asker a note", extra={"slack_error": code})


def register(app: AsyncApp, svc: SlackService) -> None:
    async def on_mention(body: dict[str, Any]) -> None:
        event = body["event"]
        if not from_a_person(event, bot_user_id=svc.bot_user_id):
            return
        thread = Thread(svc.client, str(event["channel"]), str(event.get("thread_ts") or event["ts"]))
        job = svc.job("mention", thread, lambda: answer_mention(svc, event, str(body["event_id"]), thread),
                      asker=str(event["user"]))  # fmt: skip
        svc.workers.spawn(job)

    app.event("app_mention")(on_mention)
