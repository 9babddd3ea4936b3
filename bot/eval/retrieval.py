"""``closer eval retrieval``: run the product's hybrid search over a BEIR dataset and score it.

The index and fusion are the same code the bot searches with (:mod:`bot.knowledge.search`); only
the records come from the dataset instead of the store. Document vectors are cached by content hash
(``CACHE_DIR/embeddings.sqlite``), so a rerun embeds nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from bot.eval.beir import Dataset
from bot.eval.metrics import evaluate
from bot.identity.viewer import Viewer
from bot.knowledge.embedder import Embedder
from bot.knowledge.index import ChunkMeta, SearchIndex
from bot.knowledge.search import HybridSearcher, SearchTuning

T = TypeVar("T")
EVALUATOR = Viewer(email="eval", is_admin=True)
DEPTH = 100  # results per query: enough for recall@100


def doc_text(title: str, text: str) -> str:
    """How a benchmark document is written for both BM25 and the embedder."""
    title, text = title.strip(), text.strip()
    return f"{title}\n\n{text}" if title else text


def progress_bar(iterable: Iterable[T] | None = None, *, enabled: bool, **kwargs: Any) -> tqdm[T]:
    """A progress bar with rate and ETA on stderr (never stdout, which may carry --json). On a
    terminal it redraws in place; into a file or pipe it writes a line at most every 30 s."""
    tty = sys.stderr.isatty()
    return tqdm(iterable, file=sys.stderr, disable=not enabled, mininterval=0.5 if tty else 30, **kwargs)


def embed_all(embedder: Embedder, texts: Sequence[str], *, progress: bool, batch: int = 64) -> np.ndarray:
    parts = []
    with progress_bar(total=len(texts), unit="doc", desc="embedding", enabled=progress) as bar:
        for start in range(0, len(texts), batch):
            parts.append(embedder.embed(texts[start : start + batch]))
            bar.update(min(batch, len(texts) - start))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), np.float32)


def build_index(dataset: Dataset, embedder: Embedder, *, progress: bool = False, k1: float = 0.9,
                b: float = 0.4) -> SearchIndex:  # fmt: skip
    ids = list(dataset.corpus)
    texts = [doc_text(*dataset.corpus[i]) for i in ids]
    metas = [ChunkMeta(f"doc:{i}#0", "doc", i, dataset.corpus[i][0], visibility="public") for i in ids]
    return SearchIndex(metas, texts, embed_all(embedder, texts, progress=progress), k1=k1, b=b)


def run_queries(
    index: SearchIndex, dataset: Dataset, embedder: Embedder, tuning: SearchTuning, *, progress: bool = False
) -> dict[str, list[str]]:
    searcher = HybridSearcher(lambda: index, embedder, tuning=tuning)
    run: dict[str, list[str]] = {}
    for qid, text in progress_bar(dataset.queries.items(), desc="querying", unit="q", enabled=progress):
        run[qid] = [hit.source_id for hit in searcher.search(text, viewer=EVALUATOR, k=DEPTH)]
    return run


def score(
    index: SearchIndex, dataset: Dataset, embedder: Embedder, tuning: SearchTuning, *, progress: bool = False
) -> dict[str, float]:
    return evaluate(run_queries(index, dataset, embedder, tuning, progress=progress), dataset.qrels)
