"""A thread's earlier turns, for follow-ups: kept from what Closer takes part in, read from Slack
only when it must be, and never a reason to fail an answer.

Slack limits ``conversations.replies`` to one call a minute (15 messages a page) for apps outside
its Marketplace — every self-hosted install. So:

- **Kept in memory.** When Closer answers in a thread on the standard route, the question and the
  answer are kept in this process's memory (:class:`RecentTurns`): at most ``MAX_TURNS`` per thread
  and ``MAX_THREADS`` threads, each forgotten ``SLACK_HISTORY_SECONDS`` after its last turn. Never a
  private turn: a thread that goes private is forgotten at once (and stays private, see
  :meth:`bot.assistant.Assistant.decide`). Nothing is written to disk, the database or the logs,
  in line with Slack's API terms (no persistent copies of message data).
- **Read from Slack otherwise** (after a restart, after the TTL, in a private thread): newest turns
  first — time windows walked back from the message being answered, each page followed by its cursor
  — so a long thread gives its latest turns, not its first 50. If Slack's copy shows a turn that went
  private (Closer's private answers say so in their buttons' values; a rep's ``--private``) in a
  thread the state database does not know as private (one older than that rule, or a database
  restored from a backup), the thread is made private before the request is decided.
- **Degrades, never fails.** Rate-limited (``ratelimited``) or refused, the answer is written from
  what is at hand (the turns kept in memory, or none), the user is told in one line, and a metric
  and a log line record it. The client used here never sleeps out a ``Retry-After``.

In a channel, Closer reads only what it takes part in (mentions of it and its answers): the
manifest asks for no channel history scope.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.drafting.history import Turn
from bot.observability import METRICS
from bot.slack.buttons import ButtonValue

log = logging.getLogger(__name__)

MAX_TURNS = 24  # per thread: more than the history token budget holds
MAX_THREADS = 1000
PAGE = 15  # Slack's page cap for non-Marketplace apps
MAX_CALLS = 4  # per fetch; beyond the first, Slack's 1/minute limit mostly refuses them anyway
WINDOWS = (3600.0, 86400.0, 30 * 86400.0)  # seconds back from the message, then the whole thread
HISTORY_UNREAD = ("I couldn't read this thread's earlier messages just now (Slack limits how often "
                  "apps may), so I answered your message on its own.")  # fmt: skip

PRIVATE_FLAG = "--private"
Source = Literal["new", "memory", "slack", "rate_limited", "unavailable"]


@dataclass(frozen=True)
class Said:
    """One message of a thread: its Slack timestamp and what it was, as a turn."""

    ts: str
    turn: Turn


@dataclass(frozen=True)
class History:
    """The turns before a message, and where they came from."""

    said: tuple[Said, ...]
    source: Source

    @property
    def turns(self) -> list[Turn]:
        return [s.turn for s in self.said]

    @property
    def unread(self) -> bool:
        """Slack would not give the thread just now: the answer was written without it."""
        return self.source in ("rate_limited", "unavailable")


def _after(a: str, b: str) -> bool:
    return float(a) > float(b)


def just_after(ts: str) -> str:
    """A timestamp for an answer to the message ``ts``: after it, before anything sent later."""
    return f"{float(ts) + 0.000001:.6f}"


class RecentTurns:
    """Recent standard-route turns of threads, in this process's memory only (bounded, with a TTL)."""

    def __init__(self, ttl: float, *, max_threads: int = MAX_THREADS, max_turns: int = MAX_TURNS,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._ttl = ttl
        self._max_threads = max_threads
        self._max_turns = max_turns
        self._clock = clock
        self._lock = threading.Lock()
        self._threads: OrderedDict[str, tuple[float, list[Said]]] = OrderedDict()

    def get(self, key: str) -> list[Said] | None:
        """The thread's kept turns (oldest first), or None if it is not known here (or expired)."""
        with self._lock:
            hit = self._threads.get(key)
            if hit is None:
                return None
            if hit[0] <= self._clock():
                del self._threads[key]
                return None
            return list(hit[1])

    def keep(self, key: str, said: Sequence[Said], *, start: bool = False) -> None:
        """Add turns to a thread known here. ``start``: this is the thread from its first message (or
        all of it that matters, freshly read from Slack), so a thread not known yet becomes known."""
        if self._ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            hit = self._threads.get(key)
            if hit is None or hit[0] <= now:
                if not start:
                    return  # a partial thread would pass for a whole one: read it from Slack next time
                turns: list[Said] = []
            else:
                turns = hit[1]
            seen = {s.ts for s in turns}
            turns.extend(s for s in said if s.ts not in seen)
            turns.sort(key=lambda s: float(s.ts))
            self._threads[key] = (now + self._ttl, turns[-self._max_turns :])
            self._threads.move_to_end(key)
            while len(self._threads) > self._max_threads:
                self._threads.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._threads.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._threads)


class RateLimited(Exception):
    pass


def _counted(history: History) -> History:
    METRICS.thread_history.labels(source=history.source).inc()
    return history


