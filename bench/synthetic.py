"""A synthetic CRM-like corpus for speed and memory benchmarks (not for quality: vectors are random).

Access mimics a sales org: 250 reps, each chunk private to an owner plus up to two teammates, 1%
public, so one rep sees about 2% of the chunks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from bot.knowledge.index import ChunkMeta

REPS = [f"rep{i:03d}@bench.example" for i in range(250)]
# Sales words sprinkled into chunks and questions, so the vocabulary expansion runs its real second
# BM25 pass (bot/knowledge/expansion.py) instead of finding nothing.
SALES = ["discount", "competitor", "approval", "pricing", "renewal", "pilot", "contract", "security",
         "delivery", "outage", "battery", "lease", "grocery", "pharma", "reference", "budget"]  # fmt: skip


def corpus(n: int, *, seed: int = 7, dim: int = 384) -> tuple[list[ChunkMeta], list[str], np.ndarray]:
    metas: list[ChunkMeta] = []
    texts: list[str] = []
    blocks: list[np.ndarray] = []
    for m, t, v in corpus_batches(n, seed=seed, dim=dim):
        metas += m
        texts += t
        blocks.append(v)
    return metas, texts, np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)


def corpus_batches(
    n: int, *, seed: int = 7, dim: int = 384, batch: int = 10_000
) -> Iterator[tuple[list[ChunkMeta], list[str], np.ndarray]]:
    """The corpus in batches of ``batch`` rows, so a 1M-chunk store is written in constant memory.
    Each batch's vectors come from their own generator (seeded by the batch's first row)."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(20_000)]
    ranks = np.arange(1, len(vocab) + 1)
    zipf = (1 / ranks) / (1 / ranks).sum()
    for start in range(0, n, batch):
        metas: list[ChunkMeta] = []
        texts: list[str] = []
        for i in range(start, min(start + batch, n)):
            words = rng.choice(len(vocab), size=int(rng.integers(40, 90)), p=zipf)
            text = (
                " ".join(vocab[w] for w in words)
                + " "
                + " ".join(rng.choice(SALES, size=int(rng.integers(0, 4))))
            )
            if i % 97 == 0:
                text += f" TKT-{i:06d}"
            public = rng.random() < 0.01
            owner = REPS[int(rng.integers(len(REPS)))]
            team = tuple(REPS[int(j)] for j in rng.integers(len(REPS), size=int(rng.integers(0, 3))))
            source = f"N{i // 2}"  # two chunks per note
            metas.append(ChunkMeta(f"note:{source}#{i % 2}", "note", source, f"Note {source}",
                                   deal_id=f"D{i // 40}", account_id=f"A{i // 400}",
                                   visibility="public" if public else "private",
                                   readers=tuple(sorted({owner, *team}))))  # fmt: skip
            texts.append(text)
        vectors = np.random.default_rng((seed, start)).standard_normal((len(metas), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield metas, texts, vectors


def queries(count: int, *, seed: int = 11) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(f"w{int(w)}" for w in rng.integers(0, 3000, size=int(rng.integers(3, 9))))
        + f" {SALES[int(rng.integers(len(SALES)))]}"
        for _ in range(count)
    ]
