"""Words for a digest: flag labels (emoji + words) shared by the CLI and Slack, and the CLI's text."""

from __future__ import annotations

from bot.digest.model import Digest, DigestLine, Flag, money

EMOJI: dict[Flag, str] = {"overdue": "🔴", "closing_soon": "⏰", "stale": "💤", "stage_changed": "🔀"}


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def flag_words(line: DigestLine, flag: Flag) -> str:
    """``Overdue by 3 days``, ``Closes today``, ``No notes for 20 days``, ``Stage changed: a → b``."""
    if flag == "overdue":
        return f"Overdue by {_days(-(line.days_to_close or 0))}"
    if flag == "closing_soon":
        days = line.days_to_close or 0
        return "Closes today" if days == 0 else "Closes tomorrow" if days == 1 else f"Closes in {days} days"
    if flag == "stale":
        if line.days_since_note is None:
            return "No notes yet"
        return f"No notes for {_days(line.days_since_note)}"
    return f"Stage changed: {line.previous_stage} → {line.deal.stage}"


def flag_label(line: DigestLine, flag: Flag) -> str:
    return f"{EMOJI[flag]} {flag_words(line, flag)}"


def facts(line: DigestLine) -> str:
    """``86,060 USD · proposal · closes 2026-11-20``"""
    deal = line.deal
    close = f"closes {deal.close_date.isoformat()}" if deal.close_date else "no close date"
    return f"{money(deal.amount, deal.currency)} · {deal.stage} · {close}"


def pipeline_words(digest: Digest) -> str:
    """``3 open deals · pipeline 1,130,510 USD + 596,151 EUR``"""
    count = len(digest.lines) + len(digest.snoozed)
    deals = f"{count} open deal{'s' if count != 1 else ''}"
    totals = " + ".join(money(v, cur) for cur, v in sorted(digest.totals.items()))
    return f"{deals} · pipeline {totals}" if totals else deals


def title(digest: Digest) -> str:
    day = f"{digest.day:%a} {digest.day.isoformat()}"
    whose = "Your deals" if digest.scope == "own" else "Your team's deals"
    return f"{whose} — {day}"


def render_text(digest: Digest) -> str:
    """The digest as plain text for the terminal."""
    out = [f"{digest.user}: {title(digest)}", f"{pipeline_words(digest)}; {digest.flagged} need attention"]
    if not digest.lines:
        out.append("  No open deals to show." + (" (some are snoozed)" if digest.snoozed else ""))
    for n, line in enumerate(digest.lines, start=1):
        deal = line.deal
        out.append(f"{n:>3}. {deal.name} ({deal.deal_id})")
        owner = f" · owner {deal.owner}" if digest.scope == "team" else ""
        out.append(f"     {facts(line)}{owner}")
        if line.flags:
            out.append("     " + " · ".join(flag_label(line, f) for f in line.flags))
        if deal.next_step:
            out.append(f"     Next step (CRM): {deal.next_step}")
        if line.suggestion:
            out.append(f"     💡 Suggested: {line.suggestion}")
    if digest.snoozed:
        out.append(f"  Snoozed today: {', '.join(digest.snoozed)}")
    if digest.note:
        out.append(f"  ({digest.note})")
    return "\n".join(out)
