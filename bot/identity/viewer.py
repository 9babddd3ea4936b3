"""Who is asking, as far as record access goes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Viewer:
    """A person looking at the knowledge base. ``email`` is lower-case; admins see every record."""

    email: str
    is_admin: bool = False

    @classmethod
    def of(cls, email: str, *, admins: frozenset[str]) -> Viewer:
        address = email.strip().lower()
        return cls(email=address, is_admin=address in admins)


# Product docs and public records only: for channel replies other members can read.
PUBLIC_ONLY = Viewer(email="")
