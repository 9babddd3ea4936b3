"""Where an answer goes: a ``response_url`` (slash commands, buttons on ephemeral answers), a thread
(DMs, the assistant pane, channel mentions), or an ephemeral message in a channel thread.

Every target takes a list of messages (a long answer is several) and a one-line notice (status,
errors). Calls block: targets are used from worker threads only.

A message that replaces another (a placeholder, a regenerated answer) does so once: after that the
target adds new messages, so a later failure can never overwrite an answer already delivered. A
placeholder that cannot be replaced is deleted once its replacement is posted below it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.clients import webhook
from bot.slack.render import Message, notice

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Slack did not take a message (an expired ``response_url``, a closed channel…)."""


class Target(Protocol):
    def send(self, messages: Sequence[Message]) -> None: ...


def thread_key(channel: str, thread_ts: str) -> str:
    return f"{channel}:{thread_ts}"


def say(target: Target, text: str) -> None:
    target.send([notice(text)])


@dataclass
class ResponseUrl:
    """Ephemeral to the person who ran the command or clicked; the first message can replace the
    one the command or button came from ("working on it…", the old answer)."""

    url: str
    replace: bool = True

    def send(self, messages: Sequence[Message]) -> None:
        client = webhook(self.url)
        for i, message in enumerate(messages):
            body = {**message, "response_type": "ephemeral", "replace_original": self.replace and i == 0}
            resp = client.send_dict(body)
            if resp.status_code != 200:
                raise DeliveryError(f"response_url answered {resp.status_code}")
        self.replace = False  # a later call appends


def is_public(target: Target) -> bool:
    """Can people other than the asker read what goes to ``target``? (Channels and group DMs.)"""
    return isinstance(target, Thread) and not target.channel.startswith("D")


@dataclass
class Thread:
    """Messages in a thread; the first one can update an existing message (a placeholder, or an
    answer being regenerated). ``temporary``: that message is a placeholder, deleted if it cannot be
    updated."""

    client: WebClient
    channel: str
    thread_ts: str
    update_ts: str | None = None
    temporary: bool = False

    @property
    def key(self) -> str:
        """The conversation's key for the core (a thread that went private stays private)."""
        return thread_key(self.channel, self.thread_ts)

    def send(self, messages: Sequence[Message]) -> None:
        for i, message in enumerate(messages):
            if i == 0 and self.update_ts:
                self._replace(message)
            else:
                self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, **message)

    def _replace(self, message: Message) -> None:
        ts, temporary = str(self.update_ts), self.temporary
        self.update_ts, self.temporary = None, False  # replaced once; later messages are new ones
        try:
            self.client.chat_update(channel=self.channel, ts=ts, **message)
            return
        except (SlackApiError, SlackClientError) as exc:
            log.warning("could not update a message; posting anew", extra={"error": type(exc).__name__})
        try:
            self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, **message)
        finally:
            if temporary:
                self._delete(ts)

    def _delete(self, ts: str) -> None:
        try:
            self.client.chat_delete(channel=self.channel, ts=ts)
        except (SlackApiError, SlackClientError) as exc:
            log.warning("could not delete a placeholder", extra={"error": type(exc).__name__})

    def placeholder(self, text: str) -> None:
        """Post a short message now, to be replaced by the first message of the answer."""
        resp = self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, **notice(text))
        self.update_ts, self.temporary = str(resp["ts"]), True


@dataclass
class Ephemeral:
    """Visible only to ``user``, in a channel (or a thread of it)."""

    client: WebClient
    channel: str
    user: str
    thread_ts: str | None = None

    def send(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.client.chat_postEphemeral(
                channel=self.channel, user=self.user, thread_ts=self.thread_ts, **message
            )
