"""A draft from the core → Slack messages (Block Kit as plain dicts), within Slack's limits.

Each message: the answer as mrkdwn sections (figures and deal names in bold), then context lines —
the cited sources, ⚠ claims not found in them, the note of a degraded answer, the 🔒 badge of a
private one — and the buttons. Long answers are split on paragraph and line boundaries into
sections of at most 3,000 characters and messages of at most 50 blocks and ~12,000 characters;
the context lines and buttons go on the last message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.slack.mrkdwn import emphasize, escape, to_mrkdwn

if TYPE_CHECKING:
    from bot.assistant import Draft

Block = dict[str, Any]
Message = dict[str, Any]  # {"text": fallback, "blocks": [...]}

SECTION_CHARS = 3000
CONTEXT_CHARS = 2000
MESSAGE_BLOCKS = 50
MESSAGE_CHARS = 12_000
MAX_MESSAGES = 5  # a response_url takes five posts; longer is not a chat answer any more
CUT = "✂ The rest of this answer was too long for Slack."
FALLBACK_CHARS = 3000
UNVERIFIED = "⚠ Not found in the cited sources — check before sending"
DEGRADED_PUBLIC = "no model answer this time, so this shows what the sources say."
DEGRADED_REASON = "the language model is not available right now"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, CONTEXT_CHARS)}]}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_text(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a blank line, else a line, else a space."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep)
            if cut > limit // 3:
                break
        else:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def sources_line(draft: Draft) -> str | None:
    if not draft.citations:
        return None
    parts = [
        f"[{c.number}] {escape(c.title)} ({c.source_type} {escape(c.source_id)})" for c in draft.citations
    ]
    return "*Sources:* " + " · ".join(parts)


def trailer(
    draft: Draft, *, private_host: str | None, notes: Sequence[str] = (), public: bool = False
) -> list[Block]:
    """The context lines under an answer. ``public``: in a channel, where a degraded answer's reason
    (an endpoint's error) is not shown — the asker is told it alone."""
    blocks: list[Block] = []
    line = sources_line(draft)
    if line and not draft.degraded:
        blocks.append(context(line))
    if draft.unverified:
        claims = ", ".join(f"`{escape(c.text).replace('`', chr(39))}`" for c in draft.unverified)
        blocks.append(context(f"{UNVERIFIED}: {claims}"))
    if draft.degraded:
        blocks.append(context(f"⚠ Degraded answer: {DEGRADED_PUBLIC if public else escape(draft.note)}"))
    if draft.decision.private:
        blocks.append(context(f"🔒 Private — sent only to {escape(private_host or 'the private endpoint')}"))
    blocks += [context(note) for note in notes]
    return blocks


def answer_text(draft: Draft, *, public: bool = False) -> str:
    """The answer's Markdown. In a channel, a degraded answer does not quote why (an endpoint's own
    error message, its address): that goes to the asker alone."""
    if public and draft.degraded and draft.note:
        return draft.text.replace(draft.note, DEGRADED_REASON)
    return draft.text


def body_blocks(draft: Draft, *, public: bool = False) -> list[Block]:
    deal_names = [c.title for c in draft.citations if c.source_type == "deal"]
    blocks: list[Block] = []
    if draft.subject:
        blocks.append(section(f"*Subject:* {escape(draft.subject)}"))
    text = emphasize(to_mrkdwn(answer_text(draft, public=public)), deal_names) or "_(no answer text)_"
    blocks += [section(piece) for piece in split_text(text)]
    if draft.next_steps:
        steps = "\n".join(f"• {escape(s)}" for s in draft.next_steps)
        blocks += [section(piece) for piece in split_text(f"*Proposed next steps*\n{steps}")]
    return blocks


def _size(block: Block) -> int:
    if block["type"] == "section":
        return len(block["text"]["text"])
    if block["type"] == "context":
        return sum(len(e.get("text", "")) for e in block["elements"])
    return 200 * len(block.get("elements", ()))  # buttons: value sizes are not shown text


def paginate(blocks: Sequence[Block], tail: Sequence[Block], fallback: str) -> list[Message]:
    """Pack ``blocks`` into messages within the limits; ``tail`` goes whole on the last one."""
    messages: list[list[Block]] = [[]]
    tail_size = sum(_size(b) for b in tail)
    for block in blocks:
        current = messages[-1]
        used = sum(_size(b) for b in current)
        if current and (len(current) + 1 > MESSAGE_BLOCKS or used + _size(block) > MESSAGE_CHARS):
            messages.append([])
        messages[-1].append(block)
    last = messages[-1]
    if len(last) + len(tail) > MESSAGE_BLOCKS or sum(_size(b) for b in last) + tail_size > MESSAGE_CHARS:
        messages.append([])
    if len(messages) > MAX_MESSAGES:
        messages = [*messages[: MAX_MESSAGES - 1], [context(CUT)]]
    messages[-1].extend(tail)
    text = _cut(fallback, FALLBACK_CHARS)
    return [{"text": text if i == 0 else "(continued)", "blocks": m} for i, m in enumerate(messages) if m]


def render_draft(
    draft: Draft,
    *,
    private_host: str | None = None,
    buttons: Sequence[Block] = (),
    notes: Sequence[str] = (),
    closing: Sequence[Block] = (),
    public: bool = False,
) -> list[Message]:
    """The messages that show ``draft``; buttons (``answer_buttons``) and ``closing`` blocks (the
    feedback row) on the last one."""
    tail = trailer(draft, private_host=private_host, notes=notes, public=public)
    if buttons:
        tail.append({"type": "actions", "elements": list(buttons)[:25]})
    tail += closing
    subject = f"Subject: {escape(draft.subject)}\n\n" if draft.subject else ""
    fallback = subject + to_mrkdwn(answer_text(draft, public=public))
    return paginate(body_blocks(draft, public=public), tail, fallback)


def notice(text: str, *, extra: Sequence[Block] = ()) -> Message:
    """A short message: status, help, errors. ``text`` is mrkdwn that may quote untrusted text (an
    error message, a setting): it is sanitised and escaped here, so notices never ping, link
    deceptively or show a secret (``*bold*`` and ```code``` still work)."""
    safe = escape(text)
    return {"text": _cut(safe, FALLBACK_CHARS), "blocks": [section(_cut(safe, SECTION_CHARS)), *extra]}
