"""What a CRM sync reads besides changed records, kept in the state database between runs.

Some of a CRM has no "changed since" filter: HubSpot's owners and deal pipelines, and its lists of
archived records. Read on every run, they would be a fixed cost whatever changed — most of the calls
of an incremental run. So they are kept (``crm_sync_cache``) and read again only when older than
``CRM_SYNC_REFRESH_MINUTES``, on a ``--full`` run, or — for reference data — as soon as a record names
an id the kept copy lacks (the source asks :meth:`Kept.renew`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from bot.state.store import StateStore

T = TypeVar("T")


class Kept:
    def __init__(
        self, state: StateStore, crm: str, *, max_age: timedelta, now: datetime, refresh: bool
    ) -> None:
        self.state, self.crm, self.max_age, self.now, self.refresh = state, crm, max_age, now, refresh

    def _fresh(self, at: datetime) -> bool:
        return not self.refresh and self.now - at < self.max_age

    def get(self, name: str, fetch: Callable[[], T]) -> T:
        """The kept value of ``name`` while it is fresh, else ``fetch()``'s, kept from now on."""
        kept = self.state.sync_cache(self.crm, name)
        if kept is not None and kept[0] is not None and self._fresh(kept[1]):
            return kept[0]  # type: ignore[no-any-return]
        return self.renew(name, fetch)

    def renew(self, name: str, fetch: Callable[[], T]) -> T:
        value = fetch()
        self.state.save_sync_cache(self.crm, name, value, at=self.now)
        return value

    def deletions_due(self, stream: str) -> tuple[bool, datetime | None]:
        """Whether ``stream``'s deletions should be read now, and until when they are known (None:
        never): a source whose CRM cannot list deletions since a time reads them on this cadence."""
        kept = self.state.sync_cache(self.crm, f"deletions {stream}")
        if kept is None:
            return True, None
        return not self._fresh(kept[1]), kept[1]

    def deletions_known(self, stream: str, until: datetime) -> None:
        """Every deletion in ``stream`` before ``until`` is applied (read, or pruned by a full run)."""
        self.state.save_sync_cache(self.crm, f"deletions {stream}", None, at=until)
