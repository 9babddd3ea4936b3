"""EMBEDDING_PROVIDER=openai: ingest and search embed through an OpenAI-compatible endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import EmbedderError
from bot.knowledge.base import KnowledgeBase, make_embedder
from bot.knowledge.embedder import OpenAIEmbedder
from tests.crm_fixtures import ALICE, small_export
from tests.fake_openai import Failure, FakeOpenAI


def test_ingest_and_search_through_the_endpoint(tmp_path: Path) -> None:
    with FakeOpenAI() as api:
        settings = load_settings(chroma_path=tmp_path / "chroma", embedding_provider="openai",
                                 llm_base_url=api.base_url, llm_api_key="sk-test", index_refresh_seconds=0)  # fmt: skip
        embedder = make_embedder(settings)
        assert isinstance(embedder, OpenAIEmbedder)
        kb = KnowledgeBase.open(settings)
        report = kb.ingest_crm(small_export(tmp_path / "crm"))
        assert report.added == 11 and not report.problems
        sent = [r.json() for r in api.requests if r.path == "/v1/embeddings"]
        assert sum(len(b["input"]) for b in sent) >= 11 and all(
            b["model"] == "text-embedding-3-small" for b in sent
        )
        assert all(r.headers.get("authorization") == "Bearer sk-test" for r in api.requests)
        before = len(api.requests)
        hits = kb.search("Pricing call AX-PRO-2", viewer=kb.viewer(ALICE), k=3)
        assert hits and hits[0].source_id == "N1"
        assert len(api.requests) == before + 1  # the question was embedded by the endpoint too


def test_a_store_built_with_another_embedder_is_refused(tmp_path: Path) -> None:
    with FakeOpenAI() as api:
        remote = load_settings(
            chroma_path=tmp_path / "chroma", embedding_provider="openai", llm_base_url=api.base_url
        )
        KnowledgeBase.open(remote).ingest_crm(small_export(tmp_path / "crm"))
    local = load_settings(chroma_path=tmp_path / "chroma")
    with pytest.raises(Exception, match="was built with embedder openai:text-embedding-3-small"):
        KnowledgeBase.open(local)


def test_endpoint_errors_become_one_line(tmp_path: Path) -> None:
    with FakeOpenAI() as api:
        api.fail_next(*[Failure(status=401, body={"error": {"message": "bad key"}})] * 3)
        embedder = OpenAIEmbedder(base_url=api.base_url, api_key="sk-wrong", model="m")
        with pytest.raises(EmbedderError, match="embedding endpoint failed: AuthenticationError"):
            embedder.embed(["x"])


@pytest.mark.parametrize(
    "failure",
    [
        Failure(200, raw=b"<html>gateway</html>", content_type="text/html"),
        Failure(200, raw=b"{not json"),
        Failure(200, raw=b'{"object": "list"}'),
        Failure(200, raw=b'{"object": "list", "data": []}'),
    ],
    ids=["html", "not-json", "no-data", "empty-data"],
)
def test_a_malformed_embedding_reply_is_one_line_not_a_crash(failure: Failure) -> None:
    with FakeOpenAI() as api:
        api.fail_next(failure)
        embedder = OpenAIEmbedder(base_url=api.base_url, api_key="sk-x", model="m")
        with pytest.raises(EmbedderError, match=r"its reply was not 1 embedding\(s\)"):
            embedder.embed(["x"])
