"""The pool that runs the (blocking) core off the event loop, so acks never wait behind answers.

Listeners ``await ack()`` first and then hand the answer to :meth:`Workers.spawn`, which starts a
task that runs it on a thread from a bounded pool (``SLACK_WORKER_THREADS``), and return: the
listener is done and Bolt answers Slack at once. (Bolt runs with ``process_before_response=True``
for that reason: its other mode polls every 10 ms for the ack.) The event loop only parses, verifies
and acks. On shutdown :meth:`Workers.drain` waits, bounded, for the work already acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.to_thread

from bot.observability import METRICS

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.draining = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def spawn(self, job: Callable[[], None]) -> None:
        """Run ``job`` on a worker thread, in the background; it must handle its own errors (the
        service's boundary does). Counted in flight from now until it ends."""
        self.background(self._run(job))

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a short coroutine (a quick Slack call) after the ack, counted like a job."""
        self._in_flight += 1
        METRICS.in_flight.inc()
        task = asyncio.get_running_loop().create_task(self._counted(work))
        self._tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _counted(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:  # the outermost boundary: work that escaped its own handling
            log.exception("background work failed outside its error handling")
        finally:
            self._in_flight -= 1
            METRICS.in_flight.dec()

    async def _run(self, job: Callable[[], None]) -> None:
        if self._limiter is None:  # created on the loop that uses it
            self._limiter = anyio.CapacityLimiter(self.threads)
        await anyio.to_thread.run_sync(job, limiter=self._limiter)

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for in-flight jobs; True if none is left."""
        self.draining = True
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._in_flight:
            log.warning("shutdown grace ended with work in flight", extra={"in_flight": self._in_flight})
        return self._in_flight == 0
