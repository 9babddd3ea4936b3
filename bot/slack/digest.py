"""The digest's Slack door: Block Kit rendering, delivery as a DM, and the hooks for ``closer serve``.

Delivery is ``users.lookupByEmail`` → ``conversations.open`` → ``chat.postMessage``, on a WebClient
with rate-limit, server-error and connection retry handlers. A message holds at most 50 blocks and
about 13k characters: a header, a summary, two blocks per deal (the deal, its two buttons), and the
deals that do not fit rolled up into one last section.

Hooks: :func:`digest_scheduler` (start from ``closer serve``), :func:`slash_digest` and
:func:`send_now` (``/sales digest``), :class:`SlackDigestSender` (``closer digest --send``). The
buttons' ``action_id`` values are ``digest_followup`` and ``digest_snooze``, each with the deal id as
``value`` (see :mod:`bot.digest.actions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.config import Settings
from bot.digest.actions import FOLLOWUP_ACTION, SNOOZE_ACTION
from bot.digest.model import Digest, DigestLine
from bot.digest.schedule import Users, default_zone, start_scheduler, today_in, zone_of
from bot.digest.service import DeliveryError, DigestService, SendResult
from bot.digest.text import facts, flag_label, pipeline_words, title
from bot.errors import SettingsError
from bot.slack.clients import web_client
from bot.slack.identity import Directory

if TYPE_CHECKING:
    from bot.assistant import Assistant

MAX_BLOCKS = 50
MAX_CHARS = 12_000  # Slack refuses about 13k characters of blocks (msg_blocks_too_long)
SECTION_CHARS = 3000


def _esc(text: str) -> str:
    """Slack mrkdwn's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _deal_text(line: DigestLine, *, team: bool) -> str:
    deal = line.deal
    rows = [f"*{_esc(deal.name)}*  `{_esc(deal.deal_id)}`", _esc(facts(line))]
    if team:
        rows[1] += f" · owner {_esc(deal.owner)}"
    if line.flags:
        rows.append(" · ".join(_esc(flag_label(line, f)) for f in line.flags))
    if deal.next_step:
        rows.append(f"Next step: {_esc(deal.next_step)}")
    if line.suggestion:
        rows.append(f"💡 _{_esc(line.suggestion)}_")
    return _clip("\n".join(rows), SECTION_CHARS)


def _buttons(line: DigestLine) -> ActionsBlock:
    deal_id = line.deal.deal_id
    return ActionsBlock(
        block_id=_clip(f"digest:{deal_id}", 255),
        elements=[
            ButtonElement(text="Draft follow-up", action_id=FOLLOWUP_ACTION, value=deal_id),
            ButtonElement(text="Snooze this deal for a week", action_id=SNOOZE_ACTION, value=deal_id),
        ],
    )


def _rollup(lines: Sequence[DigestLine]) -> str:
    items = []
    for line in lines:
        flags = ", ".join(flag_label(line, f) for f in line.flags)
        items.append(f"• {_esc(line.deal.name)}" + (f" ({_esc(flags)})" if flags else ""))
    return _clip(f"*…and {len(lines)} more:*\n" + "\n".join(items), SECTION_CHARS)


