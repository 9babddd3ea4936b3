"""What the sync engine needs from a CRM: streams of changed records, their rows, what was deleted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.knowledge.problems import Problem
from bot.knowledge.records import SourceType

from .kept import Kept

OVERLAP = timedelta(minutes=5)  # CRM search indexes lag behind writes; re-reading a little is free

Row = tuple[str, dict[str, str]]
"""``(origin, row)``: a row in Closer's CRM columns and where it came from (``hubspot deal 123``)."""

STEM_OF: dict[SourceType, str] = {
    "account": "accounts",
    "deal": "deals",
    "contact": "contacts",
    "note": "notes",
}


@dataclass(frozen=True)
class Stream:
    """One object type read incrementally, e.g. HubSpot ``deals`` or Salesforce ``Opportunity``.

    ``kind`` is the Closer source type its records become, or None for a stream that only changes
    other records' access (Salesforce team members)."""

    name: str
    kind: SourceType | None


@dataclass
class Page:
    records: list[dict[str, Any]]
    last_id: str  # the last id the page covers (deleted ones included)
    total: int | None = None  # how many the query matched, when the CRM says (for progress)
    gone: list[str] = field(default_factory=list)  # ids in the page the CRM deleted (when it says so)


@dataclass
class Mapped:
    """A batch of records as Closer rows, plus the records that cannot be represented and why."""

    rows: dict[str, list[Row]] = field(default_factory=dict)  # stem -> rows
    skipped: list[tuple[SourceType, str, str]] = field(default_factory=list)  # (kind, id, reason)

    def add(self, kind: SourceType, origin: str, row: dict[str, str]) -> None:
        self.rows.setdefault(STEM_OF[kind], []).append((origin, row))


class CrmSource(Protocol):
    """One CRM, signed in. Calls count into ``counter`` (``bot.crm_sync.http.CallCounter``)."""

    name: str
    streams: tuple[Stream, ...]
    notices: list[Problem]  # what the run should say (e.g. an object the CRM would not let it read)

    def prepare(self, kept: Kept) -> None:
        """Get what every batch needs (owners, teams, pipelines), read or as ``kept`` between runs."""

    def pages(self, stream: Stream, *, since: datetime | None, until: datetime,
              after_id: str | None) -> Iterator[Page]:  # fmt: skip
        """Records of ``stream`` modified in [since, until), in ascending id order after ``after_id``."""

    def map(self, stream: Stream, records: list[dict[str, Any]]) -> Mapped:
        """Closer rows for a batch of ``stream``'s records (reading their associations as needed)."""

    def deleted(self, stream: Stream, *, since: datetime | None, until: datetime) -> list[str]:
        """Ids of ``stream``'s records deleted/archived since ``since`` (a source may check less often,
        through its ``Kept``, when the CRM cannot say what was deleted since a time)."""

    def check(self) -> str:
        """Sign in and make one cheap read; a line saying what was reached. Raises CrmError."""
