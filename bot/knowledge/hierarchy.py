"""Parent propagation: a note or contact inherits part of its account's and deal's match.

Reps describe a customer rather than name it ("the pharma prospect", "the supermarket chain"), and the
words that describe it — industry, region, deal name — live on the account and deal records, not in
each note. When the question matches an account (or deal) record, the records under it gain a share
of that match, so the note about the fact rises above generic documents that happen to share words.
A question that names the account outright counts as a full match of it, so "what discount did
Halvorsen ask for?" prefers Halvorsen's notes over the generic discount policy. Only rows already
among the candidates (visible to the viewer) are touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.knowledge.index import SearchIndex


def propagate_parents(
    index: SearchIndex, fused: dict[int, float], *, account: float, deal: float, named: Sequence[str] = ()
) -> None:
    """Add ``account`` × the best fused score of each row's account record (and ``deal`` × its deal's).

    An account the question names outright (``named``, from entity scoping) counts as a full match.
    """
    best: dict[str, float] = {f"account:{account_id}": 1.0 for account_id in named}
    briefs = {row: index.brief(row) for row in fused}
    for row, score in fused.items():
        source_type, key, _, _ = briefs[row]
        if source_type in ("account", "deal"):
            best[key] = max(best.get(key, 0.0), score)
    if not best:
        return
    for row in list(fused):
        source_type, _, account_id, deal_id = briefs[row]
        if source_type == "doc":
            continue
        extra = 0.0
        if account_id and source_type != "account":
            extra += account * best.get(f"account:{account_id}", 0.0)
        if deal_id and source_type not in ("deal", "account"):
            extra += deal * best.get(f"deal:{deal_id}", 0.0)
        fused[row] += extra
