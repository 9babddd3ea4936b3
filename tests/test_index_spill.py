"""The full build writes the snapshot as pages arrive (bot/knowledge/spool.py, snapshot.build): the
same arrays as the in-memory build, atomic, owner-only, and still working when CACHE_DIR is not."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.knowledge import lexical, snapshot, spool
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.columns import RowFile
from bot.knowledge.index import ChunkMeta, Page, SearchIndex
from tests.conftest import HashEmbedder
from tests.crm_fixtures import ALICE, BOB, small_export

WORDS = ["robot", "discount", "renewal", "the", "and", "pricing", "AX-PRO-2", "TKT-2291", "PO 7700012345",
         "clause 9.4", "48,000", "zone", "frozen", "pilot", "été", "naïve", "ünïcode"]  # fmt: skip
READERS = ["a@x.example", "b@x.example", "c@x.example", "d@x.example"]


def _corpus(rows: int, seed: int, dim: int = 8) -> list[Page]:
    """Pages of random sizes (an empty one too), with empty texts, rows without identifiers,
    repeated words, private and public rows, several reader sets and accounts."""
    rng = np.random.default_rng(seed)
    metas, texts = [], []
    for i in range(rows):
        size = int(rng.integers(0, 12)) if i % 5 else 0  # every fifth text is empty
        texts.append(" ".join(str(w) for w in rng.choice(WORDS, size=size)))
        readers = tuple(sorted(set(rng.choice(READERS, size=int(rng.integers(0, 3))).tolist())))
        kind = str(rng.choice(["note", "doc", "account"]))
        metas.append(ChunkMeta(f"{kind}:S{i // 3}#{i % 3}", kind, f"S{i // 3}", f"Title {i // 3}",
                               deal_id=f"D{i % 4}" if i % 2 else "", account_id=f"A{i % 3}" if i % 3 else "",
                               visibility="public" if rng.random() < 0.2 else "private", readers=readers,
                               updated_at=f"2026-11-{1 + i % 28:02d}"))  # fmt: skip
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pages: list[Page] = [([], [], np.zeros((0, dim), np.float32))]
    start = 0
    while start < rows:
        end = min(rows, start + int(rng.integers(1, 9)))
        pages.append((metas[start:end], texts[start:end], vectors[start:end]))
        start = end
    return pages


def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny blocks, so a small corpus goes through many counting blocks, key ranges and reads."""
    monkeypatch.setattr(lexical, "COUNT_TOKENS", 7)
    monkeypatch.setattr(spool, "RANGE_ROWS", 5)
    monkeypatch.setattr(spool, "READ_ROWS", 3)


@pytest.mark.parametrize(("rows", "seed"), [(0, 1), (1, 2), (5, 3), (97, 4), (400, 5)])
def test_the_spilled_build_equals_the_in_memory_build_array_by_array(
    rows: int, seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = _corpus(rows, seed)
    in_memory = SearchIndex.from_pages(pages, k1=1.2, b=0.75)
    _small_blocks(monkeypatch)
    spilled = snapshot.build(iter(pages), tmp_path / "snap", "g1", k1=1.2, b=0.75)
    want, got = snapshot._arrays(in_memory), snapshot._arrays(spilled)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        assert got[name].shape == want[name].shape, name
        assert np.array_equal(got[name], want[name]), name
        if name not in ("codes", "exact"):
            assert isinstance(got[name], np.memmap), name  # served from the snapshot's files
    assert isinstance(spilled.segments[0].exact, RowFile)  # read with pread per search
    assert not isinstance(spilled.segments[0].codes, np.memmap)  # read into memory at start
    assert spilled.lexical.stats == in_memory.lexical.stats
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["gen-g1"]
    assert not list((tmp_path / "snap" / "gen-g1").glob("scratch*"))


def test_bm25_blocks_and_token_ranges_do_not_change_the_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [t for _, ts, _ in _corpus(300, 9) for t in ts]
    reference = lexical.LexicalIndex.build(
        texts
    )  # default blocks: checked against bm25s in test_lexical_index.py
    _small_blocks(monkeypatch)
    part, stats = lexical.build_part(texts, k1=0.9, b=0.4)
    (want,) = reference.parts
    assert stats == reference.stats
    assert list(part.vocab) == list(want.vocab)
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(part, name), getattr(want, name)), name


