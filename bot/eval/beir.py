"""Load a retrieval benchmark in BEIR's folder layout.

A dataset folder holds ``corpus.jsonl`` (``{"_id", "title", "text", ...}`` per line),
``queries.jsonl`` (``{"_id", "text", ...}``) and relevance judgments for one or more splits, as
tab-separated ``query-id  corpus-id  score`` rows with an optional header row. Two layouts are
understood for the judgments of split ``s``:

* standard BEIR: ``qrels/s.tsv``;
* flat: ``qrels.tsv`` for the test split (or ``qrels_test.tsv``) and ``qrels_s.tsv`` for the others.

Queries of a split are read from ``queries.jsonl``; ids not found there are looked up in
``queries_s.jsonl`` when that file exists (the flat layout keeps train queries apart).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import InputError


class DatasetError(InputError, ValueError):
    """A dataset file is missing or malformed; ``str(exc)`` is one line naming the file (and line)."""


@dataclass(frozen=True)
class Dataset:
    corpus: dict[str, tuple[str, str]]
    """doc id -> (title, text)"""
    queries: dict[str, str]
    """query id -> text, only for queries with at least one relevant judgment in ``qrels``"""
    qrels: dict[str, dict[str, int]]
    """query id -> doc id -> graded relevance, as judged (scores <= 0 are kept but are not relevant)"""


def load_beir(path: Path, *, split: str = "test") -> Dataset:
    """Load the corpus, and the queries and judgments of ``split``, from the folder ``path``.

    Only queries with at least one relevant (score > 0) judgment are kept, in ``queries`` and in
    ``qrels`` alike. Judged documents absent from the corpus are kept in ``qrels`` (some BEIR
    datasets have them); they simply can never be retrieved.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a dataset folder")
    qrels_file = _find_qrels(path, split)
    qrels = {qid: judged for qid, judged in _read_qrels(qrels_file).items() if _has_relevant(judged)}
    if not qrels:
        raise DatasetError(f"{qrels_file}: no relevant (score > 0) judgments")
    queries = _select_queries(path, split, qrels, qrels_file)
    corpus = _read_corpus(path / "corpus.jsonl")
    return Dataset(corpus=corpus, queries=queries, qrels=qrels)


def _has_relevant(judged: dict[str, int]) -> bool:
    return any(score > 0 for score in judged.values())


def _find_qrels(folder: Path, split: str) -> Path:
    candidates = [folder / "qrels" / f"{split}.tsv"]
    if split == "test":
        candidates.append(folder / "qrels.tsv")
    candidates.append(folder / f"qrels_{split}.tsv")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = ", ".join(str(c.relative_to(folder)) for c in candidates)
    raise DatasetError(f"{folder}: no judgments for split {split!r} (looked for {names})")


def _lines(file: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its newline) for the non-blank lines of ``file``."""
    lineno = 0
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            for lineno, raw in enumerate(handle, start=1):
                line = raw.rstrip("\r\n")
                if line.strip():
                    yield lineno, line
    except FileNotFoundError:
        raise DatasetError(f"{file}: file not found") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{file}:{lineno + 1}: not valid UTF-8") from None
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read ({exc.strerror or exc})") from None


def _read_qrels(file: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    first = True
    for lineno, line in _lines(file):
        fields = line.split("\t")
        if first and len(fields) == 3 and not _is_int(fields[2]):
            first = False  # a header row, e.g. "query-id\tcorpus-id\tscore"
            continue
        first = False
        if len(fields) != 3:
            raise DatasetError(
                f"{file}:{lineno}: expected 3 tab-separated fields (query-id, corpus-id, score), "
                f"got {len(fields)}"
            )
        qid, did, raw_score = (f.strip() for f in fields)
        if not qid or not did:
            raise DatasetError(f"{file}:{lineno}: empty query-id or corpus-id")
        try:
            score = int(raw_score)
        except ValueError:
            raise DatasetError(f"{file}:{lineno}: score {raw_score!r} is not an integer") from None
        qrels.setdefault(qid, {})[did] = score
    return qrels


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _json_objects(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in _lines(file):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{file}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{file}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _field(obj: dict[str, Any], key: str, file: Path, lineno: int, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        what = "missing" if value is None else f"not a string ({type(value).__name__})"
        raise DatasetError(f"{file}:{lineno}: {key!r} is {what}")
    return str(value)


def _read_corpus(file: Path) -> dict[str, tuple[str, str]]:
    corpus: dict[str, tuple[str, str]] = {}
    for lineno, obj in _json_objects(file):
        did = _field(obj, "_id", file, lineno)
        if did in corpus:
            raise DatasetError(f"{file}:{lineno}: duplicate document id {did!r}")
        title = _field(obj, "title", file, lineno, required=False)
        corpus[did] = (title, _field(obj, "text", file, lineno))
    if not corpus:
        raise DatasetError(f"{file}: no documents")
    return corpus


def _read_queries(file: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for lineno, obj in _json_objects(file):
        queries[_field(obj, "_id", file, lineno)] = _field(obj, "text", file, lineno)
    return queries


def _select_queries(
    folder: Path, split: str, qrels: dict[str, dict[str, int]], qrels_file: Path
) -> dict[str, str]:
    main_file, split_file = folder / "queries.jsonl", folder / f"queries_{split}.jsonl"
    if not main_file.is_file() and not split_file.is_file():
        raise DatasetError(f"{main_file}: file not found")
    available = _read_queries(main_file) if main_file.is_file() else {}
    if split_file.is_file() and any(qid not in available for qid in qrels):
        for qid, text in _read_queries(split_file).items():
            available.setdefault(qid, text)
    missing = [qid for qid in qrels if qid not in available]
    if missing:
        looked = main_file.name + (f" or {split_file.name}" if split_file.is_file() else "")
        raise DatasetError(
            f"{qrels_file}: {len(missing)} judged query id(s) not found in {looked} (first: {missing[0]!r})"
        )
    return {qid: available[qid] for qid in qrels}
