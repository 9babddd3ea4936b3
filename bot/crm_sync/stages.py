"""A CRM's deal stage as the API gives it -> one of Closer's stages.

The label (or internal value) goes through the shared stage table of that CRM
(``bot.knowledge.crm_stages``, the same one ``closer ingest crm --format`` uses). A stage the table
does not know (a custom pipeline) falls back on what the API says about it: closed and won or
lost, else its win probability.
"""

from __future__ import annotations

from bot.knowledge.crm_stages import builtin_stage_table, closer_stage

_BY_PROBABILITY = ((0.2, "prospecting"), (0.4, "qualification"), (0.6, "discovery"), (0.8, "proposal"))


def sync_stage(crm: str, label: str, *, closed: bool | None = None, won: bool | None = None,
               probability: float | None = None) -> str:  # fmt: skip
    """Closer's stage. ``probability`` is 0..1 (HubSpot) or 0..100 (Salesforce)."""
    known = closer_stage(label, builtin_stage_table(crm))
    if known is not None:
        return known
    if closed:
        return "closed_won" if won else "closed_lost"
    if probability is not None:
        p = probability / 100 if probability > 1 else probability
        return next((stage for limit, stage in _BY_PROBABILITY if p < limit), "negotiation")
    return "prospecting"
