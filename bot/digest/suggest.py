"""A one-line suggested next step per flagged deal, from the rep's own LLM route.

One structured call per digest (``{"steps": [{"deal_id", "step"}]}``) through
:meth:`LLMRouter.client` for the route :meth:`Assistant.decide` gives that rep: a private rep's
deals go to the private endpoint or nowhere — never to the standard one. Any LLM problem (none
configured, private endpoint missing or down, invalid output) leaves the digest without
suggestions and says why; the digest still goes out. Each call leaves a content-free audit row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from bot.digest.model import DigestLine
from bot.digest.text import facts, flag_words
from bot.drafting.sources import framed
from bot.errors import LLMError, PrivacyError
from bot.llm.client import LLMClient, Usage
from bot.llm.prompts import DEFAULT_DIR, load_prompt
from bot.observability import current_or_new_request_id
from bot.privacy.audit import audit_row
from bot.privacy.redact import Masker
from bot.privacy.route import RouteDecision
from bot.state.rows import Outcome

if TYPE_CHECKING:
    from bot.assistant import Assistant

MAX_STEP_CHARS = 120
MAX_DEALS = 20  # a digest shows about this many deals in full; the rest get no suggestion
NOTES_PER_DEAL = 2
NOTE_CHARS = 400


class NextStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deal_id: str
    step: str


class NextSteps(BaseModel):
    """The reply asked of the model. Lengths are clipped here rather than in the schema, so a
    slightly long sentence costs a trim, not a failed validation."""

    model_config = ConfigDict(extra="forbid")
    steps: list[NextStep]


@dataclass
class Suggestions:
    steps: dict[str, str] = field(default_factory=dict)  # deal_id -> one line
    route: str | None = None
    note: str = ""


def one_line(text: str, limit: int = MAX_STEP_CHARS) -> str:
    text = " ".join(text.split()).strip(" \"'")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _notes(assistant: Assistant, user: str, lines: Sequence[DigestLine], today: date) -> dict[str, list[str]]:
    """The latest notes on each deal, only those the rep may read and dated up to ``today``."""
    found: dict[str, list[tuple[str, str]]] = {}
    for meta, text in assistant.kb.store.note_texts([line.deal.deal_id for line in lines]):
        readers = str(meta.get("readers", "")).split(";")
        created = str(meta.get("f_created_at") or meta.get("updated_at") or "")
        if int(meta.get("position", 0)) != 0 or created[:10] > today.isoformat():
            continue
        if meta.get("visibility") == "public" or user in readers:
            found.setdefault(str(meta["deal_id"]), []).append((created, text))
    return {
        deal: [" ".join(t.split())[:NOTE_CHARS] for _, t in sorted(notes, reverse=True)[:NOTES_PER_DEAL]]
        for deal, notes in found.items()
    }


def render_deals(lines: Sequence[DigestLine], notes: dict[str, list[str]]) -> str:
    blocks = []
    for line in lines:
        deal = line.deal
        rows = [f"[{deal.deal_id}] {deal.name}", f"Facts: {facts(line)}",
                "Flags: " + "; ".join(flag_words(line, f) for f in line.flags),
                f"CRM next step: {deal.next_step or 'none recorded'}"]  # fmt: skip
        rows += [f"Note: {n}" for n in notes.get(deal.deal_id, [])] or ["Notes: none"]
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


def suggest(
    assistant: Assistant, user: str, lines: Sequence[DigestLine], today: date, *, surface: str = "cli"
) -> Suggestions:
    flagged = [line for line in lines if line.flagged][:MAX_DEALS]
    if not flagged:
        return Suggestions()
    decision = assistant.decide(user)
    started, usage = time.perf_counter(), Usage()
    client: LLMClient | None = None
    outcome: Outcome = "ok"
    try:
        client = assistant.router.client(decision)
        if client is None:
            outcome = "degraded"
            return Suggestions(route=decision.route, note="no language model is configured: no suggestions")
        out, usage = _ask(assistant, client, decision, user, flagged, today)
        return out
    except PrivacyError:
        outcome = "refused"
        note = "your requests are private and no private LLM endpoint is configured: no suggestions"
        return Suggestions(route=decision.route, note=note)
    except LLMError as exc:
        outcome = "degraded"
        return Suggestions(route=decision.route, note=f"no suggestions today ({exc})")
    finally:
        # Who, when, route, endpoint, model and cost; never the deals or the suggestions.
        row = audit_row(
            request_id=current_or_new_request_id(),
            user=user,
            surface=surface,
            action="digest",
            decision=decision,
            outcome=outcome,
            client=client,
            usage=usage,
            started=started,
        )
        assistant.state.record_audit(row)


def _ask(
    assistant: Assistant,
    client: LLMClient,
    decision: RouteDecision,
    user: str,
    flagged: list[DigestLine],
    today: date,
) -> tuple[Suggestions, Usage]:
    prompt = load_prompt("digest_next_step", assistant.settings.prompts_dir or DEFAULT_DIR)
    values = {"deals": framed("deals", render_deals(flagged, _notes(assistant, user, flagged, today))),
              "today": today.isoformat()}  # fmt: skip
    masker = Masker(enabled=assistant.settings.pii_masking and not decision.private)
    messages = [{**m, "content": masker.mask(m["content"])} for m in prompt.messages(**values)]
    parsed, usage = client.complete_model(messages, NextSteps, max_tokens=min(1500, 200 + 60 * len(flagged)))
    wanted = {line.deal.deal_id for line in flagged}
    steps = {s.deal_id.strip(): one_line(masker.unmask(s.step)) for s in parsed.steps}
    return Suggestions({k: v for k, v in steps.items() if k in wanted and v}, decision.route), usage
