"""The use cases — ask, reply, follow-up, privacy — shared by the CLI and the Slack app.

Each request: decide the route once; retrieve what the user may see (the question embedded on the
route's side when embeddings are remote); draft through the route's endpoint only; keep only
citations to retrieved sources; flag claims no cited source supports; write a content-free audit
row. No Slack imports here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.config import Settings
from bot.drafting.claims import Claim, check_claims
from bot.drafting.history import Turn, render_history
from bot.drafting.sources import Citation, as_data, cited_text, framed, keep_valid_citations, render_sources
from bot.errors import EmbedderError, LLMRejectedError, LLMUnavailableError, PrivacyError
from bot.identity.viewer import PUBLIC_ONLY
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.feedback import FeedbackSource
from bot.knowledge.rewrite import rewrite_question
from bot.knowledge.search import Hit
from bot.llm.client import Completion, LLMClient, Usage
from bot.llm.prompts import DEFAULT_DIR, load_prompt
from bot.llm.router import LLMRouter
from bot.observability import request_scope
from bot.privacy.audit import audit_row
from bot.privacy.redact import Masker
from bot.privacy.route import RouteDecision, decide_route
from bot.state.rows import Outcome
from bot.state.store import StateStore

log = logging.getLogger(__name__)
Action = Literal["ask", "reply", "followup"]
ASK_SOURCES = 8
FEEDBACK_ROWS = 5000  # the latest ratings the ranking prior is built from


class FollowupDraft(BaseModel):
    """The structured reply asked of the model for a follow-up email."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(max_length=120)
    body: str = Field(max_length=2400)
    next_steps: list[str] = Field(max_length=4)


@dataclass
class Draft:
    text: str
    citations: list[Citation]
    decision: RouteDecision
    request_id: str
    unverified: list[Claim] = field(default_factory=list)
    note: str = ""
    subject: str = ""
    next_steps: list[str] = field(default_factory=list)
    sources: list[Hit] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)  # the LLM's share: model, tokens, latency

    @property
    def degraded(self) -> bool:
        return bool(self.note)

    def as_json(self, action: Action) -> dict[str, object]:
        out: dict[str, object] = {
            "text": self.text,
            "citations": [c.as_json() for c in self.citations],
            "route": self.decision.route,
            "route_reason": self.decision.reason,
            "unverified": [c.text for c in self.unverified],
            "request_id": self.request_id,
        }
        if self.note:
            out["note"] = self.note
        if action == "followup":
            out["subject"] = self.subject
            out["next_steps"] = self.next_steps
        return out


