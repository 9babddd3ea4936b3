"""`closer sync hubspot` against a fake HubSpot over real HTTP, through hubspot-api-client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.errors import CrmError
from bot.knowledge.base import KnowledgeBase
from bot.state.store import StateStore
from tests.conftest import HashEmbedder
from tests.crm_sync_fixtures import (
    ADMIN,
    ANA,
    LIAM,
    MAYA,
    hubspot_settings,
    open_kb,
    seed,
    sync_hubspot,
    visible,
)
from tests.fake_hubspot import FakeHubSpot
from tests.fake_vendor import Failure


@pytest.fixture
def portal() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def ids(portal: FakeHubSpot) -> dict[str, str]:
    return seed(portal)


@pytest.fixture
def hs(settings: Settings, portal: FakeHubSpot) -> Settings:
    return hubspot_settings(settings, portal)


@pytest.fixture
def kb(hs: Settings) -> KnowledgeBase:
    return open_kb(hs, HashEmbedder())


def test_first_sync_reads_everything_with_access_from_owners_and_teams(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    report, _ = sync_hubspot(hs, kb)
    assert report.read == {"companies": 2, "deals": 3, "contacts": 3, "notes": 3}
    assert (
        report.added == 2 + 2 + 2 + 3
    )  # the deal and the contact without a company are skipped, and said so
    assert {p.path for p in report.problems} == {
        f"hubspot deal {ids['orphan']}",
        f"hubspot contact {ids['loner']}",
    }
    maya, liam, ana = visible(kb, MAYA), visible(kb, LIAM), visible(kb, ANA)
    assert f"deal:{ids['robots']}" in maya and f"note:{ids['rebate']}" in maya
    assert maya == liam  # same HubSpot team t1
    assert f"note:{ids['rebate']}" not in ana and f"deal:{ids['robots']}" not in ana
    assert {f"deal:{ids['pallets']}", f"note:{ids['pallet_note']}", f"note:{ids['account_note']}"} <= ana
    assert visible(kb, ADMIN) == maya | ana
    assert visible(kb, "stranger@elsewhere.example") == set()
    hit = {h.source_id: h for h in kb.search("rebate", viewer=kb.viewer(MAYA), k=5)}[ids["rebate"]]
    assert "7% rebate on the frozen-zone robots." in hit.text and "<b>" not in hit.text
    deal = {h.source_id: h for h in kb.search("robots", viewer=kb.viewer(MAYA), k=5)}[ids["robots"]]
    assert "Stage: negotiation" in deal.text and "240,000 EUR" in deal.text


def test_only_dated_api_paths_are_called(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    sync_hubspot(hs, kb)
    paths = portal.paths()
    assert paths and all("/2026-09/" in p or p.endswith("/2026-09") for p in paths)
    assert not any("/v1/" in p or "/v2/" in p or "/v3/" in p or "/v4/" in p for p in paths)


def test_incremental_sync_reads_only_changes_and_removes_archived(
    hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    hs = hs.model_copy(update={"crm_sync_refresh_minutes": 0})  # archived lists read on every run
    kb = open_kb(hs, HashEmbedder())
    portal.backdate(hours=2)  # older than the sync's look-back overlap
    sync_hubspot(hs, kb)
    portal.shift = portal.shift * 0  # back to the wall clock: the next writes are new
    portal.modify("deals", ids["pallets"], amount="99000")
    portal.archive("contacts", ids["sean"])
    report, _ = sync_hubspot(hs, kb)
    assert report.read == {"companies": 0, "deals": 1, "contacts": 0, "notes": 0}
    assert (report.updated, report.added, report.removed) == (1, 0, 1)
    assert f"contact:{ids['sean']}" not in visible(kb, ADMIN)
    pallets = {h.source_id: h for h in kb.search("pallet shuttles", viewer=kb.viewer(ANA), k=5)}[
        ids["pallets"]
    ]
    assert "99,000 EUR" in pallets.text
    again, _ = sync_hubspot(hs, kb)
    # only what changed within the look-back overlap is read again, and it costs no embedding
    assert again.records == 1 and again.unchanged == 1 and again.chunks == 0


def test_owner_change_moves_the_deal_and_its_notes(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    """Children follow their parent: a deal handed to another team takes its notes along, though the
    notes themselves did not change in HubSpot (issue 9.2's mechanism in the shared ingest path)."""
    portal.backdate(hours=2)
    sync_hubspot(hs, kb)
    portal.shift = portal.shift * 0
    ana = portal.owners[2]["id"]
    portal.modify("deals", ids["robots"], hubspot_owner_id=ana, hubspot_team_id="t2")
    report, _ = sync_hubspot(hs, kb)
    assert report.read["notes"] == 0  # the note itself was not read again
    assert f"deal:{ids['robots']}" in visible(kb, ANA)
    assert f"deal:{ids['robots']}" not in visible(kb, LIAM)
    assert f"note:{ids['rebate']}" not in visible(kb, LIAM)
    assert f"note:{ids['rebate']}" in visible(kb, ANA)


def _kinds_of_calls(portal: FakeHubSpot, since: int) -> list[str]:
    out = []
    for c in portal.calls[since:]:
        parts = c.path.strip("/").split("/")
        if c.query.get("archived") == ["true"]:
            out.append(f"archived {parts[-1]}")
        elif parts[1] in ("owners", "pipelines"):
            out.append(parts[1])
        elif parts[-1] == "search":
            out.append(f"search {parts[-2]}")
        else:
            out.append(f"{parts[3]}→{parts[4]}")
    return sorted(out)


def test_owners_pipelines_and_archived_lists_are_kept_between_runs(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    """HubSpot has no "changed since" for owners, pipelines or archived records: an incremental run
    reads them only when CRM_SYNC_REFRESH_MINUTES (60) has passed — its calls are the changed records'."""
    portal.backdate(hours=2)
    sync_hubspot(hs, kb)
    portal.shift = portal.shift * 0
    portal.modify("deals", ids["pallets"], amount="99000")
    portal.modify("notes", ids["rebate"], hs_note_body="<p>Rebate approved by the CFO.</p>")
    portal.archive("contacts", ids["sean"])
    start = len(portal.calls)
    report, _ = sync_hubspot(hs, kb)
    assert _kinds_of_calls(portal, start) == [
        "deals→companies", "notes→deals",
        "search companies", "search contacts", "search deals", "search notes",
    ]  # fmt: skip
    assert report.updated == 2 and report.removed == 0  # the archived contact waits for the next reading
    assert f"contact:{ids['sean']}" in visible(kb, ADMIN)
    start = len(portal.calls)
    later, _ = sync_hubspot(hs, kb, now=datetime.now(UTC) + timedelta(minutes=61))
    kinds = _kinds_of_calls(portal, start)
    assert {"owners", "pipelines", "archived companies", "archived contacts"} <= set(kinds)
    assert later.removed == 1 and f"contact:{ids['sean']}" not in visible(kb, ADMIN)


def test_a_new_owner_or_pipeline_stage_is_read_at_once(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    """Kept owners and stages do not hide new ones: a record naming an id the kept copy lacks reads
    owners (or pipelines) again in that run."""
    portal.backdate(hours=2)
    sync_hubspot(hs, kb)
    portal.shift = portal.shift * 0
    zoe = portal.add_owner("zoe@acme.example", teams=("t3",))
    portal.pipeline.append(("contractsigned", "Contract Signed", "true", "1.0"))
    portal.modify(
        "deals", ids["robots"], hubspot_owner_id=zoe, hubspot_team_id="t3", dealstage="contractsigned"
    )
    start = len(portal.calls)
    sync_hubspot(hs, kb)
    kinds = _kinds_of_calls(portal, start)
    assert kinds.count("owners") == 1 and kinds.count("pipelines") == 1
    assert f"deal:{ids['robots']}" in visible(kb, "zoe@acme.example")
    assert f"note:{ids['rebate']}" in visible(kb, "zoe@acme.example")  # the note follows its deal
    assert f"deal:{ids['robots']}" not in visible(kb, MAYA)
    deal = {h.source_id: h for h in kb.search("robots", viewer=kb.viewer(ADMIN), k=5)}[ids["robots"]]
    assert "Stage: closed_won" in deal.text


def test_search_past_the_10k_cap_pages_by_id(settings: Settings, portal: FakeHubSpot) -> None:
    """The fake refuses to page one query past its cap (as HubSpot does at 10,000); the sync never asks."""
    portal.search_cap = 400
    owner = portal.add_owner(MAYA)
    for n in range(650):
        portal.add("companies", {"name": f"Company {n}", "hubspot_owner_id": owner})
    hs = hubspot_settings(settings, portal)
    kb = open_kb(hs, HashEmbedder())
    report, _ = sync_hubspot(hs, kb)
    assert report.read["companies"] == 650 and report.added == 650
    searches = [c for c in portal.calls if c.path.endswith("/companies/search")]
    assert len(searches) == 4  # ceil(650 / 200): the minimum the paging allows
    assert all(not c.body.get("after") for c in searches)
    # the fake does enforce the cap on offset paging
    status, body, _ = portal.handle(searches[0].__class__(
        "POST", "/crm/objects/2026-09/companies/search", {}, {"limit": 200, "after": "300"},
        {"authorization": f"Bearer {portal.token}"}))  # fmt: skip
    assert status == 400 and "400" in body["message"]


def test_rate_limit_and_server_errors_are_retried_after_retry_after(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    portal.fail_next(Failure(429, retry_after="1", when="/search"), Failure(502, when="/batch/read"))
    report, counter = sync_hubspot(hs, kb)
    assert report.added == 9 and counter.retries == 2
    searches = [c for c in portal.calls if c.path.endswith("/companies/search")]
    assert len(searches) == 2  # the refused call and its retry


def test_a_refused_token_is_one_clear_error(kb: KnowledgeBase, hs: Settings, ids: dict[str, str]) -> None:
    bad = hs.model_copy(update={"hubspot_access_token": "pat-na1-wrong"})
    with pytest.raises(CrmError, match=r"refused the credentials \(401\)") as err:
        sync_hubspot(bad, kb)
    assert "pat-na1" not in str(err.value)


def test_a_killed_sync_resumes_where_it_stopped_without_duplicates(
    settings: Settings, portal: FakeHubSpot
) -> None:
    owner = portal.add_owner(MAYA)
    for n in range(2500):
        portal.add("companies", {"name": f"Company {n}", "hubspot_owner_id": owner})
    hs = hubspot_settings(settings, portal)
    embedder = HashEmbedder()
    kb = open_kb(hs, embedder)
    # fail on the 8th search call
    seen = {"n": 0}
    original = portal.handle

    def handle(call):  # type: ignore[no-untyped-def]
        if call.path.endswith("/companies/search"):
            seen["n"] += 1
            if seen["n"] == 8:
                return 400, {"status": "error", "message": "boom"}, {}
        return original(call)

    portal.handle = handle  # type: ignore[method-assign]
    with pytest.raises(CrmError, match="HTTP 400"):
        sync_hubspot(hs, kb)
    stored_after_kill = kb.store.count()
    assert stored_after_kill == 1000  # one batch of 1,000 written, its cursor saved
    with StateStore.open(hs.state_url) as state:
        cursor = state.sync_cursor("hubspot", "companies")
    assert cursor.running and cursor.after_id is not None
    calls_before = len(portal.calls)
    embedded_before = embedder.texts
    report, _ = sync_hubspot(hs, kb)
    assert report.resumed and report.read["companies"] == 1500
    assert report.added == 1500 and report.unchanged == 0
    assert embedder.texts - embedded_before == 1500  # nothing embedded twice
    assert kb.store.count() == 2500
    first = next(c for c in portal.calls[calls_before:] if c.path.endswith("/companies/search"))
    assert {"propertyName": "hs_object_id", "operator": "GT", "value": cursor.after_id} in first.body[
        "filterGroups"
    ][0]["filters"]


def test_full_sync_prunes_what_is_gone_and_keeps_csv_records(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str], tmp_path: Path
) -> None:
    sync_hubspot(hs, kb)
    other = tmp_path / "csv"
    other.mkdir()
    (other / "accounts.csv").write_text(
        "account_id,name,industry,region,owner_email,team,visibility\nCSV-1,Loaded From CSV,Retail,EU,x@y.example,,public\n"
    )
    kb.ingest_crm(other)
    with portal.lock:
        del portal.objects["notes"][ids["account_note"]]  # hard-deleted: no archived trace
    incremental, _ = sync_hubspot(hs, kb)
    assert incremental.removed == 0
    full, _ = sync_hubspot(hs, kb, full=True)
    assert full.removed == 1 and full.unchanged == 8 and full.added == 0
    keys = visible(kb, ADMIN)
    assert f"note:{ids['account_note']}" not in keys and "account:CSV-1" in keys


def test_full_sync_that_reads_nothing_removes_nothing(
    kb: KnowledgeBase, hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    sync_hubspot(hs, kb)
    with portal.lock:
        portal.objects["notes"].clear()
    report, _ = sync_hubspot(hs, kb, full=True)
    assert report.removed == 0 and any(
        str(n).startswith("hubspot notes: none returned at all") for n in report.notices
    )


def test_cli_sync_prints_a_summary(
    hs: Settings,
    portal: FakeHubSpot,
    ids: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {"HUBSPOT_ACCESS_TOKEN": portal.token, "HUBSPOT_API_URL": portal.url,
                        "HUBSPOT_SEARCH_PER_SECOND": "0", "CHROMA_PATH": str(hs.chroma_path),
                        "STATE_URL": hs.state_url, "EMBEDDING_PROVIDER": "local"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert main(["sync", "hubspot"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("hubspot: read 11 (2 companies, 3 deals, 3 contacts, 3 notes); 9 added")
    assert f"hubspot deal {ids['orphan']}: has no associated company" in err
    assert main(["search", "rebate robots", "--as", MAYA, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert results[0]["source_id"] in (ids["rebate"], ids["robots"])
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "wrong")
    assert main(["sync", "hubspot"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "401" in err and "wrong" not in err


def test_doctor_checks_the_hubspot_connection(hs: Settings, portal: FakeHubSpot, ids: dict[str, str]) -> None:
    from bot.doctor import render, run_checks
    from bot.observability import secrets_of

    def crm_line(settings: Settings) -> str:
        checks = {c.name: c for c in run_checks(settings)}
        return render(checks["hubspot CRM"], secrets_of(settings))

    assert crm_line(hs).startswith("✓ hubspot CRM: API 2026-09 at http://127.0.0.1")
    bad = hs.model_copy(update={"hubspot_access_token": "pat-na1-secret-wrong"})
    line = crm_line(bad)
    assert "401" in line and "pat-na1-secret-wrong" not in line
    assert crm_line(hs.model_copy(update={"hubspot_access_token": None})).endswith("not configured")


def test_serve_schedules_a_sync_per_configured_crm(
    hs: Settings, portal: FakeHubSpot, ids: dict[str, str]
) -> None:
    from bot.crm_sync.schedule import start_sync_scheduler, sync_job

    assert start_sync_scheduler(hs) is None  # CRM_SYNC_MINUTES=0: off
    scheduler = start_sync_scheduler(hs.model_copy(update={"crm_sync_minutes": 30}))
    try:
        assert [job.id for job in scheduler.get_jobs()] == ["crm-sync-hubspot"]
    finally:
        scheduler.shutdown(wait=False)
    sync_job(hs, "hubspot")  # what the job runs: a real sync, into the configured store
    with StateStore.open(hs.state_url) as state:
        assert state.sync_cursor("hubspot", "notes").watermark is not None


def test_one_sync_of_a_crm_at_a_time(hs: Settings) -> None:
    with StateStore.open(hs.state_url) as state:
        assert state.claim_sync_lease("hubspot", seconds=60, owner="host-a:1")
        assert not state.claim_sync_lease("hubspot", seconds=60, owner="host-b:2")
        assert state.claim_sync_lease(
            "hubspot", seconds=60, owner="host-b:2", take_from=lambda holder: holder == "host-a:1"
        )
        state.release_sync_lease("hubspot", owner="host-b:2")
        assert state.claim_sync_lease("salesforce", seconds=60, owner="host-a:1")
        assert state.claim_sync_lease("hubspot", seconds=60, owner="host-a:1")
