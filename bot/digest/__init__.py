"""Deal digests: which open deals a rep should look at today, and why. No Slack imports here.

- :mod:`~bot.digest.model` — :class:`Deal`, :class:`DigestLine`, :class:`Digest` (and its JSON)
- :mod:`~bot.digest.flags` — overdue, closing_soon, stale, stage_changed; the urgency order
- :mod:`~bot.digest.pipeline` — the deals and note dates, read from the store's metadata
- :mod:`~bot.digest.suggest` — a one-line next step per flagged deal, on the rep's LLM route
- :mod:`~bot.digest.service` — :class:`DigestService`: build, and send exactly once per rep and day
- :mod:`~bot.digest.actions` — the digest's buttons: draft a follow-up, snooze a deal for a week
- :mod:`~bot.digest.schedule` — the in-process schedule (per rep time zone) of ``closer serve``
- :mod:`~bot.digest.text` — flag labels and the terminal rendering
"""

from __future__ import annotations

from bot.digest.model import Deal, Digest, DigestLine, Flag
from bot.digest.service import Deliver, DeliveryError, DigestService, SendResult

__all__ = ["Deal", "Deliver", "DeliveryError", "Digest", "DigestLine", "DigestService", "Flag", "SendResult"]
