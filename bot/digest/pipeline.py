"""The deals and note dates a digest is computed from, read once from the store per run.

Read from the chunk store's metadata (deal fields are stored as ``f_<column>``), not from the search
index, so the index stays lean. One :class:`Pipeline` serves every rep of a ``--send`` run.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from bot.digest.model import Deal, Scope


class MetadataSource(Protocol):
    """The seam to the store (:class:`bot.knowledge.store.ChunkStore` has it)."""

    def metadatas(self, kind: Any) -> Iterable[dict[str, Any]]: ...


def _date(value: object) -> date | None:
    text = str(value or "").strip()[:10]
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _amount(value: object) -> float | None:
    """A stored amount; None when there is none or it is not a finite number (stores ingested before
    amounts were checked may hold ``nan``)."""
    try:
        amount = float(str(value).replace(",", "")) if str(value or "").strip() else None
    except ValueError:
        return None
    return amount if amount is not None and math.isfinite(amount) else None


def deal_of(meta: Mapping[str, Any]) -> Deal:
    """A deal from its stored chunk metadata."""
    owner = str(meta.get("owner") or meta.get("f_owner_email") or "").strip().lower()
    readers = tuple(r for r in str(meta.get("readers", "")).split(";") if r)
    return Deal(
        deal_id=str(meta["source_id"]),
        name=str(meta.get("title") or meta["source_id"]),
        owner=owner,
        stage=str(meta.get("f_stage", "")).strip().lower(),
        account_id=str(meta.get("account_id", "")),
        team=tuple(r for r in readers if r != owner),
        amount=_amount(meta.get("f_amount")),
        currency=str(meta.get("f_currency", "")).strip().upper(),
        close_date=_date(meta.get("f_close_date")),
        next_step=" ".join(str(meta.get("f_next_step", "")).split()),
        visibility="public" if meta.get("visibility") == "public" else "private",
        readers=readers,
    )


@dataclass(frozen=True)
class Pipeline:
    deals: tuple[Deal, ...]
    note_dates: dict[str, list[date]] = field(default_factory=dict)  # deal_id -> sorted note dates

    @classmethod
    def read(cls, store: MetadataSource) -> Pipeline:
        deals: dict[str, Deal] = {}
        for meta in store.metadatas("deal"):
            if int(meta.get("position", 0)) == 0:
                deal = deal_of(meta)
                deals[deal.deal_id] = deal
        notes: dict[str, set[date]] = defaultdict(set)
        for meta in store.metadatas("note"):
            day = _date(meta.get("f_created_at") or meta.get("updated_at"))
            if meta.get("deal_id") and day:
                notes[str(meta["deal_id"])].add(day)
        return cls(
            tuple(sorted(deals.values(), key=lambda d: d.deal_id)),
            {deal: sorted(days) for deal, days in notes.items()},
        )

    def last_note(self, deal_id: str, *, on_or_before: date) -> date | None:
        """The latest note date on the deal not after ``on_or_before`` (a digest for a past day
        must not see notes written later)."""
        days = self.note_dates.get(deal_id, [])
        i = bisect.bisect_right(days, on_or_before)
        return days[i - 1] if i else None

    def open_deals(self) -> list[Deal]:
        return [d for d in self.deals if d.is_open]

    def for_user(self, email: str) -> tuple[Scope, list[Deal]]:
        """The open deals in ``email``'s digest: the ones they own; if they own none, the ones they
        are on the team of (a manager's roll-up). Only deals they may read; admins are not special."""
        who = email.strip().lower()
        visible = [d for d in self.open_deals() if d.readable_by(who)]
        owned = [d for d in visible if d.owner == who]
        if owned:
            return "own", owned
        return "team", [d for d in visible if who in d.team]

    def recipients(self) -> list[str]:
        """Everyone who owns, or is on the team of, an open deal."""
        people: set[str] = set()
        for deal in self.open_deals():
            people.update(p for p in (deal.owner, *deal.team) if p and deal.readable_by(p))
        return sorted(people)
