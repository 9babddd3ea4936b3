"""What goes into a digest: access, the manager roll-up, the sample company, stage changes, snoozes,
and suggested next steps through the privacy router (fake OpenAI-compatible endpoints over HTTP)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.digest.actions import snooze, snoozed_until
from bot.digest.model import Digest
from bot.digest.service import DigestService
from tests.conftest import SAMPLE
from tests.digest_fixtures import ALICE, BOB, CAROL, DAVE, TODAY, boundary_export, service_for
from tests.fake_openai import Failure, FakeOpenAI

MAYA, TOM = "maya.okafor@brindlewood.example", "tom.lindqvist@brindlewood.example"
SOFIA, INES = "sofia.brandt@brindlewood.example", "ines.marchetti@brindlewood.example"


def ids(digest: Digest) -> list[str]:
    return [line.deal.deal_id for line in digest.lines]


def steps_reply(steps: dict[str, str]) -> Any:
    return lambda body: json.dumps({"steps": [{"deal_id": k, "step": v} for k, v in steps.items()]})


# --- who gets which deals ------------------------------------------------------------------------------


def test_a_deal_on_another_reps_team_never_appears(tmp_path: Path) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    alice = service.build(ALICE, TODAY)
    assert "C1" not in ids(alice) and "C2" not in ids(alice)  # Carol's: private with others, and public
    assert "W" not in ids(alice) and "L" not in ids(alice)  # closed deals are not in a digest
    carol = service.build(CAROL, TODAY)
    assert carol.scope == "own" and ids(carol) == ["C2", "C1"]


def test_a_rep_who_owns_nothing_gets_a_roll_up_of_their_team_deals(tmp_path: Path) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    bob = service.build(BOB, TODAY)
    assert bob.scope == "team" and ids(bob) == ["C1", "B14"]  # on Carol's and on Alice's deal
    assert {line.deal.owner for line in bob.lines} == {CAROL, ALICE}
    assert ids(service.build(DAVE, TODAY)) == ["C1"]
    admin = service.build("admin@x.example", TODAY)  # admins see everything, but own no deal
    assert admin.lines == () and admin.scope == "team"
    assert service.recipients() == sorted([ALICE, BOB, CAROL, DAVE])


def test_the_sample_company_on_its_own_day(tmp_path: Path) -> None:
    service = service_for(tmp_path, SAMPLE / "crm")
    assert service.recipients() == sorted(["daniel.reyes@brindlewood.example", MAYA,
                                           "priya.natarajan@brindlewood.example", SOFIA, TOM])  # fmt: skip
    maya = service.build(MAYA, TODAY)
    assert maya.scope == "own"
    assert [(x.deal.deal_id, x.flags) for x in maya.lines] == [
        ("DL-102", ("overdue", "stale")),
        ("DL-101", ("closing_soon",)),
        ("DL-302", ("stale",)),
        ("DL-301", ()),
        ("DL-801", ()),
    ]
    assert maya.totals == {"USD": 1430510.0, "EUR": 660551.0}
    tom = service.build(TOM, TODAY)
    assert tom.scope == "team"
    assert set(ids(tom)) == {"DL-101", "DL-201", "DL-202", "DL-204", "DL-301", "DL-401", "DL-601",
                             "DL-701", "DL-702", "DL-801"}  # fmt: skip
    assert ids(tom)[:2] == ["DL-701", "DL-202"]  # overdue first, then the soonest closing
    flags = {x.deal.deal_id: x.flags for x in tom.lines}
    assert flags["DL-401"] == ()  # closes on day 15: not "closing soon"
    assert set(ids(service.build(SOFIA, TODAY))) == {
        "DL-101",
        "DL-201",
        "DL-301",
        "DL-302",
        "DL-601",
        "DL-701",
    }
    assert service.build(INES, TODAY).lines == ()  # the admin owns and is on the team of nothing


# --- stage changes and snoozes -------------------------------------------------------------------------


def test_stage_changed_since_the_previous_sent_digest(tmp_path: Path) -> None:
    crm = boundary_export(tmp_path / "crm")
    service = service_for(tmp_path, crm)
    sent: list[Digest] = []
    assert service.send(ALICE, TODAY, sent.append).status == "sent"
    boundary_export(crm, stages={"B14": "negotiation"})
    service.assistant.kb.ingest_crm(crm)
    tomorrow = TODAY + timedelta(days=1)
    preview = service.build(ALICE, tomorrow)
    b14 = next(x for x in preview.lines if x.deal.deal_id == "B14")
    assert "stage_changed" in b14.flags and b14.previous_stage == "proposal"
    assert [x.deal.deal_id for x in preview.lines if "stage_changed" in x.flags] == ["B14"]
    assert service.send(ALICE, tomorrow, sent.append).status == "sent"
    later = service.build(ALICE, tomorrow + timedelta(days=1))  # compared with tomorrow's digest now
    assert all("stage_changed" not in x.flags for x in later.lines)


def test_a_preview_saves_no_snapshot(tmp_path: Path) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    service.build(ALICE, TODAY)
    assert service.state.last_snapshot(ALICE, before=TODAY + timedelta(days=1)) == {}


def test_a_snoozed_deal_is_left_out_for_a_week(tmp_path: Path) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    snooze(service.state, ALICE, "BY", TODAY)
    assert snoozed_until(TODAY) == TODAY + timedelta(days=7)
    for offset in (0, 6):
        digest = service.build(ALICE, TODAY + timedelta(days=offset))
        assert "BY" not in ids(digest) and digest.snoozed == ("BY",)
        assert digest.totals["EUR"] == 4000.0  # still part of the pipeline
    assert "BY" in ids(service.build(ALICE, TODAY + timedelta(days=7)))
    assert service.state.snoozed_deals(CAROL, TODAY) == {}


# --- suggested next steps ------------------------------------------------------------------------------


def test_flagged_deals_get_one_line_suggestions_from_the_standard_route(
    tmp_path: Path, standard: FakeOpenAI
) -> None:
    standard.reply = steps_reply({"BY": "  Call Acme's buyer today\nabout the PO  ", "B0": "x" * 300,
                                  "C1": "invented for a deal not in the prompt", "S14": "not flagged"})  # fmt: skip
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"), llm_base_url=standard.base_url,
                          llm_api_key="sk-std", llm_model="std-model")  # fmt: skip
    digest = service.build(ALICE, TODAY)
    got = {x.deal.deal_id: x.suggestion for x in digest.lines}
    assert got["BY"] == "Call Acme's buyer today about the PO"
    assert len(got["B0"]) == 120 and got["B0"].endswith("…")
    assert got["S14"] == "" and got["B15"] == "" and "C1" not in got
    assert digest.route == "standard" and digest.note == ""
    (chat,) = [r.json() for r in standard.requests if r.path.endswith("/chat/completions")]
    prompt = json.dumps(chat["messages"])
    assert chat["store"] is False and chat["response_format"]["type"] == "json_schema"
    assert "Closed yesterday" in prompt and "Talked about BY" in prompt  # facts and the latest note
    assert "Carol secret" not in prompt and "Note fourteen days ago" not in prompt  # only her flagged deals
    (row,) = service.state.audit_rows()
    assert (row.action, row.route, row.outcome, row.model) == ("digest", "standard", "ok", "std-model")
    assert row.endpoint_host == standard.base_url.split("//")[1].split("/")[0]


def test_without_an_llm_the_digest_has_no_suggestions(tmp_path: Path) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    digest = service.build(ALICE, TODAY)
    assert digest.lines and all(x.suggestion == "" for x in digest.lines)
    assert "no language model" in digest.note
    sent: list[Digest] = []
    assert service.send(ALICE, TODAY, sent.append).status == "sent" and len(sent) == 1


def test_an_llm_that_is_down_leaves_the_digest_without_suggestions(
    tmp_path: Path, standard: FakeOpenAI
) -> None:
    standard.fail_next(*[Failure(503)] * 4)
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"), llm_base_url=standard.base_url,
                          llm_api_key="sk-std")  # fmt: skip
    sent: list[Digest] = []
    result = service.send(ALICE, TODAY, sent.append)
    assert result.status == "sent" and sent[0].lines and all(x.suggestion == "" for x in sent[0].lines)
    assert "no suggestions today" in sent[0].note


def test_a_private_user_without_a_private_endpoint_sends_nothing_to_the_standard_llm(
    tmp_path: Path, standard: FakeOpenAI
) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"), llm_base_url=standard.base_url,
                          llm_api_key="sk-std")  # fmt: skip
    service.state.set_user_private(ALICE, True)
    sent: list[Digest] = []
    assert service.send(ALICE, TODAY, sent.append).status == "sent"
    digest = sent[0]
    assert digest.lines and all(x.suggestion == "" for x in digest.lines)
    assert digest.route == "private" and "private" in digest.note
    assert standard.bytes_received() == 0 and standard.requests == []
    assert service.state.audit_rows()[0].outcome == "refused"


def test_a_private_user_gets_suggestions_from_the_private_endpoint_only(
    tmp_path: Path, standard: FakeOpenAI, private: FakeOpenAI
) -> None:
    private.reply = steps_reply({"BY": "Chase the PO"})
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"), llm_base_url=standard.base_url,
                          llm_api_key="sk-std", private_llm_base_url=private.base_url,
                          pii_masking=True)  # fmt: skip
    service.state.set_user_private(ALICE, True)
    digest = service.build(ALICE, TODAY)
    assert {x.deal.deal_id: x.suggestion for x in digest.lines}["BY"] == "Chase the PO"
    assert digest.route == "private" and standard.bytes_received() == 0
    assert [r.path for r in private.requests] == ["/v1/chat/completions"]


def test_suggestions_can_be_switched_off(tmp_path: Path, standard: FakeOpenAI) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"), llm_base_url=standard.base_url,
                          llm_api_key="sk-std", digest_suggestions=False)  # fmt: skip
    sent: list[Digest] = []
    service.send(ALICE, TODAY, sent.append)
    assert standard.requests == [] and sent[0].note == ""


def test_digest_json_has_the_contract_shape(tmp_path: Path) -> None:
    service: DigestService = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    out = service.build(ALICE, TODAY).as_json()
    assert {"user", "date", "deals", "sent"} <= set(out) and out["sent"] is False
    deal = out["deals"][0]  # type: ignore[index]
    assert {"deal_id", "name", "amount", "flags"} <= set(deal)
    assert deal["flags"] == ["overdue"] and deal["amount"] == 4000 and deal["currency"] == "EUR"
    assert out["totals"] == {"EUR": 4000, "USD": 16500}
