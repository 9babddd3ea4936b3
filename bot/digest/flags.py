"""Which flags a deal gets on a given day, and the most-urgent-first order. Pure functions.

Boundaries (``today`` is the digest's date in the rep's time zone; N is the setting):

- ``overdue``: the close date is before today (yesterday is overdue).
- ``closing_soon``: 0 <= close date - today <= ``DIGEST_CLOSING_DAYS`` (14): today and the 14th day
  count, the 15th does not.
- ``stale``: the latest note on the deal, taking notes dated up to today, is more than
  ``DIGEST_STALE_DAYS`` (14) days old — a note exactly 14 days ago keeps a deal fresh, 15 days ago
  does not. A deal with no note at all is stale. Notes are dated by the calendar date of their
  ``created_at`` as written in the export.
- ``stage_changed``: the deal was in the rep's previous digest with another stage. A deal new to
  the digest is not "changed".
"""

from __future__ import annotations

from datetime import date

from bot.digest.model import FLAG_ORDER, DigestLine, Flag

CLOSING_DAYS = 14
STALE_DAYS = 14


def flags_of(
    *,
    today: date,
    close_date: date | None,
    last_note: date | None,
    stage: str,
    previous_stage: str | None,
    closing_days: int = CLOSING_DAYS,
    stale_days: int = STALE_DAYS,
) -> tuple[Flag, ...]:
    """The deal's flags, most urgent first."""
    found: set[Flag] = set()
    if close_date is not None:
        days = (close_date - today).days
        if days < 0:
            found.add("overdue")
        elif days <= closing_days:
            found.add("closing_soon")
    if last_note is None or (today - last_note).days > stale_days:
        found.add("stale")
    if previous_stage is not None and previous_stage != stage:
        found.add("stage_changed")
    return tuple(f for f in FLAG_ORDER if f in found)


def urgency(line: DigestLine) -> tuple[int, int, date, float, str]:
    """Sort key: overdue, closing soon, stale, stage changed, unflagged; then earlier close date
    (none last), then larger amount, then name for a stable order."""
    rank = min((FLAG_ORDER.index(f) for f in line.flags), default=len(FLAG_ORDER))
    close = line.deal.close_date
    return (
        rank,
        0 if close else 1,
        close or date.max,
        -(line.deal.amount or 0.0),
        line.deal.name.lower(),
    )


def totals(lines: list[DigestLine] | tuple[DigestLine, ...]) -> dict[str, float]:
    """Pipeline per currency; deals without an amount are left out."""
    out: dict[str, float] = {}
    for line in lines:
        if line.deal.amount is not None:
            cur = line.deal.currency.upper()
            out[cur] = out.get(cur, 0.0) + line.deal.amount
    return out
