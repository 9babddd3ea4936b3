"""The bot's state database (``STATE_URL``): SQLite by default, PostgreSQL for several replicas.

- :mod:`~bot.state.store` — :class:`StateStore`, the one object the rest of the bot uses
- :mod:`~bot.state.rows` — the values it stores and returns (:class:`AuditRow`, :class:`FeedbackRow`)
- :mod:`~bot.state.tables` — the schema as SQLAlchemy Core tables
- :mod:`~bot.state.migrate` — Alembic upgrades run from code, safe when several processes start at once
- :mod:`~bot.state.engine` — engines per dialect and password-free error messages
"""

from __future__ import annotations

from bot.state.migrate import head_revision
from bot.state.rows import AuditRow, DigestStatus, FeedbackRow, Outcome, Route
from bot.state.store import StateStore

__all__ = ["AuditRow", "DigestStatus", "FeedbackRow", "Outcome", "Route", "StateStore", "head_revision"]
