"""The compact layout ranks exactly as the float32 layout: the int8 candidate pass plus float32
rescoring returns the same top sources as exact scoring of every visible row."""

from __future__ import annotations

import numpy as np
import pytest

import bot.knowledge.index as index_module
from bot.identity.viewer import Viewer
from bot.knowledge.columns import RowFile, StringTable
from bot.knowledge.index import ChunkMeta, SearchIndex, quantize, top_sources
from bot.knowledge.int8_dot import int8_dot


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


@pytest.mark.parametrize("kernel", ["int8", "float"])
@pytest.mark.parametrize("clustered", [False, True])
def test_dense_top_equals_exact_scoring(
    clustered: bool, kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidate pass's bound holds for both kernels: onnxruntime's int8 × int8 product (query
    quantized too) and, where that kernel is not exact, int8 codes converted to float32."""
    if kernel == "float":
        monkeypatch.setattr(index_module, "int8_dot", lambda: None)
    else:
        assert int8_dot() is not None  # exact on this machine's CPU (checked at first use)
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
    codes, scale, l1 = quantize(vectors)
    assert np.all(np.abs(codes * scale[:, None] - vectors) <= scale[:, None] / 2 + 1e-7)
    assert np.array_equal(l1, np.abs(codes.astype(np.int64)).sum(axis=1))


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


def test_a_row_file_reads_the_rows_a_memory_map_would(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Exact vectors are read from the snapshot with pread (RowFile): same values, any row order,
    repeats, runs of adjacent rows, the last row; out-of-range rows and a truncated file refused."""
    vectors = np.random.default_rng(5).standard_normal((257, 7)).astype(np.float32)
    path = tmp_path / "exact.npy"
    np.save(path, vectors)
    rows = RowFile(str(path))
    assert rows.shape == (257, 7) and len(rows) == 257
    for pick in ([], [0], [256], [5, 3, 4, 3, 200, 6, 256, 0], list(range(257))[::-1]):
        assert np.array_equal(rows[pick], vectors[pick]), pick
    with pytest.raises(IndexError):
        rows[[257]]
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ValueError, match="shorter"):
        RowFile(str(path))


def test_an_identifier_in_too_many_sources_identifies_nothing() -> None:
    """``max_sources`` refuses a token spread over more sources than that — also when its first rows
    are all one source's (the quick look at a few rows must not decide wrongly either way)."""
    metas, texts = [], []
    for i in range(60):  # 60 chunks of one long note, then one chunk in each of 30 notes
        metas.append(ChunkMeta(f"note:N0#{i}", "note", "N0", "Long", readers=("a@x",)))
        texts.append("PO-7700 again")
    for i in range(30):
        metas.append(ChunkMeta(f"note:M{i}#0", "note", f"M{i}", "Short", readers=("a@x",)))
        texts.append("SKU-9 and PO-7700")
    index = SearchIndex(metas, texts, np.ones((90, 2), np.float32) / np.sqrt(2))
    assert len(index.rows_with_identifier("sku-9", max_sources=30)) == 30
    assert len(index.rows_with_identifier("sku-9", max_sources=29)) == 0
    assert len(index.rows_with_identifier("po-7700", max_sources=31)) == 90  # first 60 rows: one source
    assert len(index.rows_with_identifier("po-7700", max_sources=30)) == 0
    assert len(index.rows_with_identifier("po-7700")) == 90


def test_the_int8_kernel_multiplies_exactly() -> None:
    dot = int8_dot()
    assert dot is not None
    rng = np.random.default_rng(9)
    codes = rng.integers(-127, 128, (1000, 384)).astype(np.int8)
    query = rng.integers(-127, 128, 384).astype(np.int8)
    assert np.array_equal(dot(codes, query), codes.astype(np.int64) @ query.astype(np.int64))
    assert np.array_equal(
        dot(np.full((3, 384), -127, np.int8), np.full(384, 127, np.int8)), [-127 * 127 * 384] * 3
    )


@pytest.mark.parametrize("kernel", ["int8", "float"])
def test_the_candidate_bound_holds_row_by_row(kernel: str) -> None:
    """|exact − approximate| ≤ bound for every row. With both the row and the query quantized, the
    error reaches over twice the float path's ``σ/2 ‖q‖₁`` on short vectors, so the int8 bound's own
    term ``σ/2 τ ‖c‖₁`` is needed (this test fails without it)."""
    dot = int8_dot() if kernel == "int8" else None
    assert dot is not None or kernel == "float"
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5000, 4)).astype(np.float32)
    index = SearchIndex(
        [ChunkMeta(f"note:N{i}#0", "note", f"N{i}", "t") for i in range(5000)], ["x"] * 5000, vectors
    )
    rows = np.arange(5000)
    for _ in range(20):
        query = rng.standard_normal(4).astype(np.float32)
        approx, bound = index._approx(query, rows, dot)
        assert np.all(np.abs(vectors.astype(np.float64) @ query - approx) <= bound(rows))


def test_many_lookups_at_once_find_what_one_at_a_time_finds() -> None:
    """find_many / rows_of / live_rows_of / df_many (a refresh's batch lookups, on 8-byte prefix keys)
    agree with the one-at-a-time binary search: long shared prefixes, other scripts, the empty
    string, absent strings, and rows made dead by a refresh."""
    rng = np.random.default_rng(8)
    pool = ["", "a", "ab", "note:N0000001#0", "note:N0000001#1", "note:N0000010#0", "ünïcode", "日本語", "zz"]
    pool += [f"note:N{int(i):07d}#{int(i) % 3}" for i in rng.integers(0, 10**6, 300)]
    table = StringTable.sorted_unique(pool)
    wanted = [*pool, "note:N0000001#", "note:N00000011#0", "absent", "ünïcodf", "zzz"]
    assert table.find_many(wanted).tolist() == [table.find(w) for w in wanted]
    metas = [ChunkMeta(f"note:N{i}#{i % 2}", "note", f"N{i}", "t", readers=("a@x",)) for i in range(200)]
    texts = [f"w{i % 7} w{i % 11} TKT-{i:04d}" for i in range(200)]
    index = SearchIndex(metas, texts, np.ones((200, 2), np.float32))
    ids = [m.chunk_id for m in metas[::3]] + ["note:N5#0", "nope"]
    row = {m.chunk_id: i for i, m in enumerate(metas)}
    assert index.segments[0].rows_of(ids).tolist() == [row.get(c, -1) for c in ids]
    grown = index.with_changes(
        [(metas[:5], ["changed"] * 5, np.ones((5, 2), np.float32))], [metas[7].chunk_id]
    )
    live = row | {m.chunk_id: 200 + i for i, m in enumerate(metas[:5])} | {metas[7].chunk_id: -1}
    assert grown.live_rows_of(ids).tolist() == [live.get(c, -1) for c in ids]
    assert [grown.row_of(c) for c in ids] == [live.get(c, -1) for c in ids]
    empty = SearchIndex([], [], np.zeros((0, 2), np.float32))  # a store emptied by an ingest
    assert empty.segments[0].rows_of(["note:N1#0"]).tolist() == [-1]
    assert (
        empty.with_changes([(metas[:1], ["new"], np.ones((1, 2), np.float32))], ["x"]).row_of("note:N0#0")
        == 0
    )
    words = ["w1", "w10", "tkt-0003", "changed", "absent", ""]
    assert grown.lexical.df_many(words).tolist() == [grown.lexical.df(w) for w in words]
