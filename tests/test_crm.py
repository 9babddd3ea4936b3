"""Reading CRM exports: access inheritance, key fields in chunk text, and bad rows named by file:line."""

from __future__ import annotations

import json
from pathlib import Path

from bot.knowledge.crm import read_crm
from bot.knowledge.records import Access, Parent
from tests.crm_fixtures import ALICE, BOB, CAROL, small_export, write_csv


def test_access_follows_the_contract(tmp_path: Path) -> None:
    export = read_crm(small_export(tmp_path / "crm"))
    assert not export.problems
    by_key = {r.key: r for r in export.records}
    assert by_key["account:A1"].access.readers == (ALICE, BOB)
    assert by_key["deal:D1"].access.readers == (ALICE,)  # the account's team does not open its deals
    assert by_key["note:N1"].access == by_key["deal:D1"].access  # note -> its deal
    assert by_key["note:N3"].access == by_key["account:A1"].access  # no deal -> its account
    assert by_key["contact:C1"].access == by_key["account:A1"].access
    assert by_key["deal:D2"].access.visibility == "private" and BOB in by_key["deal:D2"].access.readers
    assert by_key["note:N4"].access.visibility == "public"
    assert export.kinds == {"account", "deal", "contact", "note"}


def test_chunks_carry_title_and_key_fields(tmp_path: Path) -> None:
    records = {r.key: r for r in read_crm(small_export(tmp_path / "crm")).records}
    deal = records["deal:D1"].chunks[0].text
    for fact in (
        "Acme Expansion",
        "Acme Corp",
        "negotiation",
        "120,000 USD",
        "2026-12-01",
        "Send MSA redlines",
    ):
        assert fact in deal
    note = records["note:N1"]
    assert note.title == "Pricing call — Acme Expansion"
    assert "Acme Expansion" in note.chunks[0].text and "AX-PRO-2" in note.chunks[0].text
    assert note.deal_id == "D1" and note.account_id == "A1"


