"""Shared set-up for the CRM sync tests: a small sales org in a fake HubSpot, and helpers."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.crm_sync.engine import SyncReport, SyncRun
from bot.crm_sync.http import CallCounter
from bot.crm_sync.hubspot import HubSpotSource
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.store import ChunkStore
from bot.state.store import StateStore
from tests.fake_hubspot import FakeHubSpot

MAYA, LIAM, ANA, ADMIN = "maya@acme.example", "liam@acme.example", "ana@acme.example", "admin@x.example"


def hubspot_settings(settings: Settings, portal: FakeHubSpot, **extra: object) -> Settings:
    return settings.model_copy(update={"hubspot_access_token": portal.token, "hubspot_api_url": portal.url,
                                       "hubspot_search_per_second": 0.0, "crm_retry_seconds": 5.0, **extra})  # fmt: skip


def open_kb(settings: Settings, embedder: object) -> KnowledgeBase:
    store = ChunkStore.open(settings, embedder_id=embedder.model_id, dimension=embedder.dimension)  # type: ignore[attr-defined]
    return KnowledgeBase(settings, embedder, store)  # type: ignore[arg-type]


def sync_hubspot(
    settings: Settings, kb: KnowledgeBase, *, full: bool = False
) -> tuple[SyncReport, CallCounter]:
    counter = CallCounter()
    source = HubSpotSource(settings, counter)
    with StateStore.open(settings.state_url) as state:
        return SyncRun(source, kb, state, counter, full=full).run(), counter


def seed(portal: FakeHubSpot) -> dict[str, str]:
    """Two accounts, three deals, contacts and notes; Maya and Liam share team t1, Ana is in t2."""
    maya = portal.add_owner(MAYA, teams=("t1",))
    portal.add_owner(LIAM, teams=("t1",))
    ana = portal.add_owner(ANA, teams=("t2",))
    ids: dict[str, str] = {}
    ids["halvorsen"] = portal.add("companies", {"name": "Halvorsen Cold Storage", "industry": "Logistics",
                                                "country": "Norway", "hubspot_owner_id": maya, "hubspot_team_id": "t1"})  # fmt: skip
    ids["brindle"] = portal.add("companies", {"name": "Brindle Foods", "industry": "Food", "country": "Ireland",
                                              "hubspot_owner_id": ana, "hubspot_team_id": "t2"})  # fmt: skip
    ids["robots"] = portal.add("deals", {"dealname": "Frozen-zone robots", "dealstage": "contractsent", "pipeline": "default",
                                         "amount": "240000", "deal_currency_code": "EUR", "closedate": "2026-12-18T00:00:00Z",
                                         "hs_next_step": "Send the revised rebate schedule", "hubspot_owner_id": maya,
                                         "hubspot_team_id": "t1"})  # fmt: skip
    ids["pallets"] = portal.add("deals", {"dealname": "Pallet shuttles", "dealstage": "closedwon", "pipeline": "default",
                                          "amount": "88000", "deal_currency_code": "EUR", "closedate": "2026-10-02T00:00:00Z",
                                          "hubspot_owner_id": ana, "hubspot_team_id": "t2"})  # fmt: skip
    ids["orphan"] = portal.add(
        "deals", {"dealname": "Orphan deal", "dealstage": "qualifiedtobuy", "hubspot_owner_id": ana}
    )
    portal.associate("deals", ids["robots"], "companies", ids["halvorsen"], 5)
    portal.associate("deals", ids["pallets"], "companies", ids["brindle"], 5)
    ids["ingrid"] = portal.add("contacts", {"firstname": "Ingrid", "lastname": "Dahl", "jobtitle": "COO",
                                            "email": "ingrid@halvorsen.example", "phone": "+47 555 0100",
                                            "associatedcompanyid": ids["halvorsen"]})  # fmt: skip
    ids["sean"] = portal.add("contacts", {"firstname": "Sean", "lastname": "Byrne", "jobtitle": "Buyer",
                                          "email": "sean@brindle.example", "associatedcompanyid": ids["brindle"]})  # fmt: skip
    ids["loner"] = portal.add("contacts", {"firstname": "No", "lastname": "Company"})
    ids["rebate"] = portal.add("notes", {"hs_note_body": "<p>Ingrid asked for a <b>7% rebate</b> on the frozen-zone robots.</p><p>Needs CFO approval.</p>",
                                         "hs_timestamp": "2026-10-20T10:00:00Z", "hubspot_owner_id": maya})  # fmt: skip
    portal.associate("notes", ids["rebate"], "deals", ids["robots"], 214)
    portal.associate("notes", ids["rebate"], "companies", ids["halvorsen"], 190)
    ids["pallet_note"] = portal.add("notes", {"hs_note_body": "Sean confirmed the pallet shuttle go-live for March.",
                                              "hs_timestamp": "2026-10-05T09:00:00Z", "hubspot_owner_id": ana})  # fmt: skip
    portal.associate("notes", ids["pallet_note"], "deals", ids["pallets"], 214)
    portal.associate("notes", ids["pallet_note"], "companies", ids["brindle"], 190)
    ids["account_note"] = portal.add("notes", {"hs_note_body": "Brindle's warehouse in Cork is expanding.",
                                               "hs_timestamp": "2026-09-01T09:00:00Z", "hubspot_owner_id": ana})  # fmt: skip
    portal.associate("notes", ids["account_note"], "companies", ids["brindle"], 190)
    return ids


def write_equivalent_csv(folder: Path, ids: dict[str, str]) -> Path:
    """The same org as :func:`seed`, written by hand in Closer's CSV format (what a CSV user would load)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(
        "account_id,name,industry,region,owner_email,team,visibility\n"
        f"{ids['halvorsen']},Halvorsen Cold Storage,Logistics,Norway,{MAYA},{LIAM},private\n"
        f"{ids['brindle']},Brindle Foods,Food,Ireland,{ANA},,private\n"
    )
    (folder / "deals.csv").write_text(
        "deal_id,account_id,name,owner_email,team,stage,amount,currency,close_date,next_step,updated_at,visibility\n"
        f"{ids['robots']},{ids['halvorsen']},Frozen-zone robots,{MAYA},{LIAM},negotiation,240000,EUR,2026-12-18,"
        "Send the revised rebate schedule,,private\n"
        f"{ids['pallets']},{ids['brindle']},Pallet shuttles,{ANA},,closed_won,88000,EUR,2026-10-02,,,private\n"
    )
    (folder / "contacts.csv").write_text(
        "contact_id,account_id,name,title,email,phone\n"
        f"{ids['ingrid']},{ids['halvorsen']},Ingrid Dahl,COO,ingrid@halvorsen.example,+47 555 0100\n"
        f"{ids['sean']},{ids['brindle']},Sean Byrne,Buyer,sean@brindle.example,\n"
    )
    (folder / "notes.csv").write_text(
        "note_id,account_id,deal_id,author_email,created_at,kind,subject,body\n"
        f"{ids['rebate']},{ids['halvorsen']},{ids['robots']},{MAYA},2026-10-20T10:00:00Z,note,,"
        '"Ingrid asked for a 7% rebate on the frozen-zone robots.\nNeeds CFO approval."\n'
        f"{ids['pallet_note']},{ids['brindle']},{ids['pallets']},{ANA},2026-10-05T09:00:00Z,note,,"
        "Sean confirmed the pallet shuttle go-live for March.\n"
        f"{ids['account_note']},{ids['brindle']},,{ANA},2026-09-01T09:00:00Z,note,,Brindle's warehouse in Cork is expanding.\n"
    )
    return folder
