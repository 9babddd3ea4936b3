"""Shared set-up for the CRM sync tests: a small sales org in a fake HubSpot, and helpers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot.config import Settings
from bot.crm_sync.engine import SyncReport, SyncRun
from bot.crm_sync.http import CallCounter
from bot.crm_sync.hubspot import HubSpotSource
from bot.crm_sync.salesforce import SalesforceSource
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.store import ChunkStore
from bot.state.store import StateStore
from tests.fake_hubspot import FakeHubSpot
from tests.fake_salesforce import FakeSalesforce

MAYA, LIAM, ANA, ADMIN = "maya@acme.example", "liam@acme.example", "ana@acme.example", "admin@x.example"


def hubspot_settings(settings: Settings, portal: FakeHubSpot, **extra: object) -> Settings:
    return settings.model_copy(update={"hubspot_access_token": portal.token, "hubspot_api_url": portal.url,
                                       "hubspot_search_per_second": 0.0, "crm_retry_seconds": 5.0, **extra})  # fmt: skip


def open_kb(settings: Settings, embedder: object) -> KnowledgeBase:
    store = ChunkStore.open(settings, embedder_id=embedder.model_id, dimension=embedder.dimension)  # type: ignore[attr-defined]
    return KnowledgeBase(settings, embedder, store)  # type: ignore[arg-type]


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


def write_equivalent_csv(folder: Path, ids: dict[str, str], *, currency: str = "EUR",
                         kinds: tuple[str, str, str] = ("note", "note", "note")) -> Path:  # fmt: skip
    """The same org as :func:`seed`, written by hand in Closer's CSV format (what a CSV user would load)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(
        "account_id,name,industry,region,owner_email,team,visibility\n"
        f"{ids['halvorsen']},Halvorsen Cold Storage,Logistics,Norway,{MAYA},{LIAM},private\n"
        f"{ids['brindle']},Brindle Foods,Food,Ireland,{ANA},,private\n"
    )
    (folder / "deals.csv").write_text(
        "deal_id,account_id,name,owner_email,team,stage,amount,currency,close_date,next_step,updated_at,visibility\n"
        f"{ids['robots']},{ids['halvorsen']},Frozen-zone robots,{MAYA},{LIAM},negotiation,240000,{currency},2026-12-18,"
        "Send the revised rebate schedule,,private\n"
        f"{ids['pallets']},{ids['brindle']},Pallet shuttles,{ANA},,closed_won,88000,{currency},2026-10-02,,,private\n"
    )
    (folder / "contacts.csv").write_text(
        "contact_id,account_id,name,title,email,phone\n"
        f"{ids['ingrid']},{ids['halvorsen']},Ingrid Dahl,COO,ingrid@halvorsen.example,+47 555 0100\n"
        f"{ids['sean']},{ids['brindle']},Sean Byrne,Buyer,sean@brindle.example,\n"
    )
    (folder / "notes.csv").write_text(
        "note_id,account_id,deal_id,author_email,created_at,kind,subject,body\n"
        f"{ids['rebate']},{ids['halvorsen']},{ids['robots']},{MAYA},2026-10-20T10:00:00Z,{kinds[0]},,"
        '"Ingrid asked for a 7% rebate on the frozen-zone robots.\nNeeds CFO approval."\n'
        f"{ids['pallet_note']},{ids['brindle']},{ids['pallets']},{ANA},2026-10-05T09:00:00Z,{kinds[1]},,"
        "Sean confirmed the pallet shuttle go-live for March.\n"
        f"{ids['account_note']},{ids['brindle']},,{ANA},2026-09-01T09:00:00Z,{kinds[2]},,Brindle's warehouse in Cork is expanding.\n"
    )
    return folder


def salesforce_settings(settings: Settings, org: FakeSalesforce, key_file: Path, **extra: object) -> Settings:
    return settings.model_copy(update={"salesforce_login_url": org.url, "salesforce_client_id": org.client_id,
                                       "salesforce_username": org.username, "salesforce_private_key_file": key_file,
                                       "crm_retry_seconds": 5.0, **extra})  # fmt: skip


