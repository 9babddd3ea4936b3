"""The bundled sample company, end to end: ingest it, then score the labeled query set.

Floors sit a little under the measured figures (docs/benchmarks.md) so a real regression fails
while the deterministic pipeline passes; the forbidden queries must leak nothing, ever.
"""

from __future__ import annotations

import re

import pytest

from bot.config import load_settings
from bot.eval.labeled import LabeledResult, load_labeled, score_labeled
from bot.knowledge.base import SAMPLE_DIR, KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from tests.conftest import SampleStore

ADMIN = "ines.marchetti@brindlewood.example"


@pytest.fixture(scope="module")
def kb(
    tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder, sample_store: SampleStore
) -> KnowledgeBase:
    ingest = sample_store.ingest  # `closer ingest sample`, once for the run
    assert ingest.returncode == 0 and "closer:" not in ingest.stderr, ingest.stderr
    assert re.search(
        r"^sample CRM: 208 added, 0 updated, 0 unchanged, 0 removed; \d+ chunks", ingest.stdout, re.M
    )
    assert re.search(
        r"^sample docs: 11 added, 0 updated, 0 unchanged, 0 removed; \d+ chunks", ingest.stdout, re.M
    )
    assert "problem" not in ingest.stdout, ingest.stdout
    root = sample_store.copy_to(tmp_path_factory.mktemp("sample"))
    settings = load_settings(chroma_path=root / "chroma", admin_emails=ADMIN, index_refresh_seconds=0)
    return KnowledgeBase.open(settings, embedder)


@pytest.fixture(scope="module")
def result(kb: KnowledgeBase) -> LabeledResult:
    return score_labeled(kb, load_labeled(SAMPLE_DIR / "queries.jsonl"))


def test_sample_has_the_promised_shape() -> None:
    crm = SAMPLE_DIR / "crm"
    rows = {name: len((crm / f"{name}.csv").read_text().strip().splitlines()) - 1 for name in
            ("accounts", "deals", "contacts", "notes")}  # fmt: skip
    assert rows["accounts"] == 8 and rows["deals"] == 20 and rows["notes"] >= 150
    assert len([p for p in (SAMPLE_DIR / "docs").rglob("*") if p.is_file()]) >= 10


def test_no_forbidden_record_is_ever_returned(result: LabeledResult) -> None:
    assert result.leaks == []


def test_identifiers_find_their_records_first(kb: KnowledgeBase, result: LabeledResult) -> None:
    assert result.by_kind["identifier"]["ndcg@10"] >= 0.95
    for query in load_labeled(SAMPLE_DIR / "queries.jsonl"):
        if query.kind == "identifier":
            top = kb.search(query.query, viewer=kb.viewer(query.as_email), k=1)[0]
            assert f"{top.source_type}:{top.source_id}" in query.relevant, query.query


def test_quality_floors(result: LabeledResult) -> None:
    assert result.overall["ndcg@10"] >= 0.72
    assert result.overall["recall@100"] >= 0.95
    assert result.by_kind["doc"]["recall@10"] >= 0.9
    assert result.by_kind["paraphrase"]["ndcg@10"] >= 0.55  # 0.32 before expansion + parent propagation
    assert result.by_kind["paraphrase"]["recall@10"] >= 0.75


def test_held_out_paraphrases_hold(kb: KnowledgeBase) -> None:
    # Written before the levers were built and never tuned on (docs/benchmarks.md): 0.63 before them.
    held = score_labeled(kb, load_labeled(SAMPLE_DIR / "queries_heldout.jsonl"))
    assert held.by_kind["paraphrase"]["ndcg@10"] >= 0.70
    assert held.leaks == []


def test_the_readme_question_finds_halvorsens_discount_note_first(kb: KnowledgeBase) -> None:
    # Issue 11 point 11: the policy doc and the battlecard used to outrank the account's own notes
    # because the account's name is taken out of the BM25 query. A named account now counts as a full
    # match of its account record, and its records gain from it (bot/knowledge/hierarchy.py).
    hits = kb.search(
        "what discount did Halvorsen ask for?", viewer=kb.viewer("maya.okafor@brindlewood.example")
    )
    top = hits[0]
    assert (top.source_type, top.account_id) == ("note", "ACC-001"), [h.source_id for h in hits[:3]]
    assert "discount" in top.text.lower()


def test_exact_ids_and_paraphrases(kb: KnowledgeBase) -> None:
    admin = kb.viewer(ADMIN)
    assert kb.search("PO 7700012345", viewer=admin, k=1)[0].source_id == "N-0044"
    hits = kb.search("which robot model handles cold rooms?", viewer=admin, k=5)
    assert any("AX-PRO-2-CR" in h.text for h in hits)


def test_overview_puts_the_account_first(kb: KnowledgeBase) -> None:
    for query in load_labeled(SAMPLE_DIR / "queries.jsonl"):
        if query.kind == "overview":
            hits = kb.search(query.query, viewer=kb.viewer(query.as_email), k=10)
            assert hits[0].source_type == "account", query.query


def test_unknown_user_sees_public_records_and_docs_only(kb: KnowledgeBase) -> None:
    hits = kb.search("pricing discount robots", viewer=kb.viewer("stranger@elsewhere.example"), k=50)
    index = kb.index()
    public = {m.source_key for m in index.metas if m.visibility == "public"}
    assert hits and {f"{h.source_type}:{h.source_id}" for h in hits} <= public
