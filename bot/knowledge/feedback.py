"""Learning from 👍/👎: the org's ratings of answers become a small, bounded prior per source.

A feedback row holds who rated, +1 or -1, and the ``"type:id"`` of the sources the answer cited —
never the question or the answer. Summed over the whole org (not per user), with older votes fading
(half-life ``half_life_days``), each source gets a prior in (-1, 1):

    prior = (up - down) / (up + down + smoothing)

so one vote moves it at most ±1/3 and it takes several agreeing votes to approach ±1. At search time
a candidate gains ``weight × prior`` (the fused scores are in [0, 1], so the default 0.1 can reorder
near-ties but never lifts an unrelated record over a clear match). Only candidates — rows the viewer
may read that the question already found — are touched: feedback never brings a record in. Nothing is
stored beyond the feedback rows themselves; the prior lives in memory and is rebuilt from them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from bot.knowledge.index import SearchIndex
from bot.state.rows import FeedbackRow


class FeedbackPrior:
    def __init__(self, prior: Mapping[str, float] | None = None) -> None:
        self._prior = dict(prior or {})

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[FeedbackRow],
        *,
        now: datetime | None = None,
        half_life_days: float = 60.0,
        smoothing: float = 2.0,
    ) -> FeedbackPrior:
        now = now or datetime.now(UTC)
        up: dict[str, float] = {}
        down: dict[str, float] = {}
        for row in rows:
            age_days = max(0.0, (now - row.at).total_seconds() / 86400)
            weight = 0.5 ** (age_days / half_life_days)
            votes = up if row.rating > 0 else down
            for key in set(row.sources):
                votes[key] = votes.get(key, 0.0) + weight
        keys = set(up) | set(down)
        return cls({k: (up.get(k, 0.0) - down.get(k, 0.0)) / (up.get(k, 0.0) + down.get(k, 0.0) + smoothing)
                    for k in keys})  # fmt: skip

    def __len__(self) -> int:
        return len(self._prior)

    def of(self, source_key: str) -> float:
        return self._prior.get(source_key, 0.0)

    def apply(self, index: SearchIndex, fused: dict[int, float], weight: float) -> None:
        """Nudge each candidate by ``weight × prior`` of its source."""
        if not self._prior or weight <= 0:
            return
        for row in fused:
            prior = self._prior.get(index.source_key(row))
            if prior:
                fused[row] += weight * prior


class FeedbackSource:
    """The current prior, rebuilt from ``load()`` (the state store's rows) at most every ``refresh``
    seconds, so a search never waits on the database more than once a minute."""

    def __init__(self, load: Callable[[], Iterable[FeedbackRow]], *, refresh: float = 60.0) -> None:
        self._load = load
        self._refresh = refresh
        self._lock = threading.Lock()
        self._prior = FeedbackPrior()
        self._loaded_at: float | None = None

    def __call__(self) -> FeedbackPrior:
        with self._lock:
            now = time.monotonic()
            if self._loaded_at is None or now - self._loaded_at >= self._refresh:
                self._loaded_at = now
                self._prior = FeedbackPrior.from_rows(self._load())
            return self._prior
