"""An ingest never breaks a running server: the Slack app in process on the embedded store, and a
separate ``closer ingest`` process writing to the same store. Serving picks up the new generation;
``/healthz`` says 503 while the store cannot be read, and ok once it can again."""

from __future__ import annotations

from pathlib import Path

import chromadb
import httpx

from bot.knowledge.embedder import LocalEmbedder
from bot.knowledge.store import COLLECTION
from tests.helpers_chroma import child_env, run_closer
from tests.slack_fixtures import crm_fixture as crm_fixture  # the crm fixture
from tests.slack_fixtures import harness_for

PHRASE = "zebra-stripe rebate ladder"


def _ingest_docs(tmp_path: Path, name: str) -> None:
    docs = tmp_path / name
    docs.mkdir()
    (docs / "rebates.md").write_text(f"# Rebates\n\nThe {PHRASE} pays 2% back above 500 seats.\n")
    done = run_closer("ingest", "docs", str(docs), cwd=tmp_path,
                      env=child_env(CHROMA_PATH=str(tmp_path / "chroma")))  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_separate_ingest_is_served_without_a_restart(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path
) -> None:
    with harness_for(tmp_path, embedder, crm) as h:
        _, name = h.driver.command("What discount did Acme ask for?")
        h.fake.wait_responses(name)  # the server has loaded its index
        _ingest_docs(tmp_path, "docs")
        assert httpx.get(f"{h.url}/healthz").json()["status"] == "ok"
        _, name = h.driver.command(f"What is the {PHRASE}?")
        h.fake.wait_responses(name)
        assert PHRASE in h.prompt(h.std), "the newly ingested doc was not searched"
        assert "They asked for" in str(h.fake.wait_responses(name)[-1].params)


def test_healthz_reports_an_unreadable_store(tmp_path: Path, embedder: LocalEmbedder, crm: Path) -> None:
    with harness_for(tmp_path, embedder, crm) as h:
        assert httpx.get(f"{h.url}/healthz").status_code == 200
        # Another process removes the collection (an admin starting over): nothing can be searched.
        other = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
        other.delete_collection(COLLECTION)
        other.close()
        health = httpx.get(f"{h.url}/healthz")
        assert health.status_code == 503 and health.json()["status"] == "knowledge store unreadable"
        _ingest_docs(tmp_path, "docs")  # a new store is written: served again, no restart
        health = httpx.get(f"{h.url}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        _, name = h.driver.command(f"What is the {PHRASE}?")
        h.fake.wait_responses(name)
        assert PHRASE in h.prompt(h.std)
