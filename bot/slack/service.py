"""What every Slack handler shares, the one way an answer is produced, and the error boundary.

:meth:`SlackService.job` wraps each piece of work a listener hands to the worker pool: a request id
on every log line, an outcome metric, and any failure turned into a short message in Slack (never a
traceback) plus a log line with the error type and the request id (never the message content).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.drafting.history import Turn
from bot.errors import CloserError, PrivacyError
from bot.observability import METRICS, request_scope
from bot.privacy.route import THREAD_STAYS_PRIVATE
from bot.slack.buttons import ButtonValue, Mode, answer_buttons, feedback_block
from bot.slack.clients import no_wait_client, web_client
from bot.slack.dedup import Deduper
from bot.slack.history import RecentTurns, ThreadHistory
from bot.slack.identity import Directory, Person
from bot.slack.memory import AnswerMemory, Remembered, SourceView
from bot.slack.render import Message, render_draft
from bot.slack.stream import AppendBudget, Streamer
from bot.slack.targets import DeliveryError, Ephemeral, Target, Thread, is_public, say
from bot.slack.workers import Workers

if TYPE_CHECKING:
    from bot.assistant import Assistant, Draft

log = logging.getLogger("bot.slack")
Action = Literal["ask", "reply", "followup"]
STAYS_PRIVATE = ("🔒 This thread went private earlier, so it stays private. "
                 "Start a new thread for a standard-route conversation.")  # fmt: skip
CHANNEL_FAILURE = "Sorry — I couldn't answer this one (ref {rid})."
SHORTER_HINT = "\n\n(Answer in at most three short sentences.)"
SNIPPET_CHARS = 280


@dataclass(frozen=True)
class Request:
    """One request for the core, as the Slack door understands it."""

    action: Action
    text: str
    person: Person
    private: bool = False
    channel: str | None = None
    history: Sequence[Turn] = ()
    public_only: bool = False
    surface: str = "slack"
    shorter: bool = False
    thread: str | None = None  # the conversation thread's key: once private, always private

    @property
    def docs_only(self) -> bool:
        return self.public_only or not self.person.known


@dataclass
class SlackService:
    settings: Settings
    assistant: Assistant
    client: WebClient
    directory: Directory
    dedup: Deduper
    memory: AnswerMemory
    workers: Workers
    history: ThreadHistory
    bot_user_id: str | None = None
    started: float = field(default_factory=time.monotonic)
    stream_budget: AppendBudget = field(default_factory=AppendBudget)

    @classmethod
    def build(
        cls, settings: Settings, assistant: Assistant, *, client: WebClient | None = None
    ) -> SlackService:
        token, url = settings.slack_bot_token or "", settings.slack_api_url
        web = client or web_client(token, url)
        return cls(
            settings=settings,
            assistant=assistant,
            client=web,
            directory=Directory(web, ttl=settings.slack_user_cache_seconds),
            dedup=Deduper(assistant.state, window=settings.slack_click_window_seconds),
            memory=AnswerMemory(settings.slack_memory_seconds),
            workers=Workers(settings.slack_worker_threads),
            history=ThreadHistory(
                no_wait_client(token, url),
                RecentTurns(settings.slack_history_seconds),
                is_private=assistant.state.thread_private,
                mark_private=assistant.state.mark_thread_private,
            ),
        )

    @property
    def private_host(self) -> str | None:
        private = self.assistant.router.private
        return private.endpoint.host if private else None

    def streamer(self, *, channel: str, thread_ts: str, user_id: str | None, team_id: str | None) -> Streamer:
        """A stream into a thread, sharing this process's ``chat.appendStream`` budget."""
        return Streamer(self.client, channel=channel, thread_ts=thread_ts, user_id=user_id, team_id=team_id,
                        budget=self.stream_budget)  # fmt: skip

    # --- the answer pipeline ----------------------------------------------------------------------------

    def draft(self, req: Request, *, on_text: Callable[[str], None] | None = None) -> Draft:
        a, who, private, channel, surface = (
            self.assistant,
            req.person.who,
            req.private,
            req.channel,
            req.surface,
        )
        text = req.text + SHORTER_HINT if req.shorter else req.text
        thread = req.thread
        if req.action == "followup":
            return a.followup(text, user=who, private=private, channel=channel, surface=surface,
                              thread=thread)  # fmt: skip
        if req.action == "reply":
            return a.reply(text, user=who, private=private, channel=channel, history=req.history,
                           surface=surface, on_text=on_text, thread=thread)  # fmt: skip
        return a.ask(text, user=who, private=private, channel=channel, history=req.history, surface=surface,
                     public_only=req.docs_only, on_text=on_text, thread=thread)  # fmt: skip

    def present(self, draft: Draft, req: Request, *, mode: Mode, notes: Sequence[str] = ()) -> list[Message]:
        """Remember what buttons need (process memory), then render with the buttons."""
        views = tuple(
            SourceView(c.number, c.source_type, c.source_id, c.title,
                       " ".join(draft.sources[c.number - 1].text.split())[:SNIPPET_CHARS])
            for c in draft.citations if 0 < c.number <= len(draft.sources)
        )  # fmt: skip
        self.memory.put(draft.request_id, Remembered(req.action, req.text, draft.text, views))
        value = ButtonValue(
            request_id=draft.request_id, action=req.action, mode=mode, asker=req.person.user_id,
            private=draft.decision.private, public_only=req.public_only, text=req.text,
            sources=tuple(f"{c.source_type}:{c.source_id}" for c in draft.citations),
        )  # fmt: skip
        # Why this person gets public sources only is for them alone: in a channel it goes ephemeral.
        personal = req.person.notice if mode != "channel" else None
        shown = [*notes] + ([personal] if personal else [])
        if draft.decision.reason == THREAD_STAYS_PRIVATE:
            shown.append(STAYS_PRIVATE)
        # In a DM (a streamed answer), 👍/👎 are Slack's own feedback buttons under the answer.
        dm = mode == "dm"
        buttons = answer_buttons(value, thumbs=not dm)
        closing = [feedback_block(value)] if dm else []
        return render_draft(draft, private_host=self.private_host, buttons=buttons, notes=shown,
                            closing=closing, public=mode == "channel")  # fmt: skip

    # --- the error boundary ---------------------------------------------------------------------------

    def job(
        self, surface: str, target: Target | None, work: Callable[[], str], *, asker: str | None = None
    ) -> Callable[[], None]:
        """A worker-thread job: ``work`` returns its outcome ("ok", "duplicate", …).

        A failure is told in a new message (never over an answer already delivered). Where others
        can read it (a channel thread), the message is generic and the details go to ``asker`` alone.
        Every notice is masked and escaped (:func:`bot.slack.render.notice`).
        """

        def run() -> None:
            started = time.perf_counter()
            with request_scope() as rid:
                outcome = "error"
                try:
                    outcome = work()
                except PrivacyError as exc:
                    outcome = "refused"
                    self._tell(target, f"🔒 {exc}", rid=rid, asker=asker)
                except CloserError as exc:
                    outcome = "rejected"
                    self._tell(target, str(exc), rid=rid, asker=asker)
                except (SlackApiError, SlackClientError, DeliveryError, OSError) as exc:
                    outcome = "slack_error"
                    log.error("Slack call failed", extra={"surface": surface, "error": type(exc).__name__,
                                                          "slack_error": _slack_code(exc)})  # fmt: skip
                    self._tell(
                        target, f"Sorry — I couldn't reach Slack properly. Please try again (ref {rid})."
                    )
                except Exception as exc:  # noqa: BLE001 - the outermost boundary: log, tell the user
                    log.error("request failed", extra={"surface": surface, "error": type(exc).__name__,
                                                       "stack": _frames(exc)})  # fmt: skip
                    self._tell(
                        target, f"Sorry — something went wrong on my side. Please try again (ref {rid})."
                    )
                finally:
                    METRICS.requests.labels(surface=surface, outcome=outcome).inc()
                    if outcome != "duplicate":
                        METRICS.answer_seconds.labels(surface=surface).observe(time.perf_counter() - started)
                    ms = round((time.perf_counter() - started) * 1000)
                    log.info("request handled", extra={"surface": surface, "outcome": outcome, "ms": ms})

        return run

    def _tell(
        self, target: Target | None, text: str, *, rid: str | None = None, asker: str | None = None
    ) -> None:
        """Say ``text`` at ``target``; with ``rid``, ``text`` is a detail that in a public thread
        goes only to ``asker`` (ephemeral), the thread getting a generic line."""
        if target is None:
            return
        try:
            if rid is not None and is_public(target):
                assert isinstance(target, Thread)
                say(target, CHANNEL_FAILURE.format(rid=rid))
                if asker:
                    say(Ephemeral(self.client, target.channel, asker, target.thread_ts), text)
            else:
                say(target, text)
        except Exception as exc:  # noqa: BLE001 - nothing more can be done; the log has it
            log.error("could not tell the user about a failure", extra={"error": type(exc).__name__})


def _slack_code(exc: Exception) -> str | None:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return None


def _frames(exc: BaseException) -> list[str]:
    """Where it failed (file, line, function), without the exception's message, which may quote input."""
    return [
        f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
    ]
