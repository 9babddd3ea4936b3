"""The digest use case: build a rep's digest for a day, and send it exactly once.

Sending is guarded by the state database: ``claim_digest(user, day)`` is won by one caller only —
across threads, restarts, replicas, the in-process scheduler and a CronJob — before anything is
posted; the winner marks it "sent" (and saves the stage snapshot the next ``stage_changed`` flags
compare with) or "failed", and a failed digest may be claimed again later that day. The delivery
itself is a callable handed in (the Slack door provides one); nothing here imports Slack.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

from bot.digest.flags import flags_of, totals, urgency
from bot.digest.model import Digest, DigestLine
from bot.digest.pipeline import Pipeline
from bot.digest.suggest import suggest
from bot.errors import CloserError
from bot.observability import METRICS

if TYPE_CHECKING:
    from bot.assistant import Assistant

log = logging.getLogger(__name__)
PIPELINE_MAX_AGE = 60.0  # seconds a scheduled run reuses the deals it read


class DeliveryError(CloserError):
    """A digest could not be delivered (Slack refused it or could not be reached)."""


Deliver = Callable[[Digest], None]
"""Posts one digest; raises :class:`DeliveryError` when it could not."""

Outcome = Literal["sent", "already_sent", "in_progress", "failed", "empty"]


@dataclass(frozen=True)
class SendResult:
    user: str
    day: date
    status: Outcome
    digest: Digest
    error: str = ""


class DigestService:
    """Built once per process from the assistant (knowledge base, LLM router, state store)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self.state = assistant.state

    def pipeline(self) -> Pipeline:
        return Pipeline.read(self.assistant.kb.store)

    def recipients(self, pipeline: Pipeline | None = None) -> list[str]:
        return (pipeline or self.pipeline()).recipients()

    # --- building -------------------------------------------------------------------------------------

    def build(
        self,
        user: str,
        day: date,
        *,
        pipeline: Pipeline | None = None,
        suggestions: bool = True,
        surface: str = "cli",
    ) -> Digest:
        """``user``'s digest for ``day``; suggestions (one LLM call) only when asked and enabled."""
        user = user.strip().lower()
        pipe = pipeline or self.pipeline()
        scope, deals = pipe.for_user(user)
        previous = self.state.last_snapshot(user, before=day)
        s = self.settings
        lines = []
        for deal in deals:
            last = pipe.last_note(deal.deal_id, on_or_before=day)
            before = previous.get(deal.deal_id)
            flags = flags_of(today=day, close_date=deal.close_date, last_note=last, stage=deal.stage,
                             previous_stage=before, closing_days=s.digest_closing_days,
                             stale_days=s.digest_stale_days)  # fmt: skip
            lines.append(
                DigestLine(
                    deal, flags,
                    days_to_close=(deal.close_date - day).days if deal.close_date else None,
                    last_note=last, days_since_note=(day - last).days if last else None,
                    previous_stage=before if "stage_changed" in flags else None,
                )
            )  # fmt: skip
        lines.sort(key=urgency)
        snoozes = self.state.snoozed_deals(user, day)
        shown = tuple(line for line in lines if line.deal.deal_id not in snoozes)
        digest = Digest(
            user, day, scope, shown,
            totals=totals(lines), snoozed=tuple(d.deal_id for d in deals if d.deal_id in snoozes),
            stages={d.deal_id: d.stage for d in deals},
        )  # fmt: skip
        if suggestions and s.digest_suggestions and digest.flagged:
            digest = self.with_suggestions(digest, surface=surface)
        return digest

    def with_suggestions(self, digest: Digest, *, surface: str = "cli") -> Digest:
        found = suggest(self.assistant, digest.user, digest.lines, digest.day, surface=surface)
        steps = found.steps
        lines = tuple(dataclasses.replace(x, suggestion=steps.get(x.deal.deal_id, "")) for x in digest.lines)
        return dataclasses.replace(digest, lines=lines, route=found.route, note=found.note)

    # --- sending --------------------------------------------------------------------------------------

    def send(
        self,
        user: str,
        day: date,
        deliver: Deliver,
        *,
        pipeline: Pipeline | None = None,
        on_demand: bool = False,
        surface: str = "cli",
    ) -> SendResult:
        """Send ``user``'s digest for ``day`` unless it was already sent (or is being sent).

        ``on_demand`` (``/sales digest``): the rep asked, so it is delivered even if today's
        scheduled digest already went out; when it is the first of the day it also counts as the
        scheduled one, which then is not sent again.
        """
        user = user.strip().lower()
        digest = self.build(user, day, pipeline=pipeline, suggestions=False, surface=surface)
        if not digest.lines:  # nothing to say (no open deals, or all snoozed): no message, no claim
            return SendResult(user, day, "empty", dataclasses.replace(digest, status="empty"))
        claimed = self.state.claim_digest(user, day)
        if not claimed and not on_demand:
            sent = self.state.digest_status(user, day) == "sent"
            status: Outcome = "already_sent" if sent else "in_progress"
            return SendResult(user, day, status, dataclasses.replace(digest, status=status))
        try:
            if self.settings.digest_suggestions and digest.flagged:
                digest = self.with_suggestions(digest, surface=surface)
            deliver(digest)
        except DeliveryError as exc:
            if claimed:
                self.state.mark_digest(user, day, "failed")
            METRICS.digests_sent.labels(outcome="failed").inc()
            log.warning("digest not delivered", extra={"user": user, "day": day.isoformat()})
            return SendResult(user, day, "failed", dataclasses.replace(digest, status="failed"), str(exc))
        except BaseException:
            if claimed:  # never leave a claim behind that would block today's retry
                self.state.mark_digest(user, day, "failed")
            raise
        if claimed:
            self.state.mark_digest(user, day, "sent")
        METRICS.digests_sent.labels(outcome="sent").inc()
        self.state.save_snapshot(user, day, digest.stages)
        return SendResult(user, day, "sent", dataclasses.replace(digest, status="sent"))

    def send_all(
        self, day: date, deliver: Deliver, *, users: Sequence[str] | None = None, surface: str = "cli"
    ) -> list[SendResult]:
        """Every recipient's digest (or ``users``'), each claimed and sent at most once."""
        pipe = self.pipeline()
        return [
            self.send(user, day, deliver, pipeline=pipe, surface=surface)
            for user in (users if users is not None else pipe.recipients())
        ]

    def deliverer(self, deliver: Deliver, *, surface: str = "scheduler") -> Callable[[str, date], None]:
        """``(email, day) -> None`` for the scheduler: send that rep's digest if not sent yet."""

        cache: list[tuple[float, Pipeline]] = []

        def run(email: str, day: date) -> None:
            # A scheduled run calls this once per rep of a time zone: read the store once per run.
            if not cache or time.monotonic() - cache[0][0] > PIPELINE_MAX_AGE:
                cache[:] = [(time.monotonic(), self.pipeline())]
            result = self.send(email, day, deliver, pipeline=cache[0][1], surface=surface)
            log.info("digest %s", result.status, extra={"user": result.user, "day": day.isoformat()})

        return run