def test_bad_rows_are_named_and_skipped(tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    notes = folder / "notes.csv"
    text = notes.read_text()
    notes.write_text(
        text
        + 'N5,A1,D1,alice@x.example,yesterday,call,Bad date,"body"\n'
        + "N6,A1,D1,too,few\n"
        + 'N7,A1,D404,alice@x.example,2026-11-01,call,Orphan,"no such deal"\n'
        + 'N8,A1,D1,alice@x.example,2026-11-01,call,Fine,"still loads"\n'
    )
    export = read_crm(folder)
    lines = text.count("\n")
    messages = [str(p) for p in export.problems]
    assert messages == [
        f"{notes}:{lines + 1}: created_at 'yesterday' is not a date like 2026-12-31 or 31/12/2026",
        f"{notes}:{lines + 2}: has 5 fields, the header has 8",
        f"{notes}:{lines + 3}: deal 'D404' is not in this export or the store",
    ]
    assert "note:N8" in {r.key for r in export.records}


def test_multiline_fields_keep_the_starting_line(tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    write_csv(folder, "deals", [
        {"deal_id": "D1", "account_id": "A1", "name": "Acme", "owner_email": ALICE, "stage": "proposal",
         "next_step": "line one\nline two\nline three"},
        {"deal_id": "D2", "account_id": "A1", "name": "Acme 2", "owner_email": ALICE, "stage": "won"},
    ])  # fmt: skip
    (folder / "notes.csv").unlink()
    problems = [str(p) for p in read_crm(folder).problems]
    assert problems == [f"{folder / 'deals.csv'}:5: stage 'won' is not one of "
                        "prospecting, qualification, discovery, proposal, negotiation, closed_won, closed_lost"]  # fmt: skip


def test_duplicates_bad_visibility_and_missing_columns(tmp_path: Path) -> None:
    folder = tmp_path / "crm"
    write_csv(folder, "accounts", [
        {"account_id": "A1", "name": "One", "owner_email": ALICE},
        {"account_id": "A1", "name": "Again", "owner_email": ALICE},
        {"account_id": "A2", "name": "Two", "owner_email": ALICE, "visibility": "secret"},
    ])  # fmt: skip
    (folder / "contacts.csv").write_text("contact_id,name\nC1,Someone\n")
    messages = [str(p) for p in read_crm(folder).problems]
    assert f"{folder / 'accounts.csv'}:3: account_id 'A1' already appeared on line 2" in messages
    assert f"{folder / 'accounts.csv'}:4: visibility must be public or private, not 'secret'" in messages
    assert f"{folder / 'contacts.csv'}:1: header lacks column(s): account_id, title, email, phone" in messages


def test_jsonl_with_extra_columns_and_a_broken_line(tmp_path: Path) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    rows = [
        {"account_id": "A1", "name": "Acme", "industry": "Retail", "region": "EU", "owner_email": CAROL,
         "team": "", "visibility": "public", "tier": "gold"},
    ]  # fmt: skip
    (folder / "accounts.jsonl").write_text(json.dumps(rows[0]) + "\n{not json\n")
    export = read_crm(folder)
    assert [str(p) for p in export.problems] == [
        f"{folder / 'accounts.jsonl'}:2: not valid JSON (Expecting property name enclosed in double quotes)"
    ]
    (account,) = export.records
    assert account.fields["tier"] == "gold"  # extra columns are kept as metadata
    assert account.access == Access("public", CAROL, ())


def test_bytes_that_are_neither_utf8_nor_cp1252_name_the_line_and_what_to_do(tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    (folder / "contacts.csv").write_bytes(b"contact_id,account_id,name,title,email,phone\nC1,A1,Jos\x81,,,\n")
    problems = [str(p) for p in read_crm(folder).problems]
    assert problems == [
        f"{folder / 'contacts.csv'}:2: is neither UTF-8 nor cp1252 text; save it as CSV UTF-8 "
        "(Excel: File > Save As > CSV UTF-8) or pass --encoding"
    ]


def test_parents_from_the_store_for_partial_exports(tmp_path: Path) -> None:
    folder = tmp_path / "crm"
    write_csv(folder, "notes", [
        {"note_id": "N9", "account_id": "A1", "deal_id": "D1", "author_email": ALICE, "body": "partial export"},
    ])  # fmt: skip
    stored = Access("private", ALICE, (BOB,))
    parent = Parent(stored, "Acme Expansion", "A1")
    export = read_crm(folder, lookup=lambda kind, pid: parent if kind == "deal" else None)
    assert not export.problems
    assert export.records[0].access == stored


def test_note_on_a_deal_of_another_account_is_a_row_problem(tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    lines = (folder / "notes.csv").read_text().splitlines(keepends=True)
    (folder / "notes.csv").write_text("".join(lines) + "N9,A2,D1,alice@x.example,,call,Wrong,Mixed up ids\n")
    export = read_crm(folder)
    assert [str(p) for p in export.problems] == [
        f"{folder / 'notes.csv'}:{len(lines) + 1}: deal 'D1' belongs to account 'A1', not 'A2'"
    ]
    assert "note:N9" not in {r.key for r in export.records}


def test_note_checked_against_a_stored_deal_account(tmp_path: Path) -> None:
    folder = tmp_path / "crm"
    write_csv(folder, "notes", [
        {"note_id": "N9", "account_id": "A2", "deal_id": "D1", "author_email": ALICE, "body": "partial"},
        {"note_id": "N10", "account_id": "", "deal_id": "D1", "author_email": ALICE, "body": "no account"},
    ])  # fmt: skip
    stored = Parent(Access("private", ALICE, (BOB,)), "Acme Expansion", "A1")
    export = read_crm(folder, lookup=lambda kind, pid: stored if kind == "deal" else None)
    assert [str(p) for p in export.problems] == [
        f"{folder / 'notes.csv'}:2: deal 'D1' belongs to account 'A1', not 'A2'"
    ]
    assert [(r.source_id, r.account_id) for r in export.records] == [("N10", "A1")]