def seed_salesforce(org: FakeSalesforce) -> dict[str, str]:
    """The same org as :func:`seed`, the Salesforce way: owners are Users, teams are team members."""
    maya, liam, ana = org.user(MAYA), org.user(LIAM), org.user(ANA)
    ids: dict[str, str] = {}
    ids["halvorsen"] = org.add("Account", Name="Halvorsen Cold Storage", Industry="Logistics", BillingCountry="Norway",
                               OwnerId=maya)  # fmt: skip
    ids["brindle"] = org.add(
        "Account", Name="Brindle Foods", Industry="Food", BillingCountry="Ireland", OwnerId=ana
    )
    org.add("AccountTeamMember", AccountId=ids["halvorsen"], UserId=liam)
    ids["robots"] = org.add("Opportunity", Name="Frozen-zone robots", AccountId=ids["halvorsen"],
                            StageName="Negotiation/Review", Amount=240000.0, CloseDate="2026-12-18",
                            NextStep="Send the revised rebate schedule", IsClosed=False, IsWon=False, Probability=90.0,
                            OwnerId=maya)  # fmt: skip
    ids["pallets"] = org.add("Opportunity", Name="Pallet shuttles", AccountId=ids["brindle"], StageName="Closed Won",
                             Amount=88000.0, CloseDate="2026-10-02", IsClosed=True, IsWon=True, Probability=100.0,
                             OwnerId=ana)  # fmt: skip
    org.add("OpportunityTeamMember", OpportunityId=ids["robots"], UserId=liam)
    ids["ingrid"] = org.add("Contact", AccountId=ids["halvorsen"], Name="Ingrid Dahl", Title="COO",
                            Email="ingrid@halvorsen.example", Phone="+47 555 0100")  # fmt: skip
    ids["sean"] = org.add(
        "Contact", AccountId=ids["brindle"], Name="Sean Byrne", Title="Buyer", Email="sean@brindle.example"
    )
    ids["rebate"] = org.add("Task", Subject="", WhatId=ids["robots"], AccountId=ids["halvorsen"], OwnerId=maya,
                            Description="Ingrid asked for a 7% rebate on the frozen-zone robots.\nNeeds CFO approval.",
                            ActivityDate="2026-10-20", CreatedDate="2026-10-20T10:00:00.000+0000")  # fmt: skip
    ids["pallet_note"] = org.add("Event", Subject="", WhatId=ids["pallets"], AccountId=ids["brindle"], OwnerId=ana,
                                 Description="Sean confirmed the pallet shuttle go-live for March.",
                                 ActivityDateTime="2026-10-05T09:00:00.000+0000")  # fmt: skip
    ids["account_note"] = org.add("Note", Title="", ParentId=ids["brindle"], OwnerId=ana,
                                  Body="Brindle's warehouse in Cork is expanding.",
                                  CreatedDate="2026-09-01T09:00:00.000+0000")  # fmt: skip
    return ids


def run_sync(source_class: type[HubSpotSource | SalesforceSource], settings: Settings, kb: KnowledgeBase, *,
             full: bool = False, now: datetime | None = None) -> tuple[SyncReport, CallCounter]:  # fmt: skip
    counter = CallCounter()
    source = source_class(settings, counter)
    with StateStore.open(settings.state_url) as state:
        return SyncRun(source, kb, state, counter, full=full, now=now).run(), counter


def sync_hubspot(
    settings: Settings, kb: KnowledgeBase, *, full: bool = False, now: datetime | None = None
) -> tuple[SyncReport, CallCounter]:
    return run_sync(HubSpotSource, settings, kb, full=full, now=now)


def sync_salesforce(
    settings: Settings, kb: KnowledgeBase, *, full: bool = False, now: datetime | None = None
) -> tuple[SyncReport, CallCounter]:
    return run_sync(SalesforceSource, settings, kb, full=full, now=now)


def visible(kb: KnowledgeBase, email: str) -> set[str]:
    """Every record ``email`` may see (the search index's own access mask)."""
    index = kb.index()
    mask = index.visible(kb.viewer(email))
    return {f"{m.source_type}:{m.source_id}" for m, ok in zip(index.metas, mask, strict=True) if ok}
