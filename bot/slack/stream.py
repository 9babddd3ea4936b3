"""Stream an answer into a thread as the model writes it, then swap in the checked final answer.

``chat.startStream`` goes out with the first piece of text (the user sees words as soon as the model
has any), then ``chat.appendStream`` with what has gathered since — at most once every
``interval`` seconds per stream, and only while the process-wide :class:`AppendBudget` (Slack
allows ``chat.appendStream`` about 100 calls a minute per workspace) has calls left; otherwise
the text keeps gathering. Past ``max_chars`` the stream stops growing (Slack cuts messages at 40k
characters); the whole answer is posted at the end anyway. ``chat.stopStream`` ends it.

Streamed text goes through the same sanitiser as the final message
(:func:`bot.slack.sanitize.clean`: secrets masked, no pings, honest links). Text is sent only up to
a point where cleaning cannot change with what comes next: never inside an unfinished
``<…>``/``[…](…)`` form, and never within the last few words (a ``Bearer`` and its token arrive in
separate pieces).

The streamed text is the model's raw text; the core then removes citations to sources that were
never retrieved and flags unsupported claims, so the message is finally replaced (``chat.update``)
by the rendered, checked answer with its sources and buttons. A streaming failure never loses the
answer: the streamer goes quiet and :meth:`Streamer.finish` posts it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.render import Message
from bot.slack.sanitize import clean
from bot.slack.targets import Thread

log = logging.getLogger(__name__)
APPENDS_PER_MINUTE = 80  # below Slack's Tier 4 (100+ a minute per workspace) for chat.appendStream
INTERVAL_SECONDS = 1.0
MAX_STREAM_CHARS = 10_000  # below one message's worth of rendered answer (render.MESSAGE_CHARS)
HELD_WORDS = 3  # the longest credential shape spans three words ("password = x")
LOOKBACK = 3000  # an unfinished link form longer than this is not one
CAPPED = "\n\n_…the full answer follows in a moment._"


class AppendBudget:
    """A token bucket shared by every stream in this process: ``per_minute`` appends a minute."""

    def __init__(self, per_minute: int = APPENDS_PER_MINUTE, *, clock: Callable[[], float] = time.monotonic):
        self._rate = per_minute / 60.0
        self._capacity = float(max(1, per_minute // 6))  # bursts of up to 10 s worth
        self._tokens = self._capacity
        self._clock = clock
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


_OPENERS = re.compile(r"[<\[]")


def _unfinished(text: str, at: int) -> bool:
    """Is the ``<…>`` or ``[…](…)`` form opening at ``at`` still incomplete?"""
    if text[at] == "<":
        return text.find(">", at) == -1
    close = text.find("]", at)
    if close == -1 or close == len(text) - 1:
        return True  # "[text" or "[text]" (a "(url)" may follow)
    return text[close + 1] == "(" and text.find(")", close) == -1


def settled(text: str) -> int:
    """How much of ``text`` can be cleaned now, whatever follows it: up to a space that is not inside
    an unfinished link form, not within the last ``HELD_WORDS`` words, and not inside anything
    cleaning changes."""
    end = len(text)
    for m in _OPENERS.finditer(text, max(0, end - LOOKBACK)):
        if _unfinished(text, m.start()):
            end = m.start()
            break
    cuts = [m.end() for m in re.finditer(r"\s+", text[:end])][: 1 - HELD_WORDS]
    whole = clean(text)
    for cut in reversed(cuts):  # never inside something cleaning changes (a masked "password = x")
        if clean(text[:cut]) + clean(text[cut:]) == whole:
            return cut
    return 0


class Streamer:
    def __init__(
        self,
        client: WebClient,
        *,
        channel: str,
        thread_ts: str,
        user_id: str | None = None,
        team_id: str | None = None,
        budget: AppendBudget | None = None,
        interval: float = INTERVAL_SECONDS,
        max_chars: int = MAX_STREAM_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._recipient: dict[str, str] = {}
        if user_id:
            self._recipient["recipient_user_id"] = user_id
        if team_id:
            self._recipient["recipient_team_id"] = team_id
        self._budget = budget or AppendBudget(clock=clock)
        self._interval = interval
        self._max_chars = max_chars
        self._clock = clock
        self._lock = threading.Lock()
        self._raw = ""  # model text not streamed yet
        self._sent = 0  # characters streamed so far
        self._last = 0.0
        self.ts: str | None = None
        self.broken = False
        self.stopped = False
        self.capped = False

    @staticmethod
    def _chunks(text: str) -> list[dict[str, Any]]:
        return [{"type": "markdown_text", "text": text}]

    def _take(self, cut: int) -> str:
        """The first ``cut`` characters gathered, sanitised; the rest stays gathered."""
        piece, self._raw = self._raw[:cut], self._raw[cut:]
        return clean(piece)

    def _fit(self, text: str) -> str:
        """``text``, or as much of it as fits under ``max_chars`` with a note that the stream stops."""
        if self._sent + len(text) <= self._max_chars:
            return text
        self.capped = True
        return text[: max(0, self._max_chars - self._sent)] + CAPPED

    def __call__(self, piece: str) -> None:
        """The core's ``on_text``: never raises (a Slack hiccup must not stop the answer)."""
        with self._lock:
            if self.broken or self.stopped or self.capped:
                return
            self._raw += piece
            try:
                if self.ts is None:
                    self._start()
                elif self._clock() - self._last >= self._interval:
                    self._append()
            except (SlackApiError, SlackClientError, OSError) as exc:
                self.broken = True
                log.warning(
                    "streaming stopped; the answer will be posted whole", extra={"error": type(exc).__name__}
                )

    def _start(self) -> None:
        cut = settled(self._raw)
        if not self._raw[:cut].strip():
            return
        text = self._fit(self._take(cut))
        resp = self._client.chat_startStream(
            channel=self._channel, thread_ts=self._thread_ts, chunks=self._chunks(text), **self._recipient
        )
        ts = resp.get("ts")
        if not ts:
            raise SlackClientError("chat.startStream returned no ts")
        self.ts, self._sent, self._last = str(ts), len(text), self._clock()

    def _append(self) -> None:
        cut = settled(self._raw)
        if not self._raw[:cut].strip():
            return
        if not self._budget.take():
            self._last = self._clock()  # over the workspace's pace: keep gathering, try again later
            return
        assert self.ts is not None
        text = self._fit(self._take(cut))
        self._client.chat_appendStream(channel=self._channel, ts=self.ts, chunks=self._chunks(text))
        self._sent += len(text)
        self._last = self._clock()

    def _stop(self) -> None:
        if self.ts is None or self.stopped:
            return
        self.stopped = True
        rest = "" if self.capped or self.broken else self._fit(self._take(len(self._raw)))
        try:
            chunks = self._chunks(rest) if rest.strip() else None
            self._client.chat_stopStream(channel=self._channel, ts=self.ts, chunks=chunks)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("chat.stopStream failed", extra={"error": type(exc).__name__})

    def finish(self, messages: Sequence[Message]) -> None:
        """End the stream and show ``messages`` (the checked answer) in its place."""
        with self._lock:
            self._stop()
            usable = self.ts is not None and not self.broken
            Thread(self._client, self._channel, self._thread_ts, self.ts if usable else None).send(messages)
            if self.ts is not None and self.broken:
                self._retract()

    def _retract(self) -> None:
        """A stream that broke half-way leaves partial text behind: say where the answer is."""
        try:
            assert self.ts is not None
            self._client.chat_update(channel=self._channel, ts=self.ts, text="(answer below)")
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not tidy a broken stream", extra={"error": type(exc).__name__})
