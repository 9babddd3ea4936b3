"""Slack request bodies in the shapes Slack really sends, field for field (after the payloads in
slack-bolt's ``tests/scenario_tests``, written here for Closer's fake workspace): the outer event
envelope with ``authorizations`` and ``event_context``, message events with ``client_msg_id``,
``team``, ``blocks`` of ``rich_text``, files with their URLs and thumbnails, the thread ``root`` of a
``thread_broadcast``, ``message_changed`` with ``message``/``previous_message``, bot messages with a
``bot_profile``, the assistant thread events, a ``block_actions`` click with its whole
``container``/``message``/``state``, ``url_verification`` and ``app_rate_limited``.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fake_slack import BOT_ID, BOT_USER, TEAM

_n = itertools.count(1)


def _rich_text(text: str, mention: str | None = None) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = [{"type": "user", "user_id": mention}] if mention else []
    elements.append({"type": "text", "text": text})
    return [{"type": "rich_text", "block_id": f"rt{next(_n)}",
             "elements": [{"type": "rich_text_section", "elements": elements}]}]  # fmt: skip


def envelope(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The ``event_callback`` around an event, as the Events API delivers it."""
    return {
        "token": "verification-token", "team_id": TEAM, "context_team_id": TEAM, "context_enterprise_id": None,
        "api_app_id": "A0CLOSER", "event": event, "type": "event_callback",
        "event_id": event_id or f"Ev{next(_n):08d}", "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER, "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False, "event_context": f"4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJ{next(_n)}",
    }  # fmt: skip


def _ts() -> str:
    return f"{1_700_100_000 + next(_n)}.{next(_n):06d}"


def app_mention(user: str, question: str, *, channel: str = "C0SALES") -> dict[str, Any]:
    ts = _ts()
    return {"client_msg_id": f"9cbd4c5b-{next(_n):04d}", "type": "app_mention", "text": f"<@{BOT_USER}> {question}",
            "user": user, "ts": ts, "blocks": _rich_text(f" {question}", mention=BOT_USER), "team": TEAM,
            "channel": channel, "event_ts": ts}  # fmt: skip


def im(user: str, text: str, *, channel: str = "D0ALICE", thread_ts: str | None = None) -> dict[str, Any]:
    ts = _ts()
    event = {"client_msg_id": f"968c94da-{next(_n):04d}", "type": "message", "text": text, "user": user, "ts": ts,
             "blocks": _rich_text(text), "team": TEAM, "channel": channel, "event_ts": ts, "channel_type": "im"}  # fmt: skip
    if thread_ts:
        event |= {"thread_ts": thread_ts, "parent_user_id": user}
    return event


def im_with_file(user: str, text: str) -> dict[str, Any]:
    event = im(user, text)
    fid = f"F0{next(_n):06d}"
    file = {
        "id": fid, "created": 1652227642, "timestamp": 1652227642, "name": "order.png", "title": "order.png",
        "mimetype": "image/png", "filetype": "png", "pretty_type": "PNG", "user": user, "editable": False,
        "size": 92582, "mode": "hosted", "is_external": False, "external_type": "", "is_public": False,
        "public_url_shared": False, "display_as_bot": False, "username": "",
        "url_private": f"https://files.slack.com/files-pri/{TEAM}-{fid}/order.png",
        "url_private_download": f"https://files.slack.com/files-pri/{TEAM}-{fid}/download/order.png",
        "thumb_64": f"https://files.slack.com/files-tmb/{TEAM}-{fid}-f820f29515/order_64.png",
        "thumb_360": f"https://files.slack.com/files-tmb/{TEAM}-{fid}-f820f29515/order_360.png",
        "thumb_360_w": 360, "thumb_360_h": 115, "original_w": 1134, "original_h": 362,
        "permalink": f"https://closer-test.slack.com/files/{user}/{fid}/order.png", "has_rich_preview": False,
    }  # fmt: skip
    return event | {"files": [file], "upload": False, "display_as_bot": False, "subtype": "file_share"}


def im_thread_broadcast(user: str, text: str, *, root_ts: str) -> dict[str, Any]:
    event = im(user, text, thread_ts=root_ts)
    root = {"client_msg_id": f"111-{next(_n)}", "type": "message", "text": "Earlier question", "user": user,
            "ts": root_ts, "team": TEAM, "thread_ts": root_ts, "reply_count": 3, "reply_users_count": 2,
            "latest_reply": event["ts"], "reply_users": [user, BOT_USER], "is_locked": False}  # fmt: skip
    return event | {"subtype": "thread_broadcast", "root": root}


def im_changed(user: str, *, channel: str = "D0ALICE") -> dict[str, Any]:
    ts, old = _ts(), _ts()
    edited = {"type": "message", "text": "updated question", "user": user, "team": TEAM,
              "edited": {"user": user, "ts": ts}, "ts": old, "blocks": _rich_text("updated question")}  # fmt: skip
    previous = {"type": "message", "text": "original question", "user": user, "team": TEAM, "ts": old,
                "blocks": _rich_text("original question")}  # fmt: skip
    return {"type": "message", "subtype": "message_changed", "message": edited, "previous_message": previous,
            "channel": channel, "hidden": True, "ts": ts, "event_ts": ts, "channel_type": "im"}  # fmt: skip


