"""``closer migrate-store --from-path DIR``: an embedded store copied into a real ``chroma run`` server.

The server is the one tests/test_chroma_server.py starts (127.0.0.1 only, its collection dropped
before each test). Checked: every chunk arrives as stored (ids, texts, metadata, vectors) across
several pages; a rerun changes nothing; search on the server then gives what it gave locally; and
the refusals (another embedder, a writer holding the source, a folder that is no store).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.config import Settings, load_settings
from bot.errors import InputError, StoreBusyError, StoreError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from bot.knowledge.store import COLLECTION, PAGE, ChunkStore, open_client, writer_lock
from bot.store_migration import migrate_store
from tests.helpers_chroma import ALICE, child_env, run_closer, write_crm, write_docs
from tests.support.services import ChromaServer
from tests.test_chroma_server import HOST, chroma_server, server_settings  # noqa: F401 - fixtures

QUERIES = ["volume pricing for welding robots", "liability cap renewal", "SAML single sign-on with Okta"]


def _everything(settings: Settings) -> dict[str, tuple[str, dict[str, Any], np.ndarray]]:
    col = open_client(settings).get_collection(COLLECTION, embedding_function=None)
    got = col.get(include=["documents", "metadatas", "embeddings"])
    return {
        cid: (doc, meta, np.asarray(vec, np.float32))
        for cid, doc, meta, vec in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
        )
    }


def _same(
    a: dict[str, tuple[str, dict[str, Any], np.ndarray]], b: dict[str, tuple[str, dict[str, Any], np.ndarray]]
) -> None:
    assert a.keys() == b.keys()
    for cid in a:
        assert a[cid][0] == b[cid][0], cid
        assert a[cid][1] == b[cid][1], cid
        np.testing.assert_allclose(a[cid][2], b[cid][2], atol=1e-6)


def test_the_cli_copies_a_real_store_and_a_rerun_changes_nothing(
    chroma_server: ChromaServer,  # noqa: F811
    server_settings: Settings,  # noqa: F811
    settings: Settings,
    embedder: LocalEmbedder,
    tmp_path: Path,
) -> None:
    local = KnowledgeBase.open(settings, embedder)
    local.ingest_crm(write_crm(tmp_path / "crm"))
    local.ingest_docs(write_docs(tmp_path / "docs"))
    chunks = local.store.count()

    work = tmp_path / "cli"
    work.mkdir()
    env = child_env(CHROMA_URL=chroma_server.url, CACHE_DIR=str(work / "cache"), NO_PROXY=f"{HOST},localhost")
    first = run_closer("migrate-store", "--from-path", str(settings.chroma_path), cwd=work, env=env)
    assert first.returncode == 0, first.stderr
    assert re.search(rf"copied {chunks} chunks .* \({chunks} new, 0 already there", first.stdout), (
        first.stdout
    )
    assert f"now holds {chunks} chunks built with {embedder.model_id}" in first.stdout
    _same(_everything(settings), _everything(server_settings))

    again = run_closer("migrate-store", "--from-path", str(settings.chroma_path), cwd=work, env=env)
    assert again.returncode == 0, again.stderr
    assert f"(0 new, {chunks} already there and overwritten)" in again.stdout
    assert f"now holds {chunks} chunks" in again.stdout

    served = KnowledgeBase.open(server_settings, embedder)
    for email in (ALICE, "admin@x.example"):
        for query in QUERIES:
            got = served.search(query, viewer=served.viewer(email), k=10)
            want = local.search(query, viewer=local.viewer(email), k=10)
            assert [(h.source_type, h.source_id) for h in got] == [(h.source_type, h.source_id) for h in want]


def test_several_pages_arrive_whole_and_running_replicas_are_told(
    server_settings: Settings,  # noqa: F811
    settings: Settings,
    embedder: LocalEmbedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # More chunks than one page, written straight into an embedded store (no model run needed).
    n = PAGE * 2 + 345
    source = ChunkStore.open(settings, embedder_id=embedder.model_id, dimension=embedder.dimension)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    col = open_client(settings).get_collection(COLLECTION, embedding_function=None)
    for start in range(0, n, 1000):
        ids = [f"doc:d{i}#0" for i in range(start, min(n, start + 1000))]
        col.add(
            ids=ids,
            embeddings=vectors[start : start + len(ids)],
            documents=[f"text of {cid}" for cid in ids],
            metadatas=[
                {"source_type": "doc", "source_id": cid, "visibility": "public", "n_chunks": 1} for cid in ids
            ],
        )
    assert source.count() == n

    target = ChunkStore.open(server_settings, embedder_id=embedder.model_id, dimension=embedder.dimension)
    before = target.generation()
    report = migrate_store(server_settings, settings.chroma_path, progress=True)
    assert (report.copied, report.added, report.target_count) == (n, n, n)
    assert target.generation() != before, "replicas reload after a migration"
    assert "migrate" in capsys.readouterr().err  # the progress bar
    _same(_everything(settings), _everything(server_settings))


def test_another_embedder_is_refused_before_anything_is_written(
    server_settings: Settings,  # noqa: F811
    settings: Settings,
    embedder: LocalEmbedder,
) -> None:
    ChunkStore.open(settings, embedder_id="hash-64", dimension=64)
    with pytest.raises(StoreError, match=rf"built with embedder hash-64, but {re.escape(embedder.model_id)}"):
        migrate_store(server_settings, settings.chroma_path)
    client = open_client(server_settings)
    assert COLLECTION not in {c.name for c in client.list_collections()}


def test_a_target_built_with_another_embedder_is_refused(
    server_settings: Settings,  # noqa: F811
    settings: Settings,
    embedder: LocalEmbedder,
    tmp_path: Path,
) -> None:
    KnowledgeBase.open(settings, embedder).ingest_docs(write_docs(tmp_path / "docs"))
    ChunkStore.open(server_settings, embedder_id="hash-64", dimension=64)
    with pytest.raises(StoreError, match="was built with embedder hash-64"):
        migrate_store(server_settings, settings.chroma_path)


def test_a_writer_on_the_source_is_waited_for_not_raced(
    server_settings: Settings,  # noqa: F811
    settings: Settings,
    embedder: LocalEmbedder,
) -> None:
    ChunkStore.open(settings, embedder_id=embedder.model_id, dimension=embedder.dimension)
    with writer_lock(settings), pytest.raises(StoreBusyError, match="another closer process is writing"):
        migrate_store(server_settings, settings.chroma_path)


def test_a_folder_that_is_no_store_is_bad_input(tmp_path: Path) -> None:
    target = load_settings(chroma_url="http://127.0.0.1:9", chroma_path=tmp_path / "unused")
    with pytest.raises(InputError, match="is not a folder"):
        migrate_store(target, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no Closer store"):
        migrate_store(target, tmp_path / "empty")
    same = load_settings(chroma_path=tmp_path / "empty")
    with pytest.raises(InputError, match="is the configured store itself"):
        migrate_store(same, tmp_path / "empty")


def test_the_cli_refusal_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = run_closer(
        "migrate-store", "--from-path", str(tmp_path / "missing"), cwd=tmp_path, env=child_env()
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0
    assert "is not a folder" in proc.stderr
