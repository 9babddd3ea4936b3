"""Access follows the parent: a partial export that changes a deal or an account reaches the notes
and contacts stored by earlier ingests, with no ``--prune`` and nothing re-embedded."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.knowledge.base import KnowledgeBase
from tests.conftest import HashEmbedder
from tests.crm_fixtures import ALICE, BOB, CAROL, small_export, write_csv


@pytest.fixture
def kb(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase.open(settings, HashEmbedder())


def _seen(kb: KnowledgeBase, email: str) -> set[str]:
    index = kb.index()
    mask = index.visible(kb.viewer(email))
    return {m.source_key for m, ok in zip(index.metas, mask, strict=True) if ok}


def test_deal_team_change_reaches_its_stored_notes(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    assert "note:N2" in _seen(kb, BOB)  # Bob is on the Globex Pilot team
    embedded = kb.embedder.texts  # type: ignore[attr-defined]
    partial = tmp_path / "partial"
    write_csv(partial, "deals", [
        {"deal_id": "D2", "account_id": "A2", "name": "Globex Pilot", "owner_email": CAROL, "team": "",
         "stage": "proposal", "amount": "30000", "currency": "EUR", "close_date": "2026-12-20",
         "visibility": "private"},
    ])  # fmt: skip
    report = kb.ingest_crm(partial)
    assert (report.updated, report.chunks, report.problems) == (1, 1, [])
    assert kb.embedder.texts == embedded + 1  # type: ignore[attr-defined]  # the deal; its notes keep their vectors
    assert {"deal:D2", "note:N2"}.isdisjoint(_seen(kb, BOB))
    assert {"deal:D2", "note:N2"} <= _seen(kb, CAROL)
    assert not [h for h in kb.search("SOC 2 data residency", viewer=kb.viewer(BOB)) if h.source_id == "N2"]
    # The digest reads the store's metadata, not the index: it must agree.
    readers = {str(meta["readers"]) for meta, _ in kb.store.note_texts(["D2"])}
    assert readers == {CAROL}


def test_account_made_private_hides_its_contacts_and_notes(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    assert {"account:A1", "contact:C1", "note:N3"} <= _seen(kb, BOB)  # on Acme's account team
    assert "contact:C2" in _seen(kb, "stranger@x.example")  # Globex is public
    partial = tmp_path / "partial"
    write_csv(partial, "accounts", [
        {"account_id": "A1", "name": "Acme Corp", "industry": "Retail", "region": "EMEA",
         "owner_email": ALICE, "team": "", "visibility": "private"},
        {"account_id": "A2", "name": "Globex", "industry": "Energy", "region": "NA",
         "owner_email": CAROL, "visibility": "private"},
    ])  # fmt: skip
    kb.ingest_crm(partial)
    assert {"account:A1", "contact:C1", "note:N3"}.isdisjoint(_seen(kb, BOB))
    assert {"account:A2", "contact:C2"}.isdisjoint(_seen(kb, "stranger@x.example"))
    assert {"contact:C1", "note:N3"} <= _seen(kb, ALICE)
    # Notes on a deal keep the deal's access: the account's change does not touch them.
    assert "note:N4" in _seen(kb, "stranger@x.example")  # D3 is public
    hits = kb.search("Dana Ruiz VP Operations", viewer=kb.viewer(BOB))
    assert not [h for h in hits if h.source_id in ("C1", "N3")]


def test_account_made_public_opens_its_contacts(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.ingest_crm(small_export(tmp_path / "full"))
    assert "contact:C1" not in _seen(kb, CAROL)
    partial = tmp_path / "partial"
    write_csv(partial, "accounts", [
        {"account_id": "A1", "name": "Acme Corp", "industry": "Retail", "region": "EMEA",
         "owner_email": ALICE, "team": BOB, "visibility": "public"},
    ])  # fmt: skip
    kb.ingest_crm(partial)
    assert {"account:A1", "contact:C1", "note:N3"} <= _seen(kb, CAROL)
    assert "note:N1" not in _seen(kb, CAROL)  # on the private deal D1


def test_a_rerun_with_the_children_changes_nothing_more(kb: KnowledgeBase, tmp_path: Path) -> None:
    """After an access-only change, the full export (children included) is unchanged, not re-embedded."""
    full = small_export(tmp_path / "full")
    kb.ingest_crm(full)
    write_csv(full, "accounts", [
        {"account_id": "A1", "name": "Acme Corp", "industry": "Retail", "region": "EMEA",
         "owner_email": ALICE, "team": CAROL, "visibility": "private"},
        {"account_id": "A2", "name": "Globex", "industry": "Energy", "region": "NA",
         "owner_email": CAROL, "visibility": "public"},
    ])  # fmt: skip
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "accounts.csv").write_bytes((full / "accounts.csv").read_bytes())
    kb.ingest_crm(partial)
    again = kb.ingest_crm(full)
    assert (again.added, again.updated, again.chunks) == (0, 0, 0)
    assert {"contact:C1", "note:N3"} <= _seen(kb, CAROL)
    assert {"contact:C1", "note:N3"}.isdisjoint(_seen(kb, BOB))