def im_from_another_bot(text: str, *, channel: str = "D0ALICE") -> dict[str, Any]:
    ts = _ts()
    profile = {"id": "B0OTHER", "deleted": False, "name": "other-app", "updated": 1607307935, "app_id": "A0OTHER",
               "icons": {"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"}, "team_id": TEAM}  # fmt: skip
    return {"bot_id": "B0OTHER", "type": "message", "text": text, "user": "U0OTHERBOT", "ts": ts, "team": TEAM,
            "bot_profile": profile, "channel": channel, "event_ts": ts, "channel_type": "im"}  # fmt: skip


def classic_bot_message(text: str, *, channel: str = "D0ALICE") -> dict[str, Any]:
    ts = _ts()
    return {"type": "message", "subtype": "bot_message", "text": text, "ts": ts, "username": "classic-bot",
            "bot_id": "B0CLASSIC", "channel": channel, "event_ts": ts, "channel_type": "im"}  # fmt: skip


def bot_mention(question: str, *, channel: str = "C0SALES") -> dict[str, Any]:
    event = app_mention("U0OTHERBOT", question, channel=channel)
    return event | {
        "bot_id": "B0OTHER",
        "bot_profile": {"id": "B0OTHER", "name": "other-app", "team_id": TEAM},
    }


def assistant_thread(kind: str, user: str, *, channel: str = "D0ALICE", thread_ts: str) -> dict[str, Any]:
    """``assistant_thread_started`` or ``assistant_thread_context_changed``."""
    context = {"channel_id": "C0SALES", "team_id": TEAM, "enterprise_id": None}
    return {"type": kind, "assistant_thread": {"user_id": user, "context": context, "channel_id": channel,
                                               "thread_ts": thread_ts}, "event_ts": _ts()}  # fmt: skip


def assistant_message(user: str, text: str, *, channel: str = "D0ALICE", thread_ts: str) -> dict[str, Any]:
    event = im(user, text, channel=channel, thread_ts=thread_ts)
    return event | {"user_team": TEAM, "source_team": TEAM, "user_profile": {},
                    "assistant_thread": {"action_token": f"10647138185092.960436384805.{next(_n):08x}"}}  # fmt: skip


def slash_command(user: str, text: str, *, response_url: str, command: str = "/sales") -> bytes:
    n = next(_n)
    form = {"token": "verification-token", "team_id": TEAM, "team_domain": "closer-test", "channel_id": "C0SALES",
            "channel_name": "sales", "user_id": user, "user_name": user.lower(), "command": command, "text": text,
            "api_app_id": "A0CLOSER", "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": f"{n}.{n * 7}.0a1b2c3d4e5f"}  # fmt: skip
    return urlencode(form).encode()


def block_actions(user: str, action: dict[str, Any], *, message: dict[str, Any], channel: str,
                  response_url: str, ephemeral: bool = False) -> bytes:  # fmt: skip
    """A click on a button of ``message`` (a message Closer posted: its ``ts``, ``text``, ``blocks``)."""
    container: dict[str, Any] = {"type": "message", "message_ts": message["ts"], "channel_id": channel,
                                 "is_ephemeral": ephemeral}  # fmt: skip
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    payload: dict[str, Any] = {
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": "A0CLOSER", "token": "verification-token", "container": container,
        "trigger_id": f"{next(_n)}.4916855695380.0a1b2c3d", "team": {"id": TEAM, "domain": "closer-test"},
        "enterprise": None, "is_enterprise_install": False, "channel": {"id": channel, "name": "directmessage"},
        "state": {"values": {}}, "response_url": response_url,
        "actions": [{**action, "block_id": f"b{next(_n)}", "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip
    if not ephemeral:
        payload["message"] = {"bot_id": BOT_ID, "type": "message", "user": BOT_USER, "app_id": "A0CLOSER",
                              "team": TEAM, **message}  # fmt: skip
    return urlencode({"payload": json.dumps(payload)}).encode()


def url_verification(challenge: str) -> dict[str, Any]:
    return {"token": "verification-token", "challenge": challenge, "type": "url_verification"}


def app_rate_limited() -> dict[str, Any]:
    return {"token": "verification-token", "type": "app_rate_limited", "team_id": TEAM,
            "minute_rate_limited": int(time.time()) // 60 * 60, "api_app_id": "A0CLOSER"}  # fmt: skip


def unknown_event(user: str) -> dict[str, Any]:
    return {"type": "reaction_added", "user": user, "reaction": "thumbsup", "item_user": BOT_USER,
            "item": {"type": "message", "channel": "C0SALES", "ts": _ts()}, "event_ts": _ts()}  # fmt: skip
