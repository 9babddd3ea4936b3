"""What the two buttons under each deal of a digest do; the Slack door routes its actions here.

- "Draft follow-up" (``action_id`` :data:`FOLLOWUP_ACTION`, value = the deal id) →
  :func:`draft_followup`
- "Snooze this deal for a week" (``action_id`` :data:`SNOOZE_ACTION`, value = the deal id) →
  :func:`snooze`
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.assistant import Assistant, Draft
    from bot.state.store import StateStore

FOLLOWUP_ACTION = "digest_followup"
SNOOZE_ACTION = "digest_snooze"
SNOOZE_DAYS = 7


def draft_followup(assistant: Assistant, user_email: str, deal_id: str, *, surface: str = "slack") -> Draft:
    """A follow-up email draft for the deal, on the rep's own route and with their access.

    Raises like :meth:`Assistant.followup`: ``InputError`` when the rep may not see the deal,
    ``PrivacyError`` when their request must stay private and cannot.
    """
    return assistant.followup(deal_id, user=user_email, surface=surface)


def snoozed_until(today: date) -> date:
    """The first day the deal shows again: a week after ``today``."""
    return today + timedelta(days=SNOOZE_DAYS)


def snooze(state: StateStore, user_email: str, deal_id: str, today: date) -> None:
    """Leave the deal out of ``user_email``'s digests for a week (today included); only their own
    digest changes, so no access check is needed. Snoozing again restarts the week."""
    state.snooze_deal(user_email, deal_id, snoozed_until(today))
