"""The compact BM25 index scores exactly as bm25s does, and a later part keeps the base's statistics."""

from __future__ import annotations

from array import array

import bm25s
import numpy as np

from bot.knowledge.lexical import LexicalIndex, identifiers, tokenize

TEXTS = [
    "Ticket TKT-2291: the gateway locks up after the firmware update; PO 7700012345 is on hold.",
    "Discount approval for Halvorsen: 12% on the renewal, clause 9.4 applies.",
    "",
    "Pilot of the battery lease at two grocery stores, budget 48,000.",
    "the the the",
    "Security review: where is the tenant data hosted? EU only, says the pharma buyer.",
    "Renewal renewal renewal pricing discount discount",
]
QUERIES = ["gateway firmware", "discount renewal", "TKT-2291", "48000 budget", "where hosted", "nothing"]


def bm25s_scores(texts: list[str], query: str, k1: float, b: float) -> np.ndarray:
    bm = bm25s.BM25(k1=k1, b=b)
    vocab: dict[str, int] = {"": 0}
    ids = [array("i", [vocab.setdefault(t, len(vocab)) for t in tokenize(x)] or [0]) for x in texts]
    bm.index((ids, vocab), show_progress=False)
    qids = bm.get_tokens_ids(tokenize(query))
    return np.asarray(bm.get_scores_from_ids(qids), np.float32) if qids else np.zeros(len(texts), np.float32)


def test_scores_equal_bm25s_bit_for_bit() -> None:
    texts = TEXTS * 3 + [f"note {i} about w{i % 7} and w{i % 3}" for i in range(40)]
    for k1, b in ((0.9, 0.4), (1.2, 0.75)):
        index = LexicalIndex.build(texts, k1=k1, b=b)
        for query in QUERIES:
            assert np.array_equal(index.scores(query), bm25s_scores(texts, query, k1, b)), query


def test_a_later_part_is_scored_with_the_base_statistics() -> None:
    base = LexicalIndex.build(TEXTS)
    grown = base.with_part(["gateway firmware again", "a brand-new word zyzzyva"])
    assert len(grown) == len(TEXTS) + 2
    scores = grown.scores("gateway zyzzyva")
    assert np.array_equal(scores[: len(TEXTS)], base.scores("gateway zyzzyva"))  # the base rows unchanged
    assert scores[len(TEXTS)] > 0 and scores[len(TEXTS) + 1] > 0  # new rows found, new words too
    assert grown.df("gateway") == 2


def test_scoring_only_some_rows_gives_the_same_numbers_as_scoring_all() -> None:
    """A search scores only the rows its viewer may read; those scores must be the full scores' own
    (both lookup directions: a rare word's short posting list, a common word's long one)."""
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(0, 12)), p=None)) for _ in range(400)]
    base = LexicalIndex.build(texts[:300], k1=1.2, b=0.4)
    grown = base.with_part(texts[300:])  # two parts: rows are split between them
    queries = [["w0"], ["w1", "w29", "w1"], ["nothing"], [], words[:8]]
    for index in (base, grown):
        for size in (0, 1, 5, 60, len(index)):
            rows = np.sort(rng.choice(len(index), size=size, replace=False))
            for tokens in queries:
                full = index.scores_of_tokens(tokens)
                assert np.array_equal(index.scores_of_tokens(tokens, rows), full[rows]), (size, tokens)
    edge = np.array([0, len(grown) - 1])  # the first and last row, across both parts
    assert np.array_equal(grown.scores("w0 w5", edge), grown.scores("w0 w5")[edge])


def test_tokens_and_identifiers_of_awkward_text() -> None:
    """Identifiers whole then their parts, amounts without commas, stop words out, stems, and other
    scripts' digits and superscripts handled as words (the fast path for plain words must agree)."""
    text = "Ticket TKT-2291: the PO 7700012345 for 48,000 USD, clause 9.4, AX-PRO-2, x² and ١٢٣٤٥ renewals"
    assert tokenize(text) == ["ticket", "tkt-2291", "tkt", "2291", "po", "7700012345", "48000", "usd",
                              "claus", "9.4", "9", "4", "ax-pro-2", "ax", "pro", "2", "x²", "١٢٣٤٥",
                              "renew"]  # fmt: skip
    assert identifiers(text) == ["tkt-2291", "7700012345", "48000", "9.4", "ax-pro-2", "١٢٣٤٥"]
