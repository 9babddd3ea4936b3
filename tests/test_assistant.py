"""The use cases against fake OpenAI-compatible endpoints over real HTTP: routing, privacy,
citations, the claim check, degradation and the audit trail."""

from __future__ import annotations

import json
import logging
import socket
from datetime import date
from pathlib import Path

import pytest

from bot.assistant import Assistant
from bot.config import load_settings
from bot.errors import PrivacyError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from bot.llm.router import LLMRouter
from bot.state.store import StateStore
from tests.crm_fixtures import ALICE, BOB, small_export
from tests.fake_openai import FakeOpenAI

MARKER = "ZEBRA-MARKER-7731"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens here any more


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_export(tmp_path_factory.mktemp("crm"))


def build(tmp_path: Path, embedder: LocalEmbedder | None, crm: Path, **overrides: object) -> Assistant:
    settings = load_settings(chroma_path=tmp_path / "chroma", state_url=f"sqlite:///{tmp_path / 'state.db'}",
                             cache_dir=tmp_path / "cache", index_refresh_seconds=0, llm_retry_seconds=2,
                             llm_timeout_seconds=5, **overrides)  # fmt: skip
    kb = KnowledgeBase.open(settings, embedder)
    kb.ingest_crm(crm)
    return Assistant(settings, kb, LLMRouter(settings), StateStore.open(settings.state_url),
                     today=lambda: date(2026, 11, 25))  # fmt: skip


def endpoints(standard: FakeOpenAI, private: FakeOpenAI) -> dict[str, object]:
    return {"llm_base_url": standard.base_url, "llm_api_key": "sk-std", "llm_model": "std-model",
            "private_llm_base_url": private.base_url, "private_llm_api_key": "sk-priv",
            "private_llm_model": "priv-model"}  # fmt: skip


