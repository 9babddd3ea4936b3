"""LLM query rewriting: through the request's own route, masked like the answer, and never required."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.knowledge.embedder import LocalEmbedder
from tests.crm_fixtures import ALICE, small_export
from tests.fake_openai import Failure, FakeOpenAI
from tests.test_assistant import build, endpoints

QUESTION = "did they push back on the price? ask dana@acme.example"


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_export(tmp_path_factory.mktemp("crm"))


def _chats(api: FakeOpenAI) -> list[dict[str, Any]]:
    return [r.json() for r in api.requests if r.path == "/v1/chat/completions"]


def _is_rewrite(body: dict[str, Any]) -> bool:
    return "search queries" in body["messages"][0]["content"]


def _reply(rewrites: str) -> Any:
    return lambda body: rewrites if _is_rewrite(body) else "An answer [1]."


def test_a_private_requests_rewrite_goes_only_to_the_private_endpoint(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    private.reply = _reply("15% off AX-PRO-2 bundle discount\nprocurement pricing")
    assistant = build(tmp_path, embedder, crm, search_query_rewrite=True, **endpoints(standard, private))
    draft = assistant.ask(QUESTION, user=ALICE, private=True)
    assert standard.bytes_received() == 0
    rewrite, answer = _chats(private)
    assert _is_rewrite(rewrite) and not _is_rewrite(answer)
    assert "dana@acme.example" in json.dumps(rewrite)  # private: nothing is masked, nothing leaves
    assert draft.sources and draft.sources[0].source_id == "N1"


def test_a_standard_rewrite_is_masked_and_its_cost_is_in_the_audit_row(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    standard.reply = _reply("1. price discount\n2. procurement pushback\n3. price discount")
    assistant = build(
        tmp_path, embedder, crm, search_query_rewrite=True, pii_masking=True, **endpoints(standard, private)
    )
    assistant.ask(QUESTION, user=ALICE)
    assert private.bytes_received() == 0
    rewrite, _ = _chats(standard)
    assert "dana@acme.example" not in json.dumps(rewrite)
    (row,) = assistant.state.audit_rows(limit=1)
    assert row.prompt_tokens == 20  # the fake counts 10 prompt tokens a call: the rewrite's + the answer's


def test_rewrites_find_what_the_question_alone_misses(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    question = "is anything holding up the paperwork?"
    plain = build(tmp_path / "a", embedder, crm, **endpoints(standard, private))
    without = [
        h.source_id for h in plain._retrieve(question, user=ALICE, decision=plain.decide(ALICE), k=3)[0]
    ]
    standard.reply = _reply("PO 7700012345 pending with procurement")
    rewriting = build(
        tmp_path / "b", embedder, crm, search_query_rewrite=True, **endpoints(standard, private)
    )
    client = rewriting.router.client(rewriting.decide(ALICE))
    hits, usage = rewriting._retrieve(
        question, user=ALICE, decision=rewriting.decide(ALICE), k=3, client=client
    )
    assert hits[0].source_id == "N1" and without[0] != "N1", without
    assert usage.latency_ms > 0


def test_a_failed_rewrite_still_answers_from_plain_retrieval(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    standard.fail_next(Failure(status=400))  # the rewrite call is refused; the answer call is not
    assistant = build(tmp_path, embedder, crm, search_query_rewrite=True, **endpoints(standard, private))
    draft = assistant.ask(QUESTION, user=ALICE)
    assert not draft.degraded and draft.sources
    assert len(_chats(standard)) == 2


def test_without_an_llm_there_is_no_rewrite_and_the_request_still_answers(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path
) -> None:
    assistant = build(tmp_path, embedder, crm, search_query_rewrite=True)
    draft = assistant.ask(QUESTION, user=ALICE)
    assert draft.degraded and draft.sources
