"""Small CRM exports written on the fly, in the contract's format."""

from __future__ import annotations

import csv
from pathlib import Path

from bot.knowledge.crm import COLUMNS

ALICE, BOB, CAROL, ADMIN = "alice@x.example", "bob@x.example", "carol@x.example", "admin@x.example"


def write_csv(folder: Path, stem: str, rows: list[dict[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.csv"
    columns = list(COLUMNS[stem]) + sorted({k for r in rows for k in r} - set(COLUMNS[stem]))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def small_export(folder: Path) -> Path:
    """Two accounts, three deals, four notes, two contacts; Bob is on Acme's account team only."""
    write_csv(folder, "accounts", [
        {"account_id": "A1", "name": "Acme Corp", "industry": "Retail", "region": "EMEA",
         "owner_email": ALICE, "team": BOB, "visibility": "private"},
        {"account_id": "A2", "name": "Globex", "industry": "Energy", "region": "NA",
         "owner_email": CAROL, "visibility": "public"},
    ])  # fmt: skip
    write_csv(folder, "deals", [
        {"deal_id": "D1", "account_id": "A1", "name": "Acme Expansion", "owner_email": ALICE, "stage": "negotiation",
         "amount": "120000", "currency": "USD", "close_date": "2026-12-01", "next_step": "Send MSA redlines",
         "updated_at": "2026-11-20T10:00:00Z"},
        {"deal_id": "D2", "account_id": "A2", "name": "Globex Pilot", "owner_email": CAROL, "team": BOB,
         "stage": "proposal", "amount": "30000", "currency": "EUR", "close_date": "2026-12-20",
         "visibility": "private"},
        {"deal_id": "D3", "account_id": "A2", "name": "Globex Rollout", "owner_email": CAROL, "stage": "discovery",
         "amount": "250000", "currency": "USD", "visibility": "public"},
    ])  # fmt: skip
    write_csv(folder, "contacts", [
        {"contact_id": "C1", "account_id": "A1", "name": "Dana Ruiz", "title": "VP Operations",
         "email": "dana@acme.example", "phone": "+1 555 0100"},
        {"contact_id": "C2", "account_id": "A2", "name": "Lee Park", "title": "CISO", "email": "lee@globex.example"},
    ])  # fmt: skip
    write_csv(folder, "notes", [
        {"note_id": "N1", "account_id": "A1", "deal_id": "D1", "author_email": ALICE,
         "created_at": "2026-11-02T14:30:00Z", "kind": "call", "subject": "Pricing call",
         "body": "They asked for 15% off the AX-PRO-2 bundle. PO 7700012345 is pending with procurement."},
        {"note_id": "N2", "account_id": "A2", "deal_id": "D2", "author_email": CAROL,
         "created_at": "2026-11-03T09:00:00Z", "kind": "email", "subject": "Security review",
         "body": "Their CISO wants SOC 2 Type II and EU data residency before signing."},
        {"note_id": "N3", "account_id": "A1", "deal_id": "", "author_email": ALICE,
         "created_at": "2026-10-01T09:00:00Z", "kind": "meeting", "subject": "QBR",
         "body": "Quarterly review went well; warehouse throughput up 18% since the robots went live."},
        {"note_id": "N4", "account_id": "A2", "deal_id": "D3", "author_email": CAROL,
         "created_at": "2026-11-10T09:00:00Z", "kind": "call", "subject": "Rollout scope",
         "body": "Ticket TKT-2291 about hub firmware must be fixed before the rollout."},
    ])  # fmt: skip
    return folder
