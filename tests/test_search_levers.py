"""The paraphrase levers one by one, on a tiny index: expansion, parent propagation, pseudo-relevance
feedback and the org's 👍/👎 prior."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np

from bot.identity.viewer import Viewer
from bot.knowledge.expansion import CONCEPTS, concepts_of, expansion_tokens
from bot.knowledge.feedback import FeedbackPrior, FeedbackSource
from bot.knowledge.index import ChunkMeta, SearchIndex
from bot.knowledge.lexical import tokenize
from bot.knowledge.search import HybridSearcher, SearchTuning
from bot.state.rows import FeedbackRow

ADMIN = Viewer(email="admin@x.example", is_admin=True)


class _NoEmbedder:
    model_id, dimension = "none", 4

    def embed(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("BM25-only tuning must not embed")


def _index(rows: list[tuple[ChunkMeta, str]]) -> SearchIndex:
    return SearchIndex([m for m, _ in rows], [t for _, t in rows], np.zeros((len(rows), 4), np.float32))


def _search(index: SearchIndex, query: str, **tuning: object) -> list[str]:
    t = dataclasses.replace(SearchTuning(fusion="bm25"), **tuning)  # type: ignore[arg-type]
    searcher = HybridSearcher(lambda: index, _NoEmbedder(), tuning=t)  # type: ignore[arg-type]
    return [h.source_id for h in searcher.search(query, viewer=ADMIN, k=5)]


def test_concepts_match_phrases_and_inflections() -> None:
    assert concepts_of("did they pick a cheaper vendor?")  # "cheaper", "vendor", "pick"
    assert concepts_of("the works council") == concepts_of("Works Councils")
    assert concepts_of("zzz qqq") == []
    extra = expansion_tokens("any discounts?")
    assert "rebat" in extra and "discount" not in extra  # the question's own words are not repeated


def test_every_concept_word_tokenizes() -> None:
    for words in CONCEPTS:
        assert all(tokenize(w) for w in words), words


def test_expansion_finds_a_note_written_in_crm_words() -> None:
    index = _index([
        (ChunkMeta("n1#0", "note", "n1", "Lost to Vantrix"), "Closed lost: they went with Vantrix on price."),
        (ChunkMeta("n2#0", "note", "n2", "Kickoff"), "Kickoff meeting with the operations team, cheaper shipping."),
    ])  # fmt: skip
    query = "did they pick someone else?"
    assert _search(index, query, expansion_weight=0.0, account_weight=0.0, deal_weight=0.0) == []
    assert _search(index, query, expansion_weight=0.5, account_weight=0.0, deal_weight=0.0)[0] == "n1"


def test_parent_propagation_lifts_the_described_accounts_notes() -> None:
    index = _index([
        (ChunkMeta("a1#0", "account", "a1", "Corvane", account_id="a1"), "Account: Corvane. Industry: pharmaceutical distribution"),
        (ChunkMeta("a2#0", "account", "a2", "Bramble", account_id="a2"), "Account: Bramble. Industry: grocery retail"),
        (ChunkMeta("n2#0", "note", "n2", "Hosting", account_id="a2"), "Security asked where the tenant data is hosted."),
        (ChunkMeta("n1#0", "note", "n1", "Hosting", account_id="a1"), "Security asked where the tenant data is hosted."),
    ])  # fmt: skip
    query = "where is the data hosted for the pharmaceutical prospect?"
    flat = _search(index, query, expansion_weight=0.0, account_weight=0.0, deal_weight=0.0)
    lifted = _search(index, query, expansion_weight=0.0, account_weight=0.3, deal_weight=0.0)
    assert flat.index("n2") < flat.index("n1")  # same words: the tie goes to the first row
    assert lifted.index("n1") < lifted.index("n2")  # the pharma account's note gains from its account


def test_pseudo_relevance_feedback_adds_words_of_the_top_rows() -> None:
    index = _index([
        (ChunkMeta("d1#0", "doc", "d1", "a"), "gateway lockups firmware fix"),
        (ChunkMeta("d2#0", "doc", "d2", "b"), "firmware upgrade schedule"),
        (ChunkMeta("d3#0", "doc", "d3", "c"), "picnic menu"),
    ])  # fmt: skip
    plain = _search(index, "gateway lockups", expansion_weight=0.0, structure=False)
    fed = _search(index, "gateway lockups", expansion_weight=0.0, structure=False, prf_docs=1, prf_terms=3)
    assert plain == ["d1"] and fed[:2] == ["d1", "d2"]


def _vote(rating: int, *sources: str, user: str = "rep@x.example", days_ago: float = 0.0) -> FeedbackRow:
    at = datetime(2026, 11, 25, tzinfo=UTC) - timedelta(days=days_ago)
    return FeedbackRow(
        user_email=user, request_id="r1", rating=rating, route="standard", sources=sources, at=at
    )  # type: ignore[arg-type]


def test_feedback_prior_is_bounded_and_fades() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    one = FeedbackPrior.from_rows([_vote(1, "note:a")], now=now)
    many = FeedbackPrior.from_rows([_vote(1, "note:a", user=f"r{i}@x.example") for i in range(50)], now=now)
    old = FeedbackPrior.from_rows([_vote(1, "note:a", days_ago=120)], now=now)
    mixed = FeedbackPrior.from_rows([_vote(1, "note:a"), _vote(-1, "note:a"), _vote(-1, "note:b")], now=now)
    assert one.of("note:a") == 1 / 3 and 0.9 < many.of("note:a") < 1.0
    assert 0 < old.of("note:a") < one.of("note:a")
    assert mixed.of("note:a") == 0.0 and mixed.of("note:b") < 0 and mixed.of("note:zzz") == 0.0


def test_feedback_reorders_near_ties_for_everyone_but_never_brings_a_record_in() -> None:
    alice = Viewer(email="alice@x.example")
    index = _index([
        (ChunkMeta("n1#0", "note", "n1", "a", visibility="public"), "gateway firmware lockups fixed"),
        (ChunkMeta("n2#0", "note", "n2", "b", visibility="public"), "gateway firmware lockups fixed"),
        (ChunkMeta("n3#0", "note", "n3", "c", readers=("bob@x.example",)), "gateway firmware lockups"),
        (ChunkMeta("n4#0", "note", "n4", "d", visibility="public"), "picnic menu"),
    ])  # fmt: skip
    t = SearchTuning(fusion="bm25", expansion_weight=0.0, feedback_weight=0.1)
    searcher = HybridSearcher(lambda: index, _NoEmbedder(), tuning=t)  # type: ignore[arg-type]
    assert [h.source_id for h in searcher.search("gateway lockups", viewer=alice)] == ["n1", "n2"]
    # Bob and Carol liked n2, n3 and n4 in their answers; Alice's ranking learns from the org.
    rows = [_vote(1, "note:n2", "note:n3", "note:n4", user=u) for u in ("bob@x.example", "carol@x.example")]
    prior = FeedbackPrior.from_rows(rows, now=datetime(2026, 11, 25, tzinfo=UTC))
    searcher.feedback = lambda: prior
    assert [h.source_id for h in searcher.search("gateway lockups", viewer=alice)] == ["n2", "n1"]


def test_feedback_source_reloads_at_most_once_per_refresh() -> None:
    calls: list[int] = []

    def load() -> list[FeedbackRow]:
        calls.append(1)
        return [_vote(1, "note:a")]

    source = FeedbackSource(load, refresh=3600)
    assert source().of("note:a") > 0 and source().of("note:a") > 0
    assert len(calls) == 1
