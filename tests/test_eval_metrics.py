"""Ranking metrics against values computed by hand (log2(3) = 1.5849625...)."""

from __future__ import annotations

import math

import pytest

from bot.eval.metrics import evaluate, mrr_at_k, ndcg_at_k, recall_at_k

INV_LOG2_3 = 1 / math.log2(3)  # discount at rank 2: 0.6309297535714575
GRADED = {"a": 2, "b": 1, "c": 0}


def test_ndcg_graded_uses_linear_gains() -> None:
    # DCG = 1/log2(2) + 0 + 2/log2(4) = 2;  IDCG = 2/log2(2) + 1/log2(3) = 2.6309...
    assert ndcg_at_k(["b", "x", "a"], GRADED, 3) == pytest.approx(0.7601875334318685)
    # the exponential (2**rel - 1) variant would give (1 + 3/2) / (3 + 1/log2(3)) = 0.6885...
    assert ndcg_at_k(["b", "x", "a"], GRADED, 3) != pytest.approx(2.5 / (3 + INV_LOG2_3))


def test_ndcg_cutoff_truncates_ranking_and_ideal() -> None:
    # top 1 is "b" (gain 1); ideal top 1 is "a" (gain 2)
    assert ndcg_at_k(["b", "a"], GRADED, 1) == pytest.approx(0.5)
    assert ndcg_at_k(["a", "b"], GRADED, 1) == pytest.approx(1.0)


def test_ndcg_perfect_empty_and_unjudged() -> None:
    assert ndcg_at_k(["a", "b", "c"], GRADED, 10) == pytest.approx(1.0)
    assert ndcg_at_k([], GRADED, 10) == 0.0
    assert ndcg_at_k(["c", "x"], GRADED, 10) == 0.0  # grade 0 is not relevant
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # nothing relevant: 0, not a division by zero


def test_repeated_document_counts_once() -> None:
    # ["x", "x", "a"] is read as ["x", "a"]: "a" sits at rank 2
    assert ndcg_at_k(["x", "x", "a"], {"a": 1}, 2) == pytest.approx(INV_LOG2_3)
    assert mrr_at_k(["x", "x", "a"], {"a": 1}, 2) == pytest.approx(0.5)
    assert recall_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 2) == pytest.approx(1.0)


def test_mrr() -> None:
    assert mrr_at_k(["x", "y", "a"], GRADED, 3) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "a"], GRADED, 2) == 0.0
    assert mrr_at_k(["c", "b", "a"], GRADED, 10) == pytest.approx(0.5)  # "c" has grade 0
    assert mrr_at_k(["a"], GRADED, 1) == 1.0


def test_recall() -> None:
    assert recall_at_k(["a", "x", "y", "b"], GRADED, 2) == pytest.approx(0.5)
    assert recall_at_k(["a", "x", "y", "b"], GRADED, 4) == pytest.approx(1.0)
    assert recall_at_k(["c"], GRADED, 10) == 0.0  # "c" is judged but not relevant
    assert recall_at_k(["a"], {"a": 0}, 10) == 0.0


@pytest.mark.parametrize("k", [0, -1])
def test_bad_cutoff(k: int) -> None:
    for metric in (ndcg_at_k, mrr_at_k, recall_at_k):
        with pytest.raises(ValueError, match="cutoff"):
            metric(["a"], GRADED, k)


def test_evaluate_averages_over_qrels_queries() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}, "q3": {"d": 1}}
    filler = [f"n{i}" for i in range(47)]
    run = {
        "q1": ["a"],
        "q2": ["x", "b", *filler, "c"],  # "b" at rank 2, "c" at rank 50
        "q9": ["a"],  # not judged: ignored; q3 is missing from the run: scores 0
    }
    scores = evaluate(run, qrels)
    assert list(scores) == ["ndcg@10", "mrr@10", "recall@10", "recall@100"]
    # q2: DCG = 1/log2(3), IDCG = 1 + 1/log2(3)  ->  0.38685...
    assert scores["ndcg@10"] == pytest.approx((1 + INV_LOG2_3 / (1 + INV_LOG2_3)) / 3)
    assert scores["ndcg@10"] == pytest.approx(0.46228426907818054)
    assert scores["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores["recall@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores["recall@100"] == pytest.approx((1 + 1 + 0) / 3)


def test_evaluate_custom_cutoffs() -> None:
    scores = evaluate({"q": ["x", "a"]}, {"q": {"a": 1}}, ks=(5, 1))
    assert scores == {
        "ndcg@1": 0.0,
        "mrr@1": 0.0,
        "recall@1": 0.0,
        "recall@5": 1.0,
    }


def test_evaluate_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="qrels"):
        evaluate({"q": ["a"]}, {})
    with pytest.raises(ValueError, match="ks"):
        evaluate({"q": ["a"]}, {"q": {"a": 1}}, ks=())
