"""The values a digest is made of: deals as the CRM has them, one flagged line per deal, the digest.

Plain frozen dataclasses, no I/O. :meth:`Digest.as_json` is the contract's shape
(``{"user", "date", "deals": [{"deal_id", "name", "amount", "flags"}], "sent"}``) plus extra fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Flag = Literal["overdue", "closing_soon", "stale", "stage_changed"]
# Most urgent first: the order lines are sorted by and flags are listed in.
FLAG_ORDER: tuple[Flag, ...] = ("overdue", "closing_soon", "stale", "stage_changed")
CLOSED_STAGES = frozenset({"closed_won", "closed_lost"})
Scope = Literal["own", "team"]
Status = Literal["preview", "sent", "already_sent", "in_progress", "failed", "empty"]


@dataclass(frozen=True)
class Deal:
    """One deal record with the fields a digest needs; emails are lower-case."""

    deal_id: str
    name: str
    owner: str
    stage: str
    account_id: str = ""
    team: tuple[str, ...] = ()
    amount: float | None = None
    currency: str = ""
    close_date: date | None = None
    next_step: str = ""
    visibility: str = "private"
    readers: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.stage not in CLOSED_STAGES

    def readable_by(self, email: str) -> bool:
        """The CRM's access rule for one person, admins not special: public, owner or team."""
        return self.visibility == "public" or email in self.readers


@dataclass(frozen=True)
class DigestLine:
    """A deal as today's digest shows it: its flags and what they were computed from."""

    deal: Deal
    flags: tuple[Flag, ...]
    days_to_close: int | None = None  # negative when overdue
    last_note: date | None = None
    days_since_note: int | None = None
    previous_stage: str | None = None  # set when the stage changed since the last digest
    suggestion: str = ""

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def as_json(self) -> dict[str, object]:
        d = self.deal
        return {
            "deal_id": d.deal_id,
            "name": d.name,
            "amount": _number(d.amount),
            "currency": d.currency,
            "stage": d.stage,
            "previous_stage": self.previous_stage,
            "close_date": d.close_date.isoformat() if d.close_date else None,
            "days_to_close": self.days_to_close,
            "last_note_date": self.last_note.isoformat() if self.last_note else None,
            "owner": d.owner,
            "flags": list(self.flags),
            "next_step": d.next_step,
            "suggestion": self.suggestion or None,
        }


@dataclass(frozen=True)
class Digest:
    """One rep's digest for one day. ``scope`` is "own" (deals they own) or "team" (a manager's
    roll-up of the deals they are on the team of, when they own none)."""

    user: str
    day: date
    scope: Scope
    lines: tuple[DigestLine, ...]
    totals: dict[str, float] = field(default_factory=dict)  # pipeline per currency
    snoozed: tuple[str, ...] = ()  # deal ids left out today
    stages: dict[str, str] = field(default_factory=dict)  # deal_id -> stage of every deal in scope
    route: str | None = None  # the LLM route suggestions took, when one was asked
    note: str = ""  # why there are no suggestions, when there are none
    status: Status = "preview"

    @property
    def sent(self) -> bool:
        return self.status == "sent"

    @property
    def flagged(self) -> int:
        return sum(1 for line in self.lines if line.flagged)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "user": self.user,
            "date": self.day.isoformat(),
            "scope": self.scope,
            "deals": [line.as_json() for line in self.lines],
            "totals": {cur or "unknown": _number(v) for cur, v in sorted(self.totals.items())},
            "snoozed": list(self.snoozed),
            "sent": self.sent,
            "status": self.status,
        }
        if self.route:
            out["route"] = self.route
        if self.note:
            out["note"] = self.note
        return out


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 2)


def money(amount: float | None, currency: str) -> str:
    """``1,044,450 USD``; ``amount unknown`` when the CRM has none."""
    if amount is None:
        return "amount unknown"
    shown = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{shown} {currency}".strip()