def test_ask_cites_only_retrieved_sources_and_sends_store_false(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    standard.reply = lambda body: "They asked for 15% off the AX-PRO-2 bundle [1]. Also [99] and [1, 42]."
    assistant = build(tmp_path, embedder, crm, **endpoints(standard, private))
    draft = assistant.ask("What discount did Acme ask for on AX-PRO-2?", user=ALICE)
    assert draft.decision.route == "standard"
    assert "[99]" not in draft.text and "[42]" not in draft.text and "[1]" in draft.text
    assert [c.source_id for c in draft.citations] == [draft.sources[0].source_id]
    assert draft.unverified == []
    (chat,) = [r.json() for r in standard.requests if r.path == "/v1/chat/completions"]
    assert chat["store"] is False and chat["model"] == "std-model"
    assert private.bytes_received() == 0
    out = draft.as_json("ask")
    assert out["route"] == "standard" and set(out) >= {"text", "citations", "route"}
    assert set(out["citations"][0]) == {"source_id", "source_type", "title"}


def test_claims_missing_from_cited_sources_are_flagged(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    standard.reply = lambda body: ("Acme asked for 15% off AX-PRO-2 [1]. We could go to 30% on HUB-M4 "
                                   "by 2026-12-24 for $99,000 [1].")  # fmt: skip
    draft = build(tmp_path, embedder, crm, **endpoints(standard, private)).ask(
        "Acme AX-PRO-2 discount", user=ALICE
    )
    assert sorted(c.text for c in draft.unverified) == ["$99,000", "2026-12-24", "30%", "HUB-M4"]


@pytest.mark.parametrize("how", ["flag", "user_pref", "channel", "enforced", "default"])
def test_private_requests_send_zero_bytes_to_the_standard_endpoint(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI, how: str
) -> None:
    extra = {"enforced": {"privacy_enforced": True}, "default": {"privacy_default": "private"}}.get(how, {})
    assistant = build(tmp_path, embedder, crm, **endpoints(standard, private), **extra)
    if how == "user_pref":
        assistant.set_privacy(ALICE, True)
    if how == "channel":
        assistant.state.set_channel_private("C123", True)
    draft = assistant.ask("Pricing call notes?", user=ALICE, private=how == "flag", channel="C123")
    assert draft.decision.route == "private" and draft.decision.reason
    assert standard.bytes_received() == 0
    assert [r.path for r in private.requests] == ["/v1/chat/completions"]
    assert private.requests[0].json()["model"] == "priv-model"


def test_enforced_privacy_cannot_be_switched_off(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    assistant = build(tmp_path, embedder, crm, **endpoints(standard, private), privacy_enforced=True)
    assert assistant.set_privacy(ALICE, False).route == "private"


def test_remote_embeddings_of_a_private_request_go_to_the_private_endpoint(
    tmp_path: Path, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    assistant = build(tmp_path, None, crm, **endpoints(standard, private), embedding_provider="openai")
    assert any(r.path == "/v1/embeddings" for r in standard.requests)  # the ingest used the standard route
    before = standard.bytes_received()
    draft = assistant.ask("Security review for Globex?", user=BOB, private=True)
    assert draft.decision.private
    assert standard.bytes_received() == before
    assert [r.path for r in private.requests] == ["/v1/embeddings", "/v1/chat/completions"]


def test_private_without_a_private_endpoint_is_refused(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI
) -> None:
    assistant = build(tmp_path, embedder, crm, llm_base_url=standard.base_url, llm_api_key="sk-std")
    with pytest.raises(PrivacyError, match="no private endpoint is configured"):
        assistant.ask("anything", user=ALICE, private=True)
    assert standard.bytes_received() == 0
    (row,) = assistant.state.audit_rows()
    assert (row.route, row.outcome) == ("private", "refused")


def test_private_endpoint_down_is_refused_never_rerouted(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI
) -> None:
    assistant = build(tmp_path, embedder, crm, llm_base_url=standard.base_url, llm_api_key="sk-std",
                      private_llm_base_url=closed_port_url())  # fmt: skip
    with pytest.raises(PrivacyError, match="nothing was sent to the standard endpoint"):
        assistant.ask("anything", user=ALICE, private=True)
    assert standard.bytes_received() == 0


def test_a_private_question_leaves_no_trace_in_files_or_logs(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    private.reply = lambda body: f"The answer mentions {MARKER} too [1]."
    assistant = build(tmp_path, embedder, crm, **endpoints(standard, private))
    caplog.set_level(logging.DEBUG)
    draft = assistant.ask(f"What about {MARKER} for Acme?", user=ALICE, private=True)
    assert MARKER in draft.text  # the user gets the answer…
    assistant.state.close()
    for record in caplog.records:  # …but no log record holds the question or the answer
        assert MARKER not in record.getMessage() and MARKER not in json.dumps(record.__dict__, default=str)
    for path in tmp_path.rglob("*"):  # …and no file: store, state database (and its WAL), caches
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes(), path
    assert standard.bytes_received() == 0


def test_every_request_writes_a_content_free_audit_row(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    assistant = build(tmp_path, embedder, crm, **endpoints(standard, private))
    assistant.ask("Pricing call?", user=ALICE)
    assistant.ask("Pricing call?", user=ALICE, private=True)
    rows = assistant.state.audit_rows()
    assert [(r.route, r.outcome, r.endpoint_host) for r in rows] == [
        ("private", "ok", private.base_url.split("/")[2]),
        ("standard", "ok", standard.base_url.split("/")[2]),
    ]
    assert all(r.prompt_tokens == 10 and r.completion_tokens == 5 and r.latency_ms > 0 for r in rows)
    assert {r.model for r in rows} == {"std-model", "priv-model"}


def test_without_an_llm_ask_returns_sources_with_a_note(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path
) -> None:
    draft = build(tmp_path, embedder, crm).ask("AX-PRO-2 discount", user=ALICE)
    assert draft.degraded and "no language model is configured" in draft.text
    assert draft.citations and draft.citations[0].source_id == "N1"
    assert draft.decision.route == "standard"


def test_standard_endpoint_down_degrades_instead_of_failing(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path
) -> None:
    assistant = build(tmp_path, embedder, crm, llm_base_url=closed_port_url(), llm_api_key="sk")
    draft = assistant.ask("AX-PRO-2 discount", user=ALICE)
    assert draft.degraded and "unreachable" in draft.note
    assert assistant.state.audit_rows()[0].outcome == "degraded"


def test_followup_uses_json_schema_and_cites_the_deal(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    standard.reply = lambda body: json.dumps({"subject": "Next steps on Acme Expansion",
                                              "body": "Hi Dana, as discussed we can offer 15% [2]. [Your name]",
                                              "next_steps": ["Send MSA redlines"]})  # fmt: skip
    draft = build(tmp_path, embedder, crm, **endpoints(standard, private)).followup("D1", user=ALICE)
    body = standard.requests[-1].json()
    assert body["response_format"]["type"] == "json_schema" and body["store"] is False
    assert draft.subject == "Next steps on Acme Expansion" and draft.next_steps == ["Send MSA redlines"]
    assert draft.sources[0].source_id == "D1" and draft.citations[0].source_id == draft.sources[1].source_id
    assert "subject" in draft.as_json("followup")


def test_followup_of_a_deal_the_user_cannot_see_looks_like_a_missing_deal(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    assistant = build(tmp_path, embedder, crm, **endpoints(standard, private))
    with pytest.raises(Exception, match="no deal 'D1' that you can see"):
        assistant.followup("D1", user=BOB)
    with pytest.raises(Exception, match="no deal 'D404' that you can see"):
        assistant.followup("D404", user=BOB)
    assert standard.bytes_received() == 0


def test_pii_masking_hides_contacts_from_the_standard_endpoint(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    standard.reply = lambda body: "Email [email 1] [1]."
    assistant = build(tmp_path, embedder, crm, **endpoints(standard, private), pii_masking=True)
    draft = assistant.ask("What is Dana Ruiz's email and phone at Acme?", user=ALICE)
    sent = standard.requests[-1].body.decode()
    assert "dana@acme.example" not in sent and "555 0100" not in sent and "[email 1]" in sent
    assert "dana@acme.example" in draft.text  # put back on this machine


def test_streamed_answer_is_checked_like_a_plain_one(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    standard.reply = lambda body: "Acme asked for 15% off AX-PRO-2 [1] and 40% [7]."
    pieces: list[str] = []
    draft = build(tmp_path, embedder, crm, **endpoints(standard, private)).ask(
        "Acme AX-PRO-2 discount", user=ALICE, on_text=pieces.append
    )
    assert len(pieces) > 2 and "".join(pieces) == "Acme asked for 15% off AX-PRO-2 [1] and 40% [7]."
    assert draft.text == "Acme asked for 15% off AX-PRO-2 [1] and 40%."  # [7] was never retrieved
    assert [c.text for c in draft.unverified] == ["40%"]
    assert standard.requests[-1].json()["stream"] is True
