"""A running index catches up with an ingest from the store's change log, without a full reload;
when the log cannot tell, it rebuilds — in the background for a large index — and never fails a search."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.config import Settings
from bot.knowledge import refresh
from bot.knowledge.base import KnowledgeBase
from tests.conftest import HashEmbedder
from tests.crm_fixtures import ALICE, BOB, CAROL, small_export, write_csv


@pytest.fixture
def kb(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase.open(settings, HashEmbedder())


def _found(kb: KnowledgeBase, query: str, email: str) -> set[str]:
    return {f"{h.source_type}:{h.source_id}" for h in kb.search(query, viewer=kb.viewer(email), k=10)}


def _note(note_id: str, body: str, *, deal: str = "D1", author: str = ALICE) -> dict[str, str]:
    return {"note_id": note_id, "account_id": "A1", "deal_id": deal, "author_email": author,
            "created_at": "2026-11-20T09:00:00Z", "kind": "call", "subject": f"Note {note_id}", "body": body}  # fmt: skip


def test_changed_added_and_deleted_chunks_after_a_delta(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    before = kb.index()
    assert "note:N3" in _found(kb, "warehouse throughput robots", ALICE)
    update = tmp_path / "update"
    write_csv(update, "notes", [
        _note("N1", "They now want a zeppelin-shaped discount on the AX-PRO-2 bundle."),
        _note("N9", "Brand new note: the quokka sanctuary signed the NDA."),
    ])  # fmt: skip
    kb.ingest_crm(update)
    after = kb.index()
    assert kb.keeper.last == "delta" and after is not before
    assert len(after.segments) == 2 and len(after.segments[1]) == 2  # only the two changed chunks were read
    assert "note:N1" in _found(kb, "zeppelin discount", ALICE)
    assert "note:N9" in _found(kb, "quokka sanctuary", ALICE)
    assert "quokka" not in " ".join(h.text for h in kb.search("quokka sanctuary", viewer=kb.viewer(CAROL)))
    assert all("15% off" not in h.text for h in kb.search("AX-PRO-2 bundle", viewer=kb.viewer(ALICE)))
    # Deleted: a prune that leaves N3 out removes it from the running index too.
    full = small_export(tmp_path / "pruned")
    write_csv(full, "notes", [_note("N1", "They now want a zeppelin-shaped discount on the AX-PRO-2 bundle."),
                              _note("N9", "Brand new note: the quokka sanctuary signed the NDA.")])  # fmt: skip
    kb.ingest_crm(full, prune=True)
    pruned = kb.index()
    assert kb.keeper.last == "delta" and pruned is not after
    assert "note:N3" not in _found(kb, "warehouse throughput robots", ALICE)
    assert kb.index().row_of("note:N3#0") == -1


def test_access_changes_reach_the_running_index_by_delta(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    assert "note:N3" in _found(kb, "warehouse throughput robots", BOB)  # on Acme's account team
    partial = tmp_path / "partial"
    write_csv(partial, "accounts", [
        {"account_id": "A1", "name": "Acme Corp", "industry": "Retail", "region": "EMEA",
         "owner_email": ALICE, "team": "", "visibility": "private"},
    ])  # fmt: skip
    kb.ingest_crm(partial)
    kb.index()
    assert kb.keeper.last == "delta"
    assert "note:N3" not in _found(kb, "warehouse throughput robots", BOB)
    assert "note:N3" in _found(kb, "warehouse throughput robots", ALICE)
    index = kb.index()
    mask = index.visible(kb.viewer(BOB))
    assert not any(mask[r] for r in range(len(index)) if index.meta(r).account_id == "A1")


def test_a_second_delta_merges_the_first(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    kb.index()
    for i, word in enumerate(["aardvark", "bandicoot", "capybara"]):
        folder = tmp_path / f"u{i}"
        write_csv(folder, "notes", [_note(f"M{i}", f"The {word} pilot went live.")])
        kb.ingest_crm(folder)
        kb.index()
        assert kb.keeper.last == "delta"
    index = kb.index()
    assert len(index.segments) == 2 and len(index.segments[1]) == 3
    for word, note in [("aardvark", "note:M0"), ("bandicoot", "note:M1"), ("capybara", "note:M2")]:
        assert note in _found(kb, f"{word} pilot", ALICE)


def test_an_unlogged_change_is_a_full_reload(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    kb.index()
    kb.store.bump_generation(unlogged=True)  # as a bulk copy (migrate-store) does
    kb.index()
    assert kb.keeper.last == "full"


def test_a_large_index_rebuilds_in_the_background_and_keeps_serving(
    kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    old = kb.index()
    monkeypatch.setattr(refresh, "SYNC_REBUILD_ROWS", 0)  # every index counts as large
    started, release = threading.Event(), threading.Event()
    pages = kb.store.pages

    def slow_pages(ids: object = None) -> object:
        started.set()
        release.wait(10)
        return pages(ids)  # type: ignore[arg-type]

    monkeypatch.setattr(kb.store, "pages", slow_pages)
    folder = tmp_path / "u"
    write_csv(folder, "notes", [_note("N7", "The wombat rollout slipped a week.")])
    kb.ingest_crm(folder)
    kb.store.bump_generation(unlogged=True)  # the log cannot tell: a full rebuild
    assert kb.index() is old  # served at once from the old index while the rebuild waits
    assert started.wait(10)
    assert "note:N1" in _found(kb, "AX-PRO-2 bundle", ALICE)  # searches work meanwhile
    release.set()
    kb.keeper.wait()
    assert kb.keeper.last == "background"
    assert "note:N7" in _found(kb, "wombat rollout", ALICE)