def render(digest: Digest) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks) of a digest; at most 50 blocks and ~12k characters."""
    fallback = f"{title(digest)}: {pipeline_words(digest)}, {digest.flagged} need attention"
    head: list[Block] = [
        HeaderBlock(text=_clip(f"☀️ {title(digest)}", 150)),
        ContextBlock(elements=[MarkdownTextObject(text=_esc(f"{pipeline_words(digest)} · "
                                                             f"{digest.flagged} need attention"))]),
    ]  # fmt: skip
    tail: list[Block] = []
    if not digest.lines:
        tail.append(SectionBlock(text=MarkdownTextObject(text="No open deals to show today.")))
    notes = [f"Snoozed today: {', '.join(digest.snoozed)}"] if digest.snoozed else []
    notes += [digest.note] if digest.note else []
    if notes:
        tail.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(_esc(" · ".join(notes)), 2000))]))
    body: list[Block] = []
    used = sum(len(str(b.to_dict())) for b in head + tail)
    rest: list[DigestLine] = []
    for n, line in enumerate(digest.lines):
        text = MarkdownTextObject(text=_deal_text(line, team=digest.scope == "team"))
        section = SectionBlock(block_id=_clip(f"deal:{line.deal.deal_id}", 255), text=text)
        pair: list[Block] = [section, _buttons(line)]
        size = sum(len(str(b.to_dict())) for b in pair)
        # Keep room for the roll-up block whenever deals are left after this one.
        room = MAX_BLOCKS - len(head) - len(tail) - len(body) - (1 if n < len(digest.lines) - 1 else 0)
        if rest or len(pair) > room or used + size > MAX_CHARS - SECTION_CHARS:
            rest.append(line)
            continue
        body += pair
        used += size
    if rest:
        body.append(SectionBlock(text=MarkdownTextObject(text=_rollup(rest))))
    return fallback, [b.to_dict() for b in head + body + tail]


# --- delivery ---------------------------------------------------------------------------------------------


def make_client(settings: Settings) -> WebClient:
    """A WebClient on SLACK_API_URL that waits out rate limits and retries server/connection errors."""
    if not settings.slack_bot_token:
        raise SettingsError("setting SLACK_BOT_TOKEN: required to send digests")
    return web_client(settings.slack_bot_token, settings.slack_api_url)


DIRECTORY_TTL = 6 * 3600.0  # the schedule asks for every rep often; Slack profiles change rarely


class SlackDigestSender:
    """The :data:`bot.digest.service.Deliver` for Slack: one DM per digest."""

    def __init__(self, client: WebClient, *, directory: Directory | None = None) -> None:
        self._client = client
        self.directory = directory or Directory(client, ttl=DIRECTORY_TTL)

    def __call__(self, digest: Digest) -> None:
        try:
            user = self.directory.by_email(digest.user)
            if user is None:
                raise DeliveryError(f"no Slack user has the email {digest.user}")
            channel = self._client.conversations_open(users=user.user_id)["channel"]["id"]
            text, blocks = render(digest)
            self._client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        except SlackApiError as exc:
            raise DeliveryError(
                f"Slack refused the digest for {digest.user}: {exc.response.get('error')}"
            ) from None
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(
                f"Slack could not be reached for {digest.user} ({type(exc).__name__})"
            ) from None


# --- hooks ------------------------------------------------------------------------------------------------


def slack_users(service: DigestService, directory: Directory) -> Users:
    """The schedule's ``users``: every digest recipient who has a Slack account, with their zone."""

    def users() -> list[tuple[str, str]]:
        out = []
        for email in service.recipients():
            try:
                found = directory.by_email(email)
            except SlackClientError:
                continue  # asked again at the next run
            if found is not None:
                out.append((email, found.tz or ""))
        return out

    return users


def digest_scheduler(settings: Settings, service: DigestService, client: WebClient) -> Any:
    """Start the per-time-zone digest schedule for ``closer serve``; None when DIGEST_SCHEDULER=false.
    Call ``.shutdown(wait=False)`` on the result when the server stops."""
    sender = SlackDigestSender(client)
    return start_scheduler(settings, service.deliverer(sender), slack_users(service, sender.directory))


def send_now(
    service: DigestService,
    client: WebClient,
    email: str,
    *,
    tz: str | None = None,
    today: date | None = None,
    directory: Directory | None = None,
) -> SendResult:
    """``/sales digest``: the asker's digest, now, as a DM (even if today's already went out).
    ``tz`` is the asker's Slack time zone, for "today"."""
    day = today or today_in(zone_of(tz, default_zone(service.settings)))
    sender = SlackDigestSender(client, directory=directory)
    return service.send(email, day, sender, on_demand=True, surface="slack")


def slash_digest(
    assistant: Assistant, *, email: str, user_id: str | None = None, client: WebClient | None = None
) -> dict[str, Any]:
    """``/sales digest`` as ``bot.slack.commands`` calls it: DM the asker's digest now (today in
    their Slack time zone) and return the ephemeral reply, ``{"text", "blocks"}``. ``user_id`` is
    not needed: the DM goes to the Slack user with that email, like every digest."""
    web = client or make_client(assistant.settings)
    service = DigestService(assistant)
    directory = Directory(web, ttl=DIRECTORY_TTL)
    try:
        found = directory.by_email(email)
    except SlackClientError:
        found = None
    result = send_now(service, web, email, tz=found.tz if found else None, directory=directory)
    digest = result.digest
    if result.status == "sent":
        text = f"📬 Sent your digest to your DMs: {pipeline_words(digest)}, {digest.flagged} need attention."
    elif result.status == "empty":
        snoozed = f" ({len(digest.snoozed)} snoozed)" if digest.snoozed else ""
        text = f"You have no open deals to digest today{snoozed}."
    else:
        text = f"⚠ I couldn't send your digest: {result.error or result.status}. Try again in a minute."
    return {"text": text, "blocks": [SectionBlock(text=MarkdownTextObject(text=_esc(text))).to_dict()]}
