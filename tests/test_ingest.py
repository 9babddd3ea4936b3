"""Incremental ingest into a real embedded Chroma: nothing rewritten when nothing changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import StoreBusyError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from bot.knowledge.store import writer_lock
from tests.conftest import CountingEmbedder
from tests.crm_fixtures import ALICE, small_export, write_csv


@pytest.fixture
def kb(settings: Settings, embedder: LocalEmbedder) -> KnowledgeBase:
    return KnowledgeBase.open(settings, CountingEmbedder(embedder))


def _counter(kb: KnowledgeBase) -> CountingEmbedder:
    assert isinstance(kb.embedder, CountingEmbedder)
    return kb.embedder


def test_second_ingest_writes_nothing(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    first = kb.ingest_crm(folder)
    assert (first.added, first.unchanged, first.chunks) == (11, 0, 11)
    embedded = _counter(kb).texts
    generation = kb.store.generation()
    again = kb.ingest_crm(folder)
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 11, 0)
    assert _counter(kb).texts == embedded
    assert kb.store.generation() == generation  # readers have nothing to reload
    assert kb.store.count() == 11


def test_changed_record_is_replaced_and_shrinks(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    long_body = " ".join(f"Sentence number {i} about the rollout plan." for i in range(120))
    write_csv(folder, "notes", [
        {"note_id": "N1", "account_id": "A1", "deal_id": "D1", "author_email": ALICE, "body": long_body},
    ])  # fmt: skip
    kb.ingest_crm(folder)
    chunks_before = kb.store.count()
    write_csv(folder, "notes", [
        {"note_id": "N1", "account_id": "A1", "deal_id": "D1", "author_email": ALICE, "body": "Short now: MSA signed."},
    ])  # fmt: skip
    report = kb.ingest_crm(folder)
    assert (report.updated, report.chunks) == (1, 1)
    assert kb.store.count() < chunks_before
    hits = kb.search("MSA signed", viewer=kb.viewer(ALICE), k=3)
    assert hits[0].source_id == "N1" and "Short now" in hits[0].text
    assert not any(
        "Sentence number" in h.text for h in kb.search("rollout plan sentence", viewer=kb.viewer(ALICE))
    )


def test_prune_removes_gone_records_only_on_a_clean_read(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    kb.ingest_crm(folder)
    lines = (folder / "notes.csv").read_text().splitlines(keepends=True)
    (folder / "notes.csv").write_text("".join(line for line in lines if not line.startswith("N4,")))
    # A bad row elsewhere: prune must not treat skipped rows as deleted records.
    (folder / "contacts.csv").write_text((folder / "contacts.csv").read_text() + "C9,A404,Ghost,,,\n")
    careful = kb.ingest_crm(folder, prune=True)
    assert careful.prune_skipped and careful.removed == 0
    assert kb.store.sources(["note"]).keys() >= {"note:N4"}
    (folder / "contacts.csv").write_text("".join((folder / "contacts.csv").read_text().splitlines(True)[:-1]))
    clean = kb.ingest_crm(folder, prune=True)
    assert clean.removed == 1 and not clean.prune_skipped
    assert "note:N4" not in kb.store.sources(["note"])
    assert "N4" not in {h.source_id for h in kb.search("TKT-2291", viewer=kb.viewer("admin@x.example"))}


def test_prune_is_limited_to_the_files_given(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "crm"))
    only_notes = tmp_path / "notes-only"
    only_notes.mkdir()
    (only_notes / "notes.csv").write_text((tmp_path / "crm" / "notes.csv").read_text())
    report = kb.ingest_crm(only_notes, prune=True)
    assert report.removed == 0 and report.unchanged == 4  # parents came from the store
    assert len(kb.store.sources(["deal"])) == 3


def test_a_run_killed_half_way_is_completed_not_duplicated(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    kb.ingest_crm(folder)
    # Simulate a crash between writing a record's chunks: one chunk of a record is gone.
    kb.store._col.delete(ids=["note:N2#0"])
    report = kb.ingest_crm(folder)
    assert (report.added, report.updated, report.chunks) == (1, 0, 1)
    assert kb.store.count() == 11


def test_access_change_on_a_deal_reaches_its_notes(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    kb.ingest_crm(folder)
    bob = kb.viewer("bob@x.example")
    assert "N1" not in {h.source_id for h in kb.search("AX-PRO-2 discount", viewer=bob)}
    deals = (
        (folder / "deals.csv")
        .read_text()
        .replace("Acme Expansion,alice@x.example,,", "Acme Expansion,alice@x.example,bob@x.example,")
    )
    (folder / "deals.csv").write_text(deals)
    report = kb.ingest_crm(folder)
    assert report.updated == 2  # the deal and its note (inherited access is part of the content hash)
    assert "N1" in {h.source_id for h in kb.search("AX-PRO-2 discount", viewer=bob)}


def test_second_writer_is_refused(settings: Settings, tmp_path: Path) -> None:
    with (
        writer_lock(settings),
        pytest.raises(StoreBusyError, match="another closer process is writing"),
        writer_lock(settings),
    ):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from bot.config import load_settings; from bot.knowledge.store import writer_lock\n"
         f"with writer_lock(load_settings(chroma_path={str(settings.chroma_path)!r})):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusyError), writer_lock(settings):
            pass
    finally:
        holder.kill()
        holder.wait()
    with writer_lock(settings):  # a dead holder leaves no stale lock behind
        pass