def _values(node: Any) -> Iterator[str]:
    """Every button ``value`` in a message's blocks (feedback buttons nest theirs)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "value" and isinstance(v, str):
                yield v
            else:
                yield from _values(v)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item)


def _went_private(message: dict[str, Any], turn: Turn) -> bool:
    """Does Slack's copy of this message show a turn that went the private route?"""
    if turn.role == "user":
        return PRIVATE_FLAG in turn.text.lower()  # a false alarm only makes the thread private
    for raw in _values(message.get("blocks")):
        try:
            if ButtonValue.decode(raw).private:
                return True
        except (ValueError, KeyError, TypeError):
            continue  # not one of Closer's buttons
    return False


def _turn_of(message: dict[str, Any], bot_user_id: str | None) -> Turn | None:
    text = str(message.get("text") or "").strip()
    if not text:
        return None
    mine = bool(message.get("bot_id")) or (bot_user_id is not None and message.get("user") == bot_user_id)
    return Turn("assistant" if mine else "user", text)


class ThreadHistory:
    """Where a follow-up's history comes from: :class:`RecentTurns`, else Slack (newest first)."""

    def __init__(self, client: WebClient, recent: RecentTurns, *, is_private: Callable[[str], bool],
                 mark_private: Callable[[str], None], max_turns: int = MAX_TURNS) -> None:  # fmt: skip
        self._client = client  # one that never waits out a rate limit (see bot.slack.clients)
        self.recent = recent
        self._is_private = is_private  # the state database's "this thread went private"
        self._mark_private = mark_private
        self._max_turns = max_turns

    def before(self, key: str, channel: str, thread_ts: str, ts: str, *, bot_user_id: str | None,
               fetch: bool = True) -> History:  # fmt: skip
        """The turns of the thread before the message ``ts``. ``fetch=False`` (channels, where Closer
        reads nothing it did not take part in): memory only, and an unknown thread starts here."""
        if self._is_private(key):
            self.recent.forget(key)  # its private turns are in Slack only
        else:
            kept = self.recent.get(key)
            if kept is not None:
                return _counted(History(tuple(s for s in kept if _after(ts, s.ts)), "memory"))
        if not fetch:
            return _counted(History((), "new"))
        try:
            said, went_private = self._fetch(channel, thread_ts, ts, bot_user_id)
        except RateLimited:
            log.warning("thread history rate-limited: answering without it")
            return _counted(History((), "rate_limited"))
        except (SlackApiError, SlackClientError, OSError) as exc:
            code = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("thread history unavailable: answering without it", extra={"slack_error": code})
            return _counted(History((), "unavailable"))
        if went_private:  # the request is decided after this: it goes private, as the thread did
            log.warning("a thread not known to be private shows a private turn: made private")
            self._mark_private(key)
        return _counted(History(tuple(said), "slack"))

    def answered(self, key: str, history: History | None, question: Said, answer: Said | None, *,
                 private: bool) -> None:  # fmt: skip
        """Keep a standard-route exchange (``history`` None: it started the thread); a private one
        makes the thread forgotten here — it is read from Slack from now on, never kept."""
        if private or self._is_private(key):  # the latter: another request made it private meanwhile
            self.recent.forget(key)
            return
        fetched = history.said if history is not None and history.source == "slack" else ()
        start = history is None or history.source in ("new", "slack")
        self.recent.keep(key, [*fetched, question, *([answer] if answer else [])], start=start)

    def _fetch(
        self, channel: str, thread_ts: str, before: str, bot_user_id: str | None
    ) -> tuple[list[Said], bool]:
        """Newest first: windows of time walked back from ``before`` to the thread's start, each read
        oldest-first page by page (that is how ``conversations.replies`` pages); stops once enough
        turns are in hand. On a rate limit mid-way, the windows already read (the newest) are kept."""
        root, upper, calls = float(thread_ts), float(before), 0
        newest: list[Said] = []
        went_private = False
        for span in (*WINDOWS, None):
            lower = root if span is None else max(root, float(before) - span)
            window: list[Said] = []
            cursor: str | None = None
            while True:
                if calls >= MAX_CALLS:
                    return newest, went_private  # the windows read so far are whole; this one is not
                calls += 1
                try:
                    resp = self._client.conversations_replies(
                        channel=channel, ts=thread_ts, oldest=f"{lower:.6f}", latest=before, inclusive=True,
                        limit=PAGE, cursor=cursor,
                    )  # fmt: skip
                except SlackApiError as exc:
                    if exc.response.status_code == 429 or exc.response.get("error") == "ratelimited":
                        if newest:
                            return newest, went_private
                        raise RateLimited from None
                    raise
                for m in resp.get("messages") or []:
                    at = str(m.get("ts") or "0")
                    turn = _turn_of(m, bot_user_id)
                    if turn is not None and lower <= float(at) < upper:
                        window.append(Said(at, turn))
                        went_private = went_private or _went_private(m, turn)
                cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "") or None
                if not (resp.get("has_more") and cursor):
                    break
            newest = (window + newest)[-self._max_turns :]
            if len(newest) >= self._max_turns or lower <= root:
                return newest, went_private
            upper = lower
        return newest, went_private
