"""The units the knowledge base stores: records (one CRM row or one doc file) and their chunks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

SourceType = Literal["account", "deal", "contact", "note", "doc"]
SOURCE_TYPES: tuple[SourceType, ...] = ("account", "deal", "contact", "note", "doc")
Visibility = Literal["public", "private"]


@dataclass(frozen=True)
class Access:
    """Who may read a record: everyone (public) or its owner, its team and the admins."""

    visibility: Visibility = "private"
    owner: str = ""
    team: tuple[str, ...] = ()

    @property
    def readers(self) -> tuple[str, ...]:
        """Emails (lower-case) that may read a private record, besides admins."""
        people = [self.owner, *self.team]
        return tuple(sorted({p.strip().lower() for p in people if p.strip()}))


PUBLIC = Access(visibility="public")


@dataclass(frozen=True)
class Parent:
    """What a child record takes from a stored or exported account or deal."""

    access: Access
    title: str
    account_id: str = ""  # a deal's account; an account's own id


def access_parent(source_type: str, deal_id: str, account_id: str) -> str | None:
    """Key of the record whose access this one inherits, or None when it carries its own.

    The contract: contacts take their account's access; notes take their deal's, or their
    account's when they have no deal. Readers and the ingest both resolve inheritance with this.
    """
    if source_type == "contact" and account_id:
        return f"account:{account_id}"
    if source_type == "note":
        if deal_id:
            return f"deal:{deal_id}"
        if account_id:
            return f"account:{account_id}"
    return None


@dataclass(frozen=True)
class Chunk:
    """One searchable piece of a record; ``text`` already carries the record's title and key fields."""

    chunk_id: str
    text: str
    position: int


@dataclass(frozen=True)
class Record:
    """One source the user can be pointed at: a CRM row or a product doc."""

    source_type: SourceType
    source_id: str
    title: str
    access: Access
    chunks: tuple[Chunk, ...]
    deal_id: str = ""
    account_id: str = ""
    updated_at: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Unique across source types: notes and deals may share an id space in a CRM."""
        return f"{self.source_type}:{self.source_id}"

    @property
    def content_hash(self) -> str:
        """Changes whenever the record's text or fields change; access is compared on its own, so a
        team change rewrites metadata only, never re-embeds."""
        payload = {
            "title": self.title,
            "deal_id": self.deal_id,
            "account_id": self.account_id,
            "updated_at": self.updated_at,
            "fields": self.fields,
            "chunks": [c.text for c in self.chunks],
        }
        raw = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(raw).hexdigest()


def chunk_id(source_type: SourceType, source_id: str, position: int) -> str:
    """Deterministic ids so a re-run after a crash overwrites instead of duplicating."""
    return f"{source_type}:{source_id}#{position}"


def key_of_chunk(chunk: str) -> str:
    """The ``type:id`` key of the record whose chunk has this id (:func:`chunk_id`)."""
    return chunk.rpartition("#")[0]
