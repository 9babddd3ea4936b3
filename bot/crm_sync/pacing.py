"""Keep under a CRM's per-second limit (HubSpot's search API allows a few calls a second)."""

from __future__ import annotations

import time


class Pacer:
    """At most ``per_second`` calls a second, by waiting before a call; 0 = no pacing."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval
