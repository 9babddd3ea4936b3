"""Exactly once: Slack redeliveries and double clicks produce one answer.

Claims are rows in the state database (:meth:`StateStore.claim_event`), so they hold across
restarts and replicas. Keys:

- events: ``event_id`` — the same on every redelivery (never the retry header: a redelivery of an
  event nobody processed must still run);
- slash commands: ``trigger_id``;
- buttons: (user, message ts, action id) within a short window. A click claims its time bucket and
  reserves the next one, so two clicks closer than the window count once even across a bucket edge.
"""

from __future__ import annotations

from bot.observability import METRICS
from bot.state.store import StateStore


def click_keys(user: str, message_ts: str, action_id: str, *, at: float, window: float) -> tuple[str, str]:
    bucket = int(at // window)
    base = f"btn:{user}:{message_ts}:{action_id}"
    return f"{base}:{bucket}", f"{base}:{bucket + 1}"


class Deduper:
    def __init__(self, state: StateStore, *, window: float) -> None:
        self._state = state
        self._window = window

    def _first(self, key: str, kind: str) -> bool:
        if self._state.claim_event(key[:255]):
            return True
        METRICS.deduplicated.labels(kind=kind).inc()
        return False

    def first_event(self, event_id: str) -> bool:
        return self._first(f"ev:{event_id}", "event")

    def first_command(self, trigger_id: str) -> bool:
        return self._first(f"cmd:{trigger_id}", "command")

    def first_click(self, user: str, message_ts: str, action_id: str, *, at: float) -> bool:
        own, following = click_keys(user, message_ts, action_id, at=at, window=self._window)
        if not self._first(own, "click"):
            return False
        self._state.claim_event(following)  # taken already by nobody, or by a click in that bucket
        return True
