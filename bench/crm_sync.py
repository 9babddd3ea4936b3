"""CRM sync: API calls against the minimum the paging allows, records/s, and incremental work.

Runs `closer sync hubspot`'s engine (HubSpotSource + SyncRun, the real hubspot-api-client request
builder over HTTP) against the fake HubSpot of tests/fake_hubspot.py on 127.0.0.1:

1. an initial sync of N objects (a quarter each companies, deals, contacts, notes; every deal and
   note associated), embedded with a hashing embedder (tests/conftest.py's HashEmbedder) so the
   figure measures the sync path, not the model;
2. an incremental sync after 1% of the objects changed;
3. the same initial sync of a smaller org with the real local embedder (all-MiniLM-L6-v2), for
   end-to-end records/s.

    .venv/bin/python bench/crm_sync.py --objects 50000 --real 2000
    .venv/bin/python bench/crm_sync.py --salesforce 50000   # the same review for Salesforce (calls only)

The incremental run comes right after the initial one, so owners, pipelines and archived lists are
still fresh (CRM_SYNC_REFRESH_MINUTES): its calls are those of the changed records.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import load_settings
from bot.knowledge.embedder import LocalEmbedder
from tests.conftest import HashEmbedder
from tests.crm_sync_fixtures import (
    hubspot_settings,
    open_kb,
    salesforce_settings,
    sync_hubspot,
    sync_salesforce,
)
from tests.fake_hubspot import FakeHubSpot
from tests.fake_salesforce import FakeSalesforce, rsa_key_pem

SEARCH, ASSOC, LIST = 200, 1000, 100


def build(portal: FakeHubSpot, n: int, owners: int = 20) -> dict[str, list[str]]:
    oids = [portal.add_owner(f"rep{i}@acme.example", teams=(f"t{i % 4}",)) for i in range(owners)]
    q = n // 4
    ids: dict[str, list[str]] = {"companies": [], "deals": [], "contacts": [], "notes": []}
    for i in range(q):
        ids["companies"].append(
            portal.add(
                "companies",
                {
                    "name": f"Company {i}",
                    "industry": "Logistics",
                    "country": "Norway",
                    "hubspot_owner_id": oids[i % owners],
                },
            )
        )
    for i in range(q):
        did = portal.add(
            "deals",
            {
                "dealname": f"Deal {i}",
                "dealstage": "contractsent",
                "amount": str(1000 + i),
                "closedate": "2027-01-15T00:00:00Z",
                "hubspot_owner_id": oids[i % owners],
            },
        )
        portal.associate("deals", did, "companies", ids["companies"][i], 5)
        ids["deals"].append(did)
    for i in range(q):
        ids["contacts"].append(
            portal.add(
                "contacts",
                {
                    "firstname": f"Pat{i}",
                    "lastname": "Doe",
                    "jobtitle": "Buyer",
                    "associatedcompanyid": ids["companies"][i],
                },
            )
        )
    for i in range(q):
        nid = portal.add(
            "notes",
            {
                "hs_note_body": f"<p>Call {i}: discussed rollout wave {i % 7}.</p>",
                "hs_timestamp": "2026-11-01T10:00:00Z",
                "hubspot_owner_id": oids[i % owners],
            },
        )
        portal.associate("notes", nid, "deals", ids["deals"][i], 214)
        portal.associate("notes", nid, "companies", ids["companies"][i], 190)
        ids["notes"].append(nid)
    return ids


def minimum_calls(counts: dict[str, int], owners: int) -> int:
    """What the paging allows at best for a first (full) sync: full search pages, full association
    batches (deal→company, note→deal; every note here is on a deal, so no note→company), the owner
    pages and the pipelines (a full run prunes instead of listing archived records)."""
    search = sum(max(1, math.ceil(c / SEARCH)) for c in counts.values())
    assoc = sum(max(1, math.ceil(counts[t] / ASSOC)) for t in ("deals", "notes"))
    return search + assoc + math.ceil(owners / LIST) + 1


def call_kinds(portal: FakeHubSpot, since: int) -> str:
    """``4 search, 2 associations`` — what the calls after ``since`` were."""
    kinds: dict[str, int] = {}
    for c in portal.calls[since:]:
        parts = c.path.strip("/").split("/")
        kind = "archived lists" if c.query.get("archived") else parts[1]
        kind = "search" if parts[-1] == "search" else kind
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))


def run(n: int, embedder: object, *, changed: float | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, FakeHubSpot() as portal:
        base = load_settings(
            chroma_path=Path(tmp) / "chroma", state_url=f"sqlite:///{tmp}/state.db", index_refresh_seconds=0
        )
        ids = build(portal, n)
        portal.backdate(hours=2)  # an org with history: older than the sync's look-back overlap
        settings = hubspot_settings(base, portal)
        kb = open_kb(settings, embedder)
        started = time.perf_counter()
        first, counter = sync_hubspot(settings, kb)
        seconds = time.perf_counter() - started
        counts = {t: len(v) for t, v in ids.items()}
        out = {
            "objects": first.records,
            "calls": counter.calls,
            "minimum": minimum_calls(counts, 20),
            "seconds": seconds,
            "records_per_s": first.records / seconds,
            "chunks": first.chunks,
        }
        if changed is not None:
            portal.shift = portal.shift * 0
            step = int(1 / changed)
            for kind, kind_ids in ids.items():
                for oid in kind_ids[::step]:
                    prop, value = {
                        "companies": ("industry", "Retail"),
                        "deals": ("amount", "777"),
                        "contacts": ("jobtitle", "COO"),
                        "notes": ("hs_note_body", f"Changed {oid}"),
                    }[kind]
                    portal.modify(kind, oid, **{prop: value})
            started, before = time.perf_counter(), len(portal.calls)
            second, counter2 = sync_hubspot(settings, kb)
            out |= {
                "inc_changed": sum(len(v[::step]) for v in ids.values()),
                "inc_read": second.records,
                "inc_calls": counter2.calls,
                "inc_kinds": call_kinds(portal, before),
                "inc_chunks": second.chunks,
                "inc_seconds": time.perf_counter() - started,
            }
        return out


def build_salesforce(org: FakeSalesforce, n: int, users: int = 20) -> dict[str, list[str]]:
    """A quarter each Accounts, Opportunities, Contacts and Tasks; every fifth account and opportunity
    has a team member."""
    uids = [org.user(f"rep{i}@acme.example") for i in range(users)]
    q = n // 4
    ids: dict[str, list[str]] = {"Account": [], "Opportunity": [], "Contact": [], "Task": []}
    for i in range(q):
        aid = org.add("Account", Name=f"Company {i}", Industry="Logistics", BillingCountry="Norway",
                      OwnerId=uids[i % users])  # fmt: skip
        ids["Account"].append(aid)
        oid = org.add("Opportunity", Name=f"Deal {i}", AccountId=aid, StageName="Negotiation/Review",
                      Amount=1000.0 + i, CloseDate="2027-01-15", IsClosed=False, IsWon=False, Probability=90.0,
                      OwnerId=uids[i % users])  # fmt: skip
        ids["Opportunity"].append(oid)
        ids["Contact"].append(org.add("Contact", AccountId=aid, Name=f"Pat{i} Doe", Title="Buyer"))
        ids["Task"].append(org.add("Task", Subject=f"Call {i}", WhatId=oid, AccountId=aid, OwnerId=uids[i % users],
                                   Description=f"Discussed rollout wave {i % 7}.", ActivityDate="2026-11-01"))  # fmt: skip
        if i % 5 == 0:
            org.add("AccountTeamMember", AccountId=aid, UserId=uids[(i + 1) % users])
            org.add("OpportunityTeamMember", OpportunityId=oid, UserId=uids[(i + 1) % users])
    return ids


def run_salesforce(n: int) -> dict[str, float | str]:
    """Initial sync of an org of ``n`` objects from the fake Salesforce, then an incremental after 1%."""
    with tempfile.TemporaryDirectory() as tmp:
        pem, public = rsa_key_pem()
        key = Path(tmp) / "app.key"
        key.write_bytes(pem)
        with FakeSalesforce(folder=Path(tmp), public_key=public) as org:
            os.environ["REQUESTS_CA_BUNDLE"] = str(org.cert)  # trust the fake's self-signed certificate
            base = load_settings(
                chroma_path=Path(tmp) / "chroma",
                state_url=f"sqlite:///{tmp}/state.db",
                index_refresh_seconds=0,
            )
            ids = build_salesforce(org, n)
            org.backdate(hours=2)
            settings = salesforce_settings(base, org, key)
            kb = open_kb(settings, HashEmbedder())
            first, counter = sync_salesforce(settings, kb)
            for sobject, field, value in (("Account", "Industry", "Retail"), ("Opportunity", "Amount", 777.0),
                                          ("Contact", "Title", "COO"), ("Task", "Description", "Changed")):  # fmt: skip
                for sid in ids[sobject][::100]:
                    org.modify(sobject, sid, **{field: value})
            before = len(org.calls)
            second, counter2 = sync_salesforce(settings, kb)
            kinds: dict[str, int] = {}
            for c in org.calls[before:]:
                kind = "sign-in" if "oauth2" in c.path else c.path.rstrip("/").rsplit("/", 1)[-1]
                kind = "next pages" if kind.startswith("01g") else kind
                kinds[kind] = kinds.get(kind, 0) + 1
            return {"objects": first.records, "calls": counter.calls, "inc_read": second.records,
                    "inc_calls": counter2.calls, "inc_kinds": ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=50_000)
    ap.add_argument("--real", type=int, default=2_000, help="objects for the real-embedder run (0 = skip)")
    ap.add_argument("--salesforce", type=int, default=0, help="objects for a fake Salesforce org (0 = skip)")
    args = ap.parse_args()
    if args.salesforce:
        sf = run_salesforce(args.salesforce)
        print(
            f"salesforce: initial sync, {sf['objects']} records: {sf['calls']} API calls; incremental after 1% "
            f"changed: read {sf['inc_read']} records, {sf['inc_calls']} API calls "
            f"({100 * float(sf['inc_calls']) / float(sf['calls']):.2f}%: {sf['inc_kinds']})"
        )
        return
    big = run(args.objects, HashEmbedder(), changed=0.01)
    print(
        f"initial sync, {big['objects']} objects (hash embedder): {big['calls']} API calls "
        f"(minimum the paging allows: {big['minimum']}), {big['seconds']:.1f}s, {big['records_per_s']:.0f} records/s"
    )
    print(
        f"incremental after {big['inc_changed']} changed (1%): read {big['inc_read']} records "
        f"({100 * big['inc_read'] / big['objects']:.2f}% of initial), {big['inc_calls']} API calls "
        f"({100 * big['inc_calls'] / big['calls']:.2f}%: {big['inc_kinds']}), {big['inc_chunks']} chunks embedded "
        f"({100 * big['inc_chunks'] / big['chunks']:.2f}%), {big['inc_seconds']:.1f}s"
    )
    if args.real:
        real = run(args.real, LocalEmbedder(), changed=None)
        print(
            f"initial sync, {real['objects']} objects (local all-MiniLM-L6-v2 embedder): {real['calls']} API calls "
            f"(minimum {real['minimum']}), {real['seconds']:.1f}s, {real['records_per_s']:.0f} records/s end to end"
        )


if __name__ == "__main__":
    main()
