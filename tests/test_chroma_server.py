"""The knowledge base on a real ``chroma run`` server (127.0.0.1 only), against the embedded store.

Same ingest, same search: a Chroma server must give exactly what the embedded store gives. Several
replicas share one server, so a replica must pick up what another one ingested (generation reload).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.errors import StoreError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from bot.knowledge.search import Hit
from bot.knowledge.store import COLLECTION
from tests.helpers_chroma import (
    ALICE,
    ALICE_VISIBLE,
    ALL_RECORDS,
    BOB,
    DOC_ID,
    NOTES,
    SECRET_NOTE,
    child_env,
    free_port,
    run_closer,
    write_crm,
    write_docs,
)
from tests.support import services
from tests.support.services import ChromaServer

HOST = "127.0.0.1"
ADMIN = "admin@x.example"
QUERIES = [
    "confidential discount on refrigerated trucks zebrafish",
    "volume pricing for welding robots",
    "liability cap renewal",
    "catch me up on Acme Robotics",
    "what is the next step on D-3",
    "SAML single sign-on with Okta",
    "who is the CTO",
]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    with services.chroma_server(tmp_path_factory.mktemp("chroma-server")) as server:
        yield server


@pytest.fixture
def server_settings(chroma_server: ChromaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on the shared server, whose collection is dropped first: every test starts empty."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    monkeypatch.setenv("NO_PROXY", f"{HOST},localhost")
    client = chromadb.HttpClient(
        host=HOST, port=chroma_server.port, settings=ChromaSettings(anonymized_telemetry=False)
    )
    if COLLECTION in {c.name for c in client.list_collections()}:
        client.delete_collection(COLLECTION)
    return load_settings(
        chroma_url=chroma_server.url,
        chroma_path=tmp_path / "must-not-be-used",
        cache_dir=tmp_path / "cache",
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        admin_emails=ADMIN,
        index_refresh_seconds=0,
    )


def _ranking(hits: list[Hit]) -> list[tuple[str, str]]:
    return [(h.source_type, h.source_id) for h in hits]


def _keys(hits: list[Hit]) -> set[tuple[str, str]]:
    return set(_ranking(hits))


def test_server_gives_exactly_what_the_embedded_store_gives(
    server_settings: Settings, settings: Settings, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    crm, docs = write_crm(tmp_path / "crm"), write_docs(tmp_path / "docs")
    served = KnowledgeBase.open(server_settings, embedder)
    local = KnowledgeBase.open(settings, embedder)
    for kb in (served, local):
        report = kb.ingest_crm(crm)
        assert (report.added, report.problems) == (len(ALL_RECORDS), [])
        assert kb.ingest_docs(docs).added == 1
    assert served.store.count() == local.store.count()
    assert not server_settings.chroma_path.exists()

    for email in (ALICE, BOB, ADMIN):
        for query in QUERIES:
            got = served.search(query, viewer=served.viewer(email), k=10)
            want = local.search(query, viewer=local.viewer(email), k=10)
            assert _ranking(got) == _ranking(want), (email, query)
            assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
            assert [h.text for h in got] == [h.text for h in want]

    # And access control holds on the server as well, also when a query names a hidden account or id.
    for query in [*QUERIES, "catch me up on Globex Foods", "Globex cold chain"]:
        hits = served.search(query, viewer=served.viewer(ALICE), k=100)
        assert _keys(hits) <= set(ALICE_VISIBLE) | {("doc", DOC_ID)}, query
    secret = "confidential discount on refrigerated trucks zebrafish"
    assert _keys(served.search(secret, viewer=served.viewer(ALICE), k=100)) == set(ALICE_VISIBLE) | {
        ("doc", DOC_ID)
    }
    assert _ranking(served.search(secret, viewer=served.viewer(BOB), k=1)) == [("note", SECRET_NOTE)]


def test_a_second_replica_sees_what_the_first_ingested(
    server_settings: Settings, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    writer = KnowledgeBase.open(server_settings, embedder)
    replica = KnowledgeBase.open(server_settings, embedder)
    admin = replica.viewer(ADMIN)
    assert replica.search("welding robots", viewer=admin) == []  # the replica has loaded its (empty) index

    crm = write_crm(tmp_path / "crm")
    writer.ingest_crm(crm)
    assert _keys(replica.search("welding robots", viewer=admin, k=100)) == set(ALL_RECORDS)

    writer.ingest_docs(write_docs(tmp_path / "docs"))
    assert _ranking(replica.search("SAML single sign-on with Okta", viewer=admin, k=1)) == [("doc", DOC_ID)]

    write_crm(crm, notes=[n for n in NOTES if n[0] != "N-2"])
    assert writer.ingest_crm(crm, prune=True).removed == 1
    seen = _keys(replica.search("liability cap renewal", viewer=admin, k=100))
    assert seen == (set(ALL_RECORDS) - {("note", "N-2")}) | {("doc", DOC_ID)}


def test_the_console_uses_the_server_when_chroma_url_is_set(
    chroma_server: ChromaServer, server_settings: Settings, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    crm = write_crm(tmp_path / "crm")
    work = tmp_path / "cli"
    work.mkdir()
    env = child_env(
        CHROMA_URL=chroma_server.url, CHROMA_PATH=str(work / "embedded"), CACHE_DIR=str(work / "cache"),
        NO_PROXY=f"{HOST},localhost",
    )  # fmt: skip
    proc = run_closer("ingest", "crm", str(crm), cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"CRM: {len(ALL_RECORDS)} added" in proc.stdout
    assert not (work / "embedded").exists()  # CHROMA_PATH is ignored when CHROMA_URL is set

    kb = KnowledgeBase.open(server_settings, embedder)
    assert _keys(kb.search("welding robots", viewer=kb.viewer(ADMIN), k=100)) == set(ALL_RECORDS)


def test_an_unreachable_server_is_one_clear_store_error(embedder: LocalEmbedder) -> None:
    url = f"http://{HOST}:{free_port()}"  # nothing listens there
    with pytest.raises(StoreError) as caught:
        KnowledgeBase.open(load_settings(chroma_url=url), embedder)
    message = str(caught.value)
    assert url in message
    assert "\n" not in message