def test_a_build_that_fails_midway_leaves_no_snapshot_and_a_stale_one_is_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "snap"
    pages = _corpus(60, 6)

    def failing() -> Iterator[Page]:
        yield from pages[:4]
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        snapshot.build(failing(), root, "g1", k1=0.9, b=0.4)
    assert list(root.iterdir()) == []  # the temporary folder went with the failure
    assert snapshot.load(root, k1=0.9, b=0.4) is None
    crashed = root / ".tmp-from-a-killed-process"  # what a kill -9 mid-build leaves
    crashed.mkdir()
    (crashed / "exact.npy").write_bytes(b"half")
    (crashed / ".building").write_bytes(b"")  # its lock went with the process
    (root / "gen-g0").mkdir()  # an older generation
    snapshot.build(iter(pages), root, "g1", k1=0.9, b=0.4)
    assert sorted(p.name for p in root.iterdir()) == ["gen-g1"]
    loaded = snapshot.load(root, k1=0.9, b=0.4)
    assert loaded is not None and loaded[1] == "g1"


def test_a_build_running_in_another_process_keeps_its_temporary_folder(tmp_path: Path) -> None:
    """Two processes sharing CACHE_DIR: the one that finishes first must not delete the other's
    folder mid-build (a crashed build's folder, whose lock died with it, is deleted: test above)."""
    root = tmp_path / "snap"
    pages = _corpus(60, 8)

    def slow() -> Iterator[Page]:
        yield from pages[:4]
        snapshot.build(iter(pages), root, "g1", k1=0.9, b=0.4)  # the other process, start to end
        yield from pages[4:]

    index = snapshot.build(slow(), root, "g2", k1=0.9, b=0.4)
    assert len(index) == 60
    assert sorted(p.name for p in root.iterdir()) == ["gen-g2"]


def test_the_snapshot_is_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "snap"
    old = os.umask(0)  # even with a permissive umask
    try:
        snapshot.build(iter(_corpus(30, 7)), root, "g1", k1=0.9, b=0.4)
    finally:
        os.umask(old)
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


def _results(kb: KnowledgeBase) -> list[list[tuple[str, float]]]:
    queries = ["AX-PRO-2 bundle discount", "warehouse robots", "catch me up on Acme Corp"]
    return [[(h.chunk_id, round(h.score, 6)) for h in kb.search(q, viewer=kb.viewer(who))]
            for q in queries for who in (ALICE, BOB)]  # fmt: skip


def _blocked_cache(settings: Settings, tmp_path: Path) -> tuple[list[list[tuple[str, float]]], Path]:
    """The results over a small CRM export with a writable CACHE_DIR, and a file where one should be."""
    normal = KnowledgeBase.open(settings, HashEmbedder())
    normal.ingest_crm(small_export(tmp_path / "crm"))
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where CACHE_DIR should be")
    return _results(normal), blocked


def test_an_unwritable_cache_dir_builds_in_a_temporary_folder_that_goes_away(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want, blocked = _blocked_cache(settings, tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    kb = KnowledgeBase.open(settings.model_copy(update={"cache_dir": blocked / "cache"}), HashEmbedder())
    assert _results(kb) == want
    assert kb.keeper.last == "full"
    assert isinstance(kb.index().segments[0].exact, RowFile)  # read from the (deleted) file, not held
    assert list(temp.iterdir()) == []  # deleted once mapped
    assert blocked.read_text() == "a file where CACHE_DIR should be"


def test_npy_header_loads_with_numpy(tmp_path: Path) -> None:
    for shape, dtype in [((0,), np.int32), ((3,), np.float32), ((0, 4), np.int8), ((5, 2), np.float32)]:
        out = spool.Spool(dtype, tmp_path, f"a{len(shape)}{shape[0]}")
        data = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
        out.append(data)
        got = out.finish()
        assert got.shape == shape and got.dtype == dtype and np.array_equal(got, data)
        assert np.array_equal(np.load(tmp_path / f"a{len(shape)}{shape[0]}.npy"), data)


def test_with_no_writable_folder_at_all_the_index_is_built_in_memory(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want, blocked = _blocked_cache(settings, tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(blocked / "tmp"))  # no temporary folder either
    kb = KnowledgeBase.open(settings.model_copy(update={"cache_dir": blocked / "cache"}), HashEmbedder())
    assert _results(kb) == want
    assert kb.keeper.last == "full"
    assert (
        type(kb.index().segments[0].exact) is np.ndarray
    )  # held in memory: neither mapped nor read from a file
