"""What buttons need to act on an answer, kept in this process's memory only, for a short time.

Button values travel through Slack, so they carry ids only (and the question of a standard-route
answer). Everything else — a private answer's question, the answer text for "turn into an email",
the source snippets of the "sources" view — lives here for ``SLACK_MEMORY_SECONDS`` and is never
written to the database or the logs. After a restart or the TTL, a button on a private answer asks
the user to ask again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_ITEMS = 5000


@dataclass(frozen=True)
class SourceView:
    number: int
    source_type: str
    source_id: str
    title: str
    snippet: str


@dataclass(frozen=True)
class Remembered:
    action: str
    text: str
    answer: str
    sources: tuple[SourceView, ...]


class AnswerMemory:
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, Remembered]] = OrderedDict()

    def put(self, request_id: str, item: Remembered) -> None:
        if self._ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            self._items[request_id] = (now + self._ttl, item)
            self._items.move_to_end(request_id)
            while self._items and (
                len(self._items) > MAX_ITEMS or next(iter(self._items.values()))[0] <= now
            ):
                self._items.popitem(last=False)

    def get(self, request_id: str) -> Remembered | None:
        with self._lock:
            hit = self._items.get(request_id)
        if hit is None or hit[0] <= self._clock():
            return None
        return hit[1]
