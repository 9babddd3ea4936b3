"""The pool that runs the (blocking) core off the event loop, so acks never wait behind answers.

Listeners ``await ack()`` first and then hand the answer to :meth:`Workers.run`, which runs it on a
thread from a bounded pool (``SLACK_WORKER_THREADS``). The event loop only parses, verifies and
acks. On shutdown :meth:`Workers.drain` waits, bounded, for the work already acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from bot.observability import METRICS

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._in_flight = 0
        self.draining = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, job: Callable[[], None]) -> None:
        """Run ``job`` on a worker thread; it must handle its own errors (the service's boundary does)."""
        if self._limiter is None:  # created on the loop that uses it
            self._limiter = anyio.CapacityLimiter(self.threads)
        self._in_flight += 1
        METRICS.in_flight.inc()
        try:
            await anyio.to_thread.run_sync(job, limiter=self._limiter)
        except Exception:  # the outermost boundary: a job that escaped its own handling
            log.exception("a worker job failed outside its error handling")
        finally:
            self._in_flight -= 1
            METRICS.in_flight.dec()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for in-flight jobs; True if none is left."""
        self.draining = True
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._in_flight:
            log.warning("shutdown grace ended with work in flight", extra={"in_flight": self._in_flight})
        return self._in_flight == 0
