"""A sync from the CRM's API and a CSV export of the same records answer `closer search` the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from tests.crm_sync_fixtures import (
    ADMIN,
    ANA,
    LIAM,
    MAYA,
    hubspot_settings,
    open_kb,
    salesforce_settings,
    seed,
    seed_salesforce,
    sync_hubspot,
    sync_salesforce,
    write_equivalent_csv,
)
from tests.fake_hubspot import FakeHubSpot
from tests.fake_salesforce import FakeSalesforce, rsa_key_pem

QUERIES = ("What rebate did Ingrid ask for on the robots?", "pallet shuttle go-live", "Cork warehouse",
           "who is the COO at Halvorsen", "deals in negotiation", "Brindle Foods buyer")  # fmt: skip
PEOPLE = (MAYA, LIAM, ANA, ADMIN, "nobody@elsewhere.example")


def assert_same_answers(kb_sync: KnowledgeBase, kb_csv: KnowledgeBase) -> None:
    compared = 0
    for person in PEOPLE:
        for query in QUERIES:
            a = [h.as_json() for h in kb_sync.search(query, viewer=kb_sync.viewer(person), k=10)]
            b = [h.as_json() for h in kb_csv.search(query, viewer=kb_csv.viewer(person), k=10)]
            assert a == b, (person, query)
            compared += len(a)
    assert compared > 50  # the answers compared are not empty


def test_hubspot_sync_and_csv_ingest_give_the_same_search_answers(
    settings: Settings, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    with FakeHubSpot() as portal:
        ids = seed(portal)
        synced = hubspot_settings(settings, portal, chroma_path=tmp_path / "synced")
        kb_sync = open_kb(synced, embedder)
        sync_hubspot(synced, kb_sync)
    kb_csv = open_kb(settings.model_copy(update={"chroma_path": tmp_path / "from-csv"}), embedder)
    report = kb_csv.ingest_crm(write_equivalent_csv(tmp_path / "export", ids))
    assert not report.problems and report.added == 9
    assert_same_answers(kb_sync, kb_csv)


def test_salesforce_sync_and_csv_ingest_give_the_same_search_answers(
    settings: Settings, embedder: LocalEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, public = rsa_key_pem()
    (tmp_path / "app.key").write_bytes(pem)
    with FakeSalesforce(folder=tmp_path, public_key=public) as org:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(org.cert))
        ids = seed_salesforce(org)
        synced = salesforce_settings(settings, org, tmp_path / "app.key", chroma_path=tmp_path / "synced")
        kb_sync = open_kb(synced, embedder)
        assert sync_salesforce(synced, kb_sync)[0].added == 9
    kb_csv = open_kb(settings.model_copy(update={"chroma_path": tmp_path / "from-csv"}), embedder)
    folder = write_equivalent_csv(tmp_path / "export", ids, currency="", kinds=("task", "meeting", "note"))
    assert kb_csv.ingest_crm(folder).added == 9
    assert_same_answers(kb_sync, kb_csv)
