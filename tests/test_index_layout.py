"""The compact layout ranks exactly as the float32 layout: the int8 candidate pass plus float32
rescoring returns the same top sources as exact scoring of every visible row."""

from __future__ import annotations

import numpy as np
import pytest

from bot.identity.viewer import Viewer
from bot.knowledge.index import ChunkMeta, SearchIndex, quantize, top_sources


def _index(rng: np.random.Generator, n: int, dim: int, clustered: bool) -> SearchIndex:
    if clustered:  # many near-duplicates: the int8 error matters most when scores are close
        centres = rng.standard_normal((max(1, n // 20), dim))
        vectors = centres[rng.integers(len(centres), size=n)] + 0.02 * rng.standard_normal((n, dim))
    else:
        vectors = rng.standard_normal((n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    metas = [
        ChunkMeta(f"note:S{i // 3}#{i % 3}", "note", f"S{i // 3}", "t", visibility="public") for i in range(n)
    ]
    return SearchIndex(metas, ["x"] * n, vectors)


@pytest.mark.parametrize("clustered", [False, True])
def test_dense_top_equals_exact_scoring(clustered: bool) -> None:
    rng = np.random.default_rng(3)
    for trial in range(40):
        n, dim = int(rng.integers(1, 600)), int(rng.choice([8, 64, 384]))
        index = _index(rng, n, dim, clustered)
        query = index.vectors_of([int(rng.integers(n))])[0] + 0.05 * rng.standard_normal(dim).astype(
            np.float32
        )
        query /= np.linalg.norm(query)
        rows = np.flatnonzero(rng.random(n) < 0.5)
        for k in (1, 10, 100):
            got = index.dense_top(query, rows, k)
            want = top_sources(rows, index.vectors_of(rows) @ query, k, index.source_codes)
            assert np.array_equal(got[0], want[0]), (trial, k)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-7)  # BLAS may round a last bit


def test_int8_codes_are_within_half_a_step() -> None:
    vectors = np.random.default_rng(5).standard_normal((50, 384)).astype(np.float32)
    codes, scale = quantize(vectors)
    assert np.all(np.abs(codes * scale[:, None] - vectors) <= scale[:, None] / 2 + 1e-7)


def test_metadata_and_texts_read_back_per_row() -> None:
    metas = [
        ChunkMeta(
            "deal:D1#0", "deal", "D1", "Acme Expansion", "D1", "A1", "private", ("a@x", "b@x"), "2026-11-20"
        ),
        ChunkMeta("doc:p.md#0", "doc", "p.md", "Pricing", visibility="public"),
        ChunkMeta("note:N1#1", "note", "N1", "Call — naïve ünïcode ✓", "D1", "A1", "private", ("b@x",), ""),
    ]
    texts = ["Acme Expansion, stage negotiation", "", "Ticket TKT-2291 — ünïcode text ✓"]
    index = SearchIndex(metas, texts, np.eye(3, 4, dtype=np.float32))
    assert list(index.metas) == metas and list(index.texts) == texts
    assert [index.row_of(m.chunk_id) for m in metas] == [0, 1, 2] and index.row_of("nope") == -1
    assert index.rows_of_source("note:N1").tolist() == [2]
    assert index.rows_of_account("A1").tolist() == [0, 2]  # docs are never scoped to an account
    assert index.rows_with_identifier("tkt-2291").tolist() == [2]
    assert index.visible(Viewer("b@x")).tolist() == [True, True, True]
    assert index.visible(Viewer("a@x")).tolist() == [True, True, False]
    assert index.readers() == frozenset({"a@x", "b@x"})
