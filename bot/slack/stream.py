"""Stream an answer into a thread as the model writes it, then swap in the checked final answer.

``chat.startStream`` goes out with the first piece of text (the user sees words as soon as the model
has any), ``chat.appendStream`` every ``flush_chars`` characters or ``flush_seconds``, and
``chat.stopStream`` at the end. The streamed text is the model's raw text; the core then removes
citations to sources that were never retrieved and flags unsupported claims, so the message is
finally replaced (``chat.update``) by the rendered, checked answer with its sources and buttons.

A streaming failure never loses the answer: the streamer goes quiet and :meth:`finish` posts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.render import Message
from bot.slack.targets import Thread

log = logging.getLogger(__name__)


class Streamer:
    def __init__(
        self,
        client: WebClient,
        *,
        channel: str,
        thread_ts: str,
        user_id: str | None = None,
        team_id: str | None = None,
        flush_chars: int = 160,
        flush_seconds: float = 0.5,
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
        self._flush_chars = flush_chars
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._buffer = ""
        self._last = 0.0
        self.ts: str | None = None
        self.broken = False
        self.stopped = False

    @staticmethod
    def _chunks(text: str) -> list[dict[str, Any]]:
        return [{"type": "markdown_text", "text": text}]

    def __call__(self, piece: str) -> None:
        """The core's ``on_text``: never raises (a Slack hiccup must not stop the answer)."""
        with self._lock:
            if self.broken or self.stopped:
                return
            self._buffer += piece
            try:
                if self.ts is None:
                    if self._buffer.strip():
                        self._start()
                elif (
                    len(self._buffer) >= self._flush_chars
                    or self._clock() - self._last >= self._flush_seconds
                ):
                    self._append()
            except (SlackApiError, SlackClientError, OSError) as exc:
                self.broken = True
                log.warning(
                    "streaming stopped; the answer will be posted whole", extra={"error": type(exc).__name__}
                )

    def _start(self) -> None:
        resp = self._client.chat_startStream(
            channel=self._channel,
            thread_ts=self._thread_ts,
            chunks=self._chunks(self._buffer),
            **self._recipient,
        )
        ts = resp.get("ts")
        if not ts:
            raise SlackClientError("chat.startStream returned no ts")
        self.ts, self._buffer, self._last = str(ts), "", self._clock()

    def _append(self) -> None:
        if self._buffer:
            assert self.ts is not None
            self._client.chat_appendStream(
                channel=self._channel, ts=self.ts, chunks=self._chunks(self._buffer)
            )
        self._buffer, self._last = "", self._clock()

    def _stop(self) -> None:
        if self.ts is None or self.stopped:
            return
        self.stopped = True
        chunks = self._chunks(self._buffer) if self._buffer else None
        self._buffer = ""
        try:
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
