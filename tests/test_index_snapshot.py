"""The index snapshot in CACHE_DIR: reused when the store's generation matches (or can be caught up
from the change log), ignored and rebuilt when stale, corrupt or built with other parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.columns import RowFile
from bot.knowledge.snapshot import snapshot_root
from tests.conftest import HashEmbedder
from tests.crm_fixtures import ALICE, BOB, small_export, write_csv

QUERIES = ["AX-PRO-2 bundle discount", "SOC 2 data residency", "warehouse robots", "catch me up on Acme Corp"]


def _open(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase.open(settings, HashEmbedder())


def _results(kb: KnowledgeBase) -> list[list[tuple[str, float, str]]]:
    return [[(h.chunk_id, round(h.score, 6), h.text) for h in kb.search(q, viewer=kb.viewer(who))]
            for q in QUERIES for who in (ALICE, BOB)]  # fmt: skip


@pytest.fixture
def built(settings: Settings, tmp_path: Path) -> tuple[Settings, list[list[tuple[str, float, str]]]]:
    kb = _open(settings)
    kb.ingest_crm(small_export(tmp_path / "full"))
    results = _results(kb)
    assert kb.keeper.last == "full"
    return settings, results


def _snapshot(settings: Settings) -> Path:
    (folder,) = snapshot_root(settings).glob("gen-*")
    return folder


def test_a_new_process_loads_the_snapshot_of_the_same_generation(built: tuple[Settings, list]) -> None:  # type: ignore[type-arg]
    settings, results = built
    folder = _snapshot(settings)
    assert folder.name == f"gen-{_open(settings).store.generation()}"
    assert folder.stat().st_mode & 0o077 == 0  # owner only: it holds what the store holds
    kb = _open(settings)
    assert _results(kb) == results
    assert kb.keeper.last == "snapshot"
    assert isinstance(kb.index().segments[0].texts.blob, np.memmap)  # mapped, not read into memory
    assert isinstance(kb.index().segments[0].exact, RowFile)  # read per search with pread


def test_an_older_snapshot_is_caught_up_from_the_change_log(
    built: tuple[Settings, list],
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    settings, _ = built
    writer = _open(settings)
    update = tmp_path / "u"
    write_csv(update, "notes", [{"note_id": "N8", "account_id": "A1", "deal_id": "D1", "author_email": ALICE,
                                 "created_at": "2026-11-21T09:00:00Z", "kind": "call", "subject": "Marmot",
                                 "body": "The marmot integration passed the security review."}])  # fmt: skip
    writer.ingest_crm(update)
    kb = _open(settings)
    hits = kb.search("marmot integration", viewer=kb.viewer(ALICE))
    assert kb.keeper.last == "snapshot+delta"
    assert hits and hits[0].source_id == "N8"


def test_a_stale_snapshot_is_not_used(built: tuple[Settings, list]) -> None:  # type: ignore[type-arg]
    settings, _ = built
    old = _snapshot(settings)
    _open(settings).store.bump_generation(unlogged=True)  # changed in a way the log cannot tell
    kb = _open(settings)
    kb.index()
    assert kb.keeper.last == "full"
    assert not old.exists() and _snapshot(settings).name == f"gen-{kb.store.generation()}"


@pytest.mark.parametrize("damage", ["truncated", "header rows", "format", "missing", "bm25 parameters"])
def test_a_damaged_snapshot_is_ignored_and_rebuilt(built: tuple[Settings, list], damage: str) -> None:  # type: ignore[type-arg]
    settings, results = built
    folder = _snapshot(settings)
    header_path = folder / "header.json"
    header = json.loads(header_path.read_text())
    if damage == "truncated":
        data = (folder / "exact.npy").read_bytes()
        (folder / "exact.npy").write_bytes(data[: len(data) // 2])
    elif damage == "header rows":
        header["rows"] += 1
    elif damage == "format":
        header["format"] = 999
    elif damage == "missing":
        (folder / "texts.blob.npy").unlink()
    if damage in ("header rows", "format"):
        header_path.write_text(json.dumps(header))
    if damage == "bm25 parameters":
        settings = settings.model_copy(update={"search_bm25_k1": settings.search_bm25_k1 + 0.3})
    kb = _open(settings)
    got = _results(kb)
    assert kb.keeper.last == "full"
    if damage != "bm25 parameters":
        assert got == results
    assert json.loads((_snapshot(settings) / "header.json").read_text())["k1"] == settings.search_bm25_k1
