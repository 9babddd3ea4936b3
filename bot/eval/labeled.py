"""Score the knowledge base on a labeled query set in Closer's own format (the sample's queries.jsonl).

One JSON object a line: ``{"query", "as", "relevant": ["type:id", ...], "kind"}``. ``kind``
"forbidden" lists records the user must never see; every other kind is scored like a BEIR query.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.errors import InputError
from bot.eval.metrics import evaluate
from bot.knowledge.base import KnowledgeBase


@dataclass(frozen=True)
class LabeledQuery:
    query: str
    as_email: str
    relevant: tuple[str, ...]
    kind: str


def load_labeled(path: Path) -> list[LabeledQuery]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append(LabeledQuery(obj["query"], obj["as"], tuple(obj["relevant"]), obj.get("kind", "")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{n}: not a labeled query ({type(exc).__name__}: {exc})") from None
    return out


@dataclass(frozen=True)
class LabeledResult:
    by_kind: dict[str, dict[str, float]]
    overall: dict[str, float]
    leaks: list[str]  # "query -> record" for every forbidden record that was returned


def score_labeled(kb: KnowledgeBase, queries: list[LabeledQuery], *, k: int = 100) -> LabeledResult:
    runs: dict[str, dict[str, list[str]]] = defaultdict(dict)
    qrels: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    leaks: list[str] = []
    for i, q in enumerate(queries):
        hits = kb.search(q.query, viewer=kb.viewer(q.as_email), k=k)
        keys = [f"{h.source_type}:{h.source_id}" for h in hits]
        if q.kind == "forbidden":
            leaks += [f"{q.query!r} as {q.as_email} -> {key}" for key in keys if key in q.relevant]
            continue
        qid = str(i)
        runs[q.kind][qid] = runs["all"][qid] = keys
        qrels[q.kind][qid] = qrels["all"][qid] = {key: 1 for key in q.relevant}
    by_kind = {kind: evaluate(runs[kind], qrels[kind]) for kind in sorted(qrels) if kind != "all"}
    return LabeledResult(by_kind, evaluate(runs["all"], qrels["all"]), leaks)
