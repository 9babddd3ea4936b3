"""Loading BEIR-layout dataset folders: both judgment layouts, errors, and the real SciFact."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from bot.errors import InputError
from bot.eval.beir import Dataset, DatasetError, load_beir
from bot.eval.metrics import evaluate

SCIFACT = Path(__file__).resolve().parents[2] / "shared/data/scifact"

CORPUS: list[dict[str, object]] = [
    {"_id": "d1", "title": "One", "text": "first doc", "metadata": {}},
    {"_id": "d2", "title": "Two", "text": "second doc"},
    {"_id": 3, "text": "no title, numeric id"},
]
QUERIES = [{"_id": "q1", "text": "query one"}, {"_id": "q2", "text": "query two"}]
TRAIN_QUERIES = [{"_id": "t1", "text": "train one"}, {"_id": "q1", "text": "shadowed by queries.jsonl"}]
TEST_QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq1\t3\t0\nq2\td3\t0\n"
TRAIN_QRELS = "query-id\tcorpus-id\tscore\nt1\td2\t1\nq1\td1\t1\n"


def _jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _folder(root: Path, *, flat: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _jsonl(root / "corpus.jsonl", CORPUS)
    _jsonl(root / "queries.jsonl", QUERIES)
    if flat:
        (root / "qrels.tsv").write_text(TEST_QRELS, encoding="utf-8")
        (root / "qrels_train.tsv").write_text(TRAIN_QRELS, encoding="utf-8")
        _jsonl(root / "queries_train.jsonl", TRAIN_QUERIES)
    else:
        (root / "qrels").mkdir()
        (root / "qrels" / "test.tsv").write_text(TEST_QRELS, encoding="utf-8")
        (root / "qrels" / "train.tsv").write_text(TRAIN_QRELS.replace("t1", "q2"), encoding="utf-8")
    return root


@pytest.mark.parametrize("flat", [False, True], ids=["standard", "flat"])
def test_load_test_split(tmp_path: Path, flat: bool) -> None:
    ds = load_beir(_folder(tmp_path / "ds", flat=flat))
    assert ds == Dataset(
        corpus={"d1": ("One", "first doc"), "d2": ("Two", "second doc"), "3": ("", "no title, numeric id")},
        queries={"q1": "query one"},  # q2 has only a score-0 judgment: dropped
        qrels={"q1": {"d1": 1, "d2": 2, "3": 0}},
    )


def test_load_train_split_standard(tmp_path: Path) -> None:
    ds = load_beir(_folder(tmp_path / "ds", flat=False), split="train")
    assert ds.queries == {"q2": "query two", "q1": "query one"}
    assert ds.qrels == {"q2": {"d2": 1}, "q1": {"d1": 1}}


def test_load_train_split_flat_reads_split_queries(tmp_path: Path) -> None:
    ds = load_beir(_folder(tmp_path / "ds", flat=True), split="train")
    # t1 only exists in queries_train.jsonl; q1 is in queries.jsonl, which wins
    assert ds.queries == {"t1": "train one", "q1": "query one"}
    assert ds.qrels == {"t1": {"d2": 1}, "q1": {"d1": 1}}


def test_qrels_without_header_and_blank_lines(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", flat=True)
    (root / "qrels.tsv").write_text("q1\td1\t1\r\n\nq2\td2\t3\r\n", encoding="utf-8")
    ds = load_beir(root)
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 3}}
    assert set(ds.queries) == {"q1", "q2"}


def _error(root: Path, split: str = "test") -> str:
    with pytest.raises(DatasetError) as info:
        load_beir(root, split=split)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", flat=False)
    (root / "corpus.jsonl").write_text(
        json.dumps(CORPUS[0]) + "\n\n" + '{"_id": "d2", "text": oops}\n', encoding="utf-8"
    )
    message = _error(root)
    assert "corpus.jsonl:3:" in message
    assert "invalid JSON" in message


def test_missing_field_names_file_and_line(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", flat=False)
    _jsonl(root / "queries.jsonl", [QUERIES[1], {"_id": "q1"}])
    message = _error(root)
    assert "queries.jsonl:2:" in message
    assert "'text' is missing" in message


def test_non_object_json_line(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", flat=False)
    (root / "corpus.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    assert "corpus.jsonl:1: expected a JSON object" in _error(root)


@pytest.mark.parametrize(
    ("row", "expected"),
    [("q1\td1\tyes", "not an integer"), ("q1\td1", "expected 3 tab-separated fields")],
)
def test_bad_tsv_row_names_file_and_line(tmp_path: Path, row: str, expected: str) -> None:
    root = _folder(tmp_path / "ds", flat=False)
    (root / "qrels" / "test.tsv").write_text(TEST_QRELS + row + "\n", encoding="utf-8")
    message = _error(root)
    assert f"test.tsv:{TEST_QRELS.count(chr(10)) + 1}:" in message
    assert expected in message


def test_missing_files(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", flat=True)
    message = _error(root, split="dev")
    assert "'dev'" in message
    assert "qrels/dev.tsv" in message
    assert "qrels_dev.tsv" in message

    (root / "corpus.jsonl").unlink()
    assert "corpus.jsonl: file not found" in _error(root)
    assert "not a dataset folder" in _error(tmp_path / "nowhere")


def test_judged_query_without_text(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", flat=True)
    (root / "qrels.tsv").write_text("q1\td1\t1\nq7\td1\t1\n", encoding="utf-8")
    message = _error(root)
    assert "qrels.tsv" in message
    assert "'q7'" in message


def test_no_relevant_judgments(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", flat=True)
    (root / "qrels.tsv").write_text("q1\td1\t0\n", encoding="utf-8")
    assert "no relevant" in _error(root)


def test_dataset_error_is_a_value_error_and_an_input_error() -> None:
    assert issubclass(DatasetError, ValueError)
    assert issubclass(DatasetError, InputError)


@pytest.mark.skipif(not SCIFACT.is_dir(), reason=f"{SCIFACT} is not present")
def test_real_scifact() -> None:
    test = load_beir(SCIFACT)
    assert len(test.corpus) == 5183
    assert len(test.queries) == 300
    assert sum(len(judged) for judged in test.qrels.values()) == 339
    assert all(doc in test.corpus for judged in test.qrels.values() for doc in judged)
    oracle = {qid: list(judged) for qid, judged in test.qrels.items()}
    assert evaluate(oracle, test.qrels)["ndcg@10"] == pytest.approx(1.0)

    train = load_beir(SCIFACT, split="train")  # train queries live in queries_train.jsonl
    assert len(train.queries) == 809
    assert sum(len(judged) for judged in train.qrels.values()) == 919
    assert not set(train.queries) & set(test.queries)
