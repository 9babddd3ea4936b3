"""Learning from 👍/👎, evaluated by replaying feedback on questions it was not given for.

    .venv/bin/python -m bench.feedback_replay

Ingests the sample, then simulates reps rating answers to one labeled set: each answer cites the top
3 sources; the rep gives 👍 when one of them is relevant, 👎 otherwise (the row keeps only the cited
source ids, as the product's feedback rows do). The org-wide prior built from those rows
(bot/knowledge/feedback.py) then re-ranks the *other* set's questions — other reps' words for
overlapping facts — at several weights. "asked again" replays a set on itself (an upper bound).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from bot.config import load_settings
from bot.eval.labeled import LabeledQuery, load_labeled, score_labeled
from bot.knowledge.base import SAMPLE_DIR, KnowledgeBase, tuning_of
from bot.knowledge.feedback import FeedbackPrior
from bot.state.rows import FeedbackRow

ADMIN = "ines.marchetti@brindlewood.example"
CITED = 3
WEIGHTS = (0.0, 0.05, 0.1, 0.2)


def simulate(kb: KnowledgeBase, queries: list[LabeledQuery]) -> list[FeedbackRow]:
    rows = []
    for n, q in enumerate(queries):
        if q.kind == "forbidden":
            continue
        hits = kb.search(q.query, viewer=kb.viewer(q.as_email), k=CITED)
        cited = tuple(f"{h.source_type}:{h.source_id}" for h in hits)
        rating = 1 if set(cited) & set(q.relevant) else -1
        rows.append(
            FeedbackRow(
                user_email=q.as_email,
                request_id=f"replay-{n}",
                rating=rating,
                route="standard",
                sources=cited,
            )
        )  # type: ignore[arg-type]
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(chroma_path=Path(tmp) / "chroma", admin_emails=ADMIN)
        kb = KnowledgeBase.open(settings)
        kb.ingest_sample()
        sets = {"tuning set": load_labeled(SAMPLE_DIR / "queries.jsonl"),
                "held-out paraphrases": load_labeled(SAMPLE_DIR / "queries_heldout.jsonl")}  # fmt: skip
        product = tuning_of(settings)  # feedback_weight is set per column below
        print(
            "| feedback from | evaluated on | " + " | ".join(f"nDCG@10 w={w}" for w in WEIGHTS) + " | leaks |"
        )
        print("|---" * (len(WEIGHTS) + 3) + "|")
        for source, rated in sets.items():
            kb.searcher.feedback = None
            rows = simulate(kb, rated)
            prior = FeedbackPrior.from_rows(rows)
            kb.searcher.feedback = lambda prior=prior: prior  # type: ignore[misc]
            ups = sum(1 for r in rows if r.rating > 0)
            for target, queries in sets.items():
                cells, leaks = [], 0
                for w in WEIGHTS:
                    kb.searcher.tuning = dataclasses.replace(product, feedback_weight=w)
                    result = score_labeled(kb, queries)
                    leaks += len(result.leaks)
                    cells.append(f"{result.overall['ndcg@10']:.3f}")
                label = f"{source} ({ups}👍 {len(rows) - ups}👎)"
                again = " (asked again)" if target == source else ""
                print(f"| {label} | {target}{again} | " + " | ".join(cells) + f" | {leaks} |", flush=True)


if __name__ == "__main__":
    main()