class Assistant:
    def __init__(
        self,
        settings: Settings,
        kb: KnowledgeBase,
        router: LLMRouter,
        state: StateStore,
        *,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.settings = settings
        self.kb = kb
        self.router = router
        self.state = state
        self._today = today
        # The org's 👍/👎 on cited sources nudge the ranking (bounded; bot/knowledge/feedback.py).
        self.kb.searcher.feedback = FeedbackSource(lambda: state.feedback_rows(FEEDBACK_ROWS))
        self._prompts = settings.prompts_dir or DEFAULT_DIR

    # --- privacy ------------------------------------------------------------------------------------

    def decide(
        self, email: str, *, requested: bool = False, channel: str | None = None, thread: str | None = None
    ) -> RouteDecision:
        """The route for ``email``'s request; ``thread`` is the conversation thread's key, if any."""
        s = self.settings
        return decide_route(
            enforced=s.privacy_enforced,
            default=s.privacy_default,
            requested=requested,
            thread_private=bool(thread) and self.state.thread_private(thread or ""),
            user_pref=self.state.user_private(email),
            channel_pref=self.state.channel_private(channel) if channel else None,
        )

    def set_privacy(self, email: str, on: bool) -> RouteDecision:
        self.state.set_user_private(email, on)
        return self.decide(email)

    # --- use cases ----------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        user: str,
        private: bool = False,
        channel: str | None = None,
        history: Sequence[Turn] = (),
        surface: str = "cli",
        public_only: bool = False,
        on_text: Callable[[str], None] | None = None,
        thread: str | None = None,
    ) -> Draft:
        """A grounded answer. ``public_only`` (channel replies others can read) limits sources to
        docs and public records whoever asks. With ``on_text`` the answer is streamed to it as it is
        written; the returned draft is the checked final text (citations cleaned, claims flagged).
        ``thread`` keys the conversation the request belongs to (see :meth:`_request`)."""
        return self._run(
            "ask",
            user,
            private,
            channel,
            surface,
            thread,
            lambda d, rid: self._answer(
                "ask",
                question,
                user=user,
                decision=d,
                request_id=rid,
                history=history,
                public_only=public_only,
                on_text=on_text,
            ),
        )

    def reply(
        self,
        message: str,
        *,
        user: str,
        private: bool = False,
        channel: str | None = None,
        history: Sequence[Turn] = (),
        surface: str = "cli",
        on_text: Callable[[str], None] | None = None,
        thread: str | None = None,
    ) -> Draft:
        """A draft reply to a customer's message (streamed to ``on_text`` when given)."""
        return self._run(
            "reply",
            user,
            private,
            channel,
            surface,
            thread,
            lambda d, rid: self._answer(
                "reply", message, user=user, decision=d, request_id=rid, history=history, on_text=on_text
            ),
        )

    def followup(
        self,
        deal: str,
        *,
        user: str,
        private: bool = False,
        channel: str | None = None,
        surface: str = "cli",
        thread: str | None = None,
    ) -> Draft:
        return self._run(
            "followup",
            user,
            private,
            channel,
            surface,
            thread,
            lambda d, rid: self._followup(deal, user=user, decision=d, request_id=rid),
        )

    # --- the request pipeline ---------------------------------------------------------------------------

    def _run(
        self,
        action: Action,
        user: str,
        private: bool,
        channel: str | None,
        surface: str,
        thread: str | None,
        work: Callable[[RouteDecision, str], tuple[Draft, Usage, LLMClient | None]],
    ) -> Draft:
        # One id for the request's log lines, its audit row and its draft (a Slack request's own).
        with request_scope() as request_id:
            return self._request(request_id, action, user, private, channel, surface, thread, work)

    def _request(
        self,
        request_id: str,
        action: Action,
        user: str,
        private: bool,
        channel: str | None,
        surface: str,
        thread: str | None,
        work: Callable[[RouteDecision, str], tuple[Draft, Usage, LLMClient | None]],
    ) -> Draft:
        started = time.perf_counter()
        decision = self.decide(user, requested=private, channel=channel, thread=thread)
        usage, client, detail = Usage(), None, None
        outcome: Outcome = "ok"
        try:
            if decision.private and thread:
                # Before any work: the thread now holds a private turn (at least its question), so
                # every later request in it — on any replica, even one sent before this answer is
                # done — goes private too, and its history never reaches the standard endpoint.
                self.state.mark_thread_private(thread)
            draft, usage, client = work(decision, request_id)
            draft.usage = usage
            outcome = "degraded" if draft.degraded else "ok"
            return draft
        except PrivacyError as exc:
            outcome, detail = "refused", type(exc).__name__
            raise
        except Exception as exc:
            outcome, detail = "error", type(exc).__name__
            raise
        finally:
            # A refusal or error before the work picked a client still names the route's endpoint.
            chosen = client or (self.router.private if decision.private else self.router.standard)
            self.state.record_audit(
                audit_row(
                    request_id=request_id,
                    user=user,
                    surface=surface,
                    action=action,
                    decision=decision,
                    outcome=outcome,
                    client=chosen,
                    usage=usage,
                    started=started,
                    detail=detail,
                )
            )
            # Never the question, the sources or the answer: ids, route and numbers only.
            log.info(
                "request done",
                extra={
                    "request_id": request_id,
                    "action": action,
                    "route": decision.route,
                    "outcome": outcome,
                },
            )

    def _retrieve(
        self,
        query: str,
        *,
        user: str,
        decision: RouteDecision,
        k: int,
        public_only: bool = False,
        client: LLMClient | None = None,
    ) -> tuple[list[Hit], Usage]:
        """The sources for ``query``; with ``client`` and SEARCH_QUERY_REWRITE on, the route's own LLM
        paraphrases the question first (bot/knowledge/rewrite.py). Returns what the rewrite cost."""
        embedder = self.router.query_embedder(decision, self.kb.embedder)
        viewer = PUBLIC_ONLY if public_only else self.kb.viewer(user)
        rewrites: list[str] = []
        usage = Usage()
        if client is not None and self.settings.search_query_rewrite:
            rewrites, usage = rewrite_question(client, query, self._masker(decision))
        try:
            return self.kb.search(query, viewer=viewer, k=k, embedder=embedder, rewrites=rewrites), usage
        except EmbedderError as exc:
            if decision.private:
                raise PrivacyError(
                    f"the private endpoint could not embed the question ({exc}); "
                    "nothing was sent to the standard endpoint"
                ) from None
            raise

    def _answer(
        self,
        action: Action,
        text: str,
        *,
        user: str,
        decision: RouteDecision,
        request_id: str,
        history: Sequence[Turn],
        public_only: bool = False,
        on_text: Callable[[str], None] | None = None,
    ) -> tuple[Draft, Usage, LLMClient | None]:
        client = self.router.client(decision)
        hits, rewrite_usage = self._retrieve(
            text, user=user, decision=decision, k=ASK_SOURCES, public_only=public_only, client=client
        )
        prompt = load_prompt(action, self._prompts)
        values = {
            "sources": render_sources(hits),
            "history": framed(
                "conversation", render_history(history, limit=self.settings.history_token_limit)
            ),
            "today": self._today().isoformat(),
            "question" if action == "ask" else "message": text
            if action == "ask"
            else framed("customer_message", text),
        }
        if client is None:
            return (
                self._degraded(
                    hits,
                    decision,
                    request_id,
                    "no language model is configured (set LLM_API_KEY, or LLM_BASE_URL for a local server)",
                ),
                Usage(),
                None,
            )
        masker = self._masker(decision)
        messages = [{**m, "content": masker.mask(m["content"])} for m in prompt.messages(**values)]
        try:
            if on_text is None:
                done = client.complete(messages)
            else:
                done = Completion("", Usage())
                for piece in client.complete_stream(messages, usage=done.usage):
                    done.text += piece
                    on_text(masker.unmask(piece))
        except LLMUnavailableError as exc:
            return self._unavailable(exc, hits, decision, request_id, client)
        done.usage.add(rewrite_usage)  # the audit row's tokens and latency include the rewrite's
        answer, citations = keep_valid_citations(masker.unmask(done.text), hits)
        unverified = [c for c in check_claims(answer, cited_text(citations, hits)) if not c.verified]
        return Draft(answer, citations, decision, request_id, unverified, sources=hits), done.usage, client

    def _followup(
        self, deal: str, *, user: str, decision: RouteDecision, request_id: str
    ) -> tuple[Draft, Usage, LLMClient | None]:
        client = self.router.client(decision)
        viewer = self.kb.viewer(user)
        context = self.kb.deal_context(deal, viewer=viewer)
        head = context[0]
        docs = [
            h
            for h in self._retrieve(head.text, user=user, decision=decision, k=12)[0]
            if h.source_type == "doc"
        ]
        hits = context + docs[:3]
        if client is None:
            draft = self._degraded(
                hits,
                decision,
                request_id,
                "no language model is configured (set LLM_API_KEY, or LLM_BASE_URL for a local server)",
            )
            draft.subject = f"Following up: {head.title}"
            return draft, Usage(), None
        prompt = load_prompt("followup", self._prompts)
        masker = self._masker(decision)
        values = {
            "deal": as_data(f"{head.title} ({head.source_id})"),
            "sources": render_sources(hits),
            "today": self._today().isoformat(),
        }
        messages = [{**m, "content": masker.mask(m["content"])} for m in prompt.messages(**values)]
        try:
            try:
                parsed, usage = client.complete_model(messages, FollowupDraft)
                subject, body, steps = parsed.subject, parsed.body, parsed.next_steps
            except LLMRejectedError:
                # Structured output failed twice: fall back to a plain-text draft.
                done = client.complete(messages)
                usage, subject, body, steps = done.usage, f"Following up: {head.title}", done.text, []
        except LLMUnavailableError as exc:
            draft, usage, _ = self._unavailable(exc, hits, decision, request_id, client)
            draft.subject = f"Following up: {head.title}"
            return draft, usage, client
        body, citations = keep_valid_citations(masker.unmask(body), hits)
        subject, steps = masker.unmask(subject), [masker.unmask(s) for s in steps]
        checked = "\n".join([subject, body, *steps])
        unverified = [c for c in check_claims(checked, cited_text(citations, hits)) if not c.verified]
        draft = Draft(
            body, citations, decision, request_id, unverified, subject=subject, next_steps=steps, sources=hits
        )
        return draft, usage, client

    # --- helpers -------------------------------------------------------------------------------------

    def _masker(self, decision: RouteDecision) -> Masker:
        return Masker(enabled=self.settings.pii_masking and not decision.private)

    def _unavailable(
        self,
        exc: LLMUnavailableError,
        hits: list[Hit],
        decision: RouteDecision,
        request_id: str,
        client: LLMClient,
    ) -> tuple[Draft, Usage, LLMClient | None]:
        if decision.private:
            raise PrivacyError(f"{exc}; nothing was sent to the standard endpoint") from None
        return self._degraded(hits, decision, request_id, str(exc)), Usage(), client

    @staticmethod
    def _degraded(hits: list[Hit], decision: RouteDecision, request_id: str, why: str) -> Draft:
        top = hits[:5]
        lines = [f"I couldn't draft an answer: {why}. These are the most relevant sources:"]
        for n, hit in enumerate(top, start=1):
            body = " ".join(hit.text.split("\n", 1)[-1].split())
            lines.append(f"[{n}] {hit.title}: {body[:220]}{'…' if len(body) > 220 else ''}")
        citations = [Citation(n, h.source_id, h.source_type, h.title) for n, h in enumerate(top, start=1)]
        return Draft("\n".join(lines), citations, decision, request_id, note=why, sources=hits)
