"""HubSpot and Salesforce exports, and any CRM through a --map file, read as they come: no reshaping.

The fixtures in tests/fixtures/crm_exports/ are invented companies written the way each CRM exports
them (HubSpot's file names and column labels, owners as names; a Salesforce report in cp1252 with its
footer, Data Loader extracts with API names); ``*_as_closer`` holds the same data in Closer's format.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import InputError
from bot.knowledge.crm import CrmExport, read_crm
from bot.knowledge.crm_mapping import (
    ReadOptions,
    builtin_mapping,
    choose_mapping,
    load_mapping,
    parse_delimiter,
)
from bot.knowledge.records import Record

FIXTURES = Path(__file__).parent / "fixtures" / "crm_exports"
INGRID = "ingrid.solberg@northwind-robotics.example"


def _by_key(export: CrmExport) -> dict[str, Record]:
    return {r.key: r for r in export.records}


def _copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def test_a_hubspot_export_gives_the_same_records_as_the_closer_csv() -> None:
    native = read_crm(FIXTURES / "hubspot", mapping=builtin_mapping("hubspot"))
    closer = read_crm(FIXTURES / "hubspot_as_closer")
    assert (native.problems, native.notices, closer.problems) == ([], [], [])
    assert len(native.records) == 10
    assert _by_key(native) == _by_key(closer)  # ids, titles, access, chunk texts, fields: all equal
    deal = _by_key(native)["deal:7001"]
    assert deal.fields["stage"] == "negotiation" and deal.access.owner == INGRID  # "Contract Sent", a name
    assert _by_key(native)["deal:7002"].account_id == "9001"  # two associated companies: the first


def test_salesforce_reports_and_data_loader_extracts_give_the_same_records_as_the_closer_csv() -> None:
    native = read_crm(
        FIXTURES / "salesforce",
        mapping=builtin_mapping("salesforce"),
        options=ReadOptions(dates="month-first"),
    )
    closer = read_crm(FIXTURES / "salesforce_as_closer")
    assert native.problems == [] and closer.problems == []
    assert [n.message.split(":")[0] for n in native.notices] == [
        "is not UTF-8 (line 3)"
    ]  # the report's cp1252
    assert _by_key(native) == _by_key(closer)
    notes = _by_key(native)
    assert notes["note:00T5g00000T001AAAV"].deal_id == "0065g00000BeRgAAAV"  # WhatId named the opportunity
    assert notes["note:00T5g00000T002AAAV"].deal_id == ""  # WhatId named the account


def test_ambiguous_dates_in_an_export_are_named_by_the_exports_column() -> None:
    export = read_crm(FIXTURES / "salesforce", mapping=builtin_mapping("salesforce"))
    opportunities = FIXTURES / "salesforce" / "Opportunities-2026-12-03.csv"
    assert [str(p) for p in export.problems] == [
        f"{opportunities}:3: Last Modified Date '10/1/2026 8:00 AM' is ambiguous (day or month first?): "
        "pass --dates day-first or --dates month-first"
    ]


def test_owner_names_without_an_email_are_named_not_dropped(tmp_path: Path) -> None:
    folder = _copy("hubspot", tmp_path)
    (folder / "owners.csv").write_text(
        "owner,email\nIngrid Solberg,ingrid.solberg@northwind-robotics.example\n"
    )
    export = read_crm(folder, mapping=builtin_mapping("hubspot"))
    deals = folder / "hubspot-crm-exports-all-deals-2026-12-03.csv"
    assert f"{deals}:4: Deal owner 'Tomás Ferreyra' is not an email: add it to owners.csv (columns " \
        "owner,email) next to the export, or under [owners] in a --map file" in [str(p) for p in export.problems]  # fmt: skip
    assert "deal:7001" in _by_key(export)


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    (tmp_path / "companies.csv").write_text("Record ID,Company name\n1,Tiny Co\n")
    (tmp_path / "deals.csv").write_text(
        "Record ID,Deal Name,Deal Stage,Associated Company IDs\n5,Tiny deal,appointmentscheduled,1\n"
    )
    export = read_crm(tmp_path, mapping=builtin_mapping("hubspot"))
    assert export.problems == []
    deal = _by_key(export)["deal:5"]
    assert (deal.fields["stage"], deal.fields["amount"], deal.access.visibility) == (
        "prospecting",
        "",
        "private",
    )


def test_a_file_missing_a_needed_column_says_which_and_a_stray_file_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "companies.csv").write_text("Record ID,Company name\n1,Tiny Co\n")
    (tmp_path / "deals.csv").write_text("Record ID,Deal Name,Amount\n5,Tiny deal,10\n")
    (tmp_path / "line_items.csv").write_text("SKU,Quantity\nAX-1,3\n")
    export = read_crm(tmp_path, mapping=builtin_mapping("hubspot"))
    assert [str(p) for p in export.problems] == [
        f"{tmp_path / 'deals.csv'}:1: header lacks a column for account_id, stage (expected Associated Company "
        "IDs (Primary) or Associated Company IDs or Associated Company ID or Company ID; Deal Stage or Stage)"
    ]
    assert [str(n) for n in export.notices] == [
        f"{tmp_path / 'line_items.csv'}: ignored: not a HubSpot export of accounts, deals, contacts, notes"
    ]


PIPEDRIVE_MAP = """
name = "Pipedrive"
[read]
decimal = ","
dates = "day-first"
[files]
accounts = ["organizations*.csv"]
deals = ["deals*.csv"]
[accounts]
account_id = "Organization - ID"
name = "Organization - Name"
owner_email = "Organization - Owner"
[deals]
deal_id = "Deal - ID"
account_id = "Deal - Organization ID"
name = "Deal - Title"
owner_email = "Deal - Owner"
stage = "Deal - Stage"
amount = "Deal - Value"
currency = "Deal - Currency"
close_date = "Deal - Expected close date"
[stages]
"Lead In" = "prospecting"
"Proposal Made" = "proposal"
"Negotiations Started" = "negotiation"
[owners]
"Ana Lima" = "Ana.Lima@northwind-robotics.example"
"""


def test_a_map_file_reads_any_other_crm(tmp_path: Path) -> None:
    (tmp_path / "map.toml").write_text(PIPEDRIVE_MAP)
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "organizations-2026.csv").write_text(
        "Organization - ID;Organization - Name;Organization - Owner\n11;Alvorada Frios;Ana Lima\n"
    )
    (export_dir / "deals-2026.csv").write_text(
        "Deal - ID;Deal - Title;Deal - Organization ID;Deal - Owner;Deal - Stage;Deal - Value;Deal - Currency;"
        "Deal - Expected close date\n"
        "21;Alvorada – São Paulo freezers;11;Ana Lima;Proposal Made;1.250.000,50;BRL;05/06/2027\n"
    )
    export = read_crm(export_dir, mapping=load_mapping(tmp_path / "map.toml"))
    assert export.problems == []
    deal = _by_key(export)["deal:21"]
    assert {k: deal.fields[k] for k in ("stage", "amount", "currency", "close_date")} == {
        "stage": "proposal", "amount": "1250000.50", "currency": "BRL", "close_date": "2027-06-05",
    }  # fmt: skip
    assert deal.access.owner == "ana.lima@northwind-robotics.example"
    # the command line's flags win over the map's [read]
    export = read_crm(
        export_dir, mapping=load_mapping(tmp_path / "map.toml"), options=ReadOptions(dates="month-first")
    )
    assert _by_key(export)["deal:21"].fields["close_date"] == "2027-05-06"


def test_a_map_can_extend_a_built_in_format_with_a_custom_pipeline(tmp_path: Path) -> None:
    (tmp_path / "companies.csv").write_text("Record ID,Company name\n1,Tiny Co\n")
    (tmp_path / "deals.csv").write_text(
        "Record ID,Deal Name,Deal Stage,Associated Company IDs\n5,Tiny deal,Demo Booked,1\n"
    )
    problems = [str(p) for p in read_crm(tmp_path, mapping=builtin_mapping("hubspot")).problems]
    assert problems == [
        f"{tmp_path / 'deals.csv'}:2: Deal Stage 'Demo Booked' is not one of prospecting, qualification, discovery, "
        "proposal, negotiation, closed_won, closed_lost — or map it under [stages] in a --map file"
    ]
    (tmp_path / "pipeline.toml").write_text('[stages]\n"Demo Booked" = "discovery"\n')
    mapping = choose_mapping("hubspot", tmp_path / "pipeline.toml")
    assert mapping is not None and mapping.name == "HubSpot"
    export = read_crm(tmp_path, mapping=mapping)
    assert export.problems == [] and _by_key(export)["deal:5"].fields["stage"] == "discovery"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[deals]\namout = 'Amount'\n", "[deals] 'amout' is not a Closer field"),
        ("[stages]\nSigned = 'won'\n", "[stages] stage 'Signed' maps to 'won'"),
        ("[read]\ndecimal = ';'\n", '[read] decimal must be "." or ","'),
        ("[read]\ndates = 'dmy'\n", "[read] dates must be one of day-first, month-first"),
        ("[owners]\nAna = 'not an email'\n", "[owners] 'Ana' must map to an email"),
        ("base = 'pipedrive'\n", "no built-in CRM format 'pipedrive'"),
        ("[deals\n", "not a valid TOML map file"),
        ("colums = 1\n", "unknown key(s) colums"),
    ],
)
def test_a_bad_map_file_is_one_clear_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=None) as info:
        load_mapping(path)
    assert str(info.value).startswith(str(path)) or "no built-in" in str(info.value)
    assert says in str(info.value)


def test_an_excel_workbook_is_named_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "accounts.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (tmp_path / "hubspot-crm-exports-all-deals.xlsx").write_bytes(b"PK\x03\x04")
    workbook = (
        "is an Excel workbook, which Closer does not read: export it as CSV (Excel: Save As > CSV UTF-8)"
    )
    assert [str(p) for p in read_crm(tmp_path).problems] == [f"{tmp_path / 'accounts.xlsx'}: {workbook}"]
    assert [str(p) for p in read_crm(tmp_path, mapping=builtin_mapping("hubspot")).problems] == [
        f"{tmp_path / 'accounts.xlsx'}: {workbook}",
        f"{tmp_path / 'hubspot-crm-exports-all-deals.xlsx'}: {workbook}",
    ]


def test_a_deal_or_contact_without_a_company_says_so_in_the_exports_terms(tmp_path: Path) -> None:
    (tmp_path / "companies.csv").write_text("Record ID,Company name\n1,Tiny Co\n")
    (tmp_path / "deals.csv").write_text(
        "Record ID,Deal Name,Deal Stage,Associated Company IDs\n5,Lone deal,closedwon,\n"
    )
    (tmp_path / "contacts.csv").write_text(
        "Record ID,First Name,Last Name,Associated Company IDs\n8,Ann,Lee,\n"
    )
    assert [str(p) for p in read_crm(tmp_path, mapping=builtin_mapping("hubspot")).problems] == [
        f"{tmp_path / 'deals.csv'}:2: Associated Company IDs is empty: every deal belongs to an account",
        f"{tmp_path / 'contacts.csv'}:2: Associated Company IDs is empty: every contact belongs to an account",
    ]


def test_a_crm_export_read_without_format_says_which_format_to_add(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "hubspot" / "hubspot-crm-exports-all-deals-2026-12-03.csv", tmp_path / "deals.csv")
    (problem,) = read_crm(tmp_path).problems
    assert str(problem).endswith("— it looks like a hubspot export: add --format hubspot")
    (tmp_path / "deals.csv").unlink()
    shutil.copy(FIXTURES / "salesforce" / "Task.csv", tmp_path / "notes.csv")
    (problem,) = read_crm(tmp_path).problems
    assert str(problem).endswith("— it looks like a salesforce export: add --format salesforce")


def test_rich_text_note_bodies_are_read_as_text(tmp_path: Path) -> None:
    folder = _copy("hubspot", tmp_path)
    notes = folder / "hubspot-crm-exports-notes-2026-12-03.csv"
    notes.write_text(
        "Record ID,Activity date,Note body,Activity assigned to,Associated Company IDs,Associated Deal IDs\n"
        '6009,2026-11-29 10:00,"<div><p>Kari wants <strong>12%</strong> off.</p><p>Ola approves &gt;10%.</p></div>",'
        "Ingrid Solberg,9001,7001\n"
    )
    export = read_crm(folder, mapping=builtin_mapping("hubspot"))
    assert export.problems == []
    note = _by_key(export)["note:6009"]
    assert note.fields["body"] == "Kari wants 12% off.\nOla approves >10%."
    assert "<p>" not in note.chunks[0].text


def test_delimiter_names_and_format_choice() -> None:
    assert [parse_delimiter(v) for v in ("tab", "\\t", ";", "pipe", ",")] == ["\t", "\t", ";", "|", ","]
    with pytest.raises(InputError, match="one character"):
        parse_delimiter(";;")
    assert choose_mapping(None, None) is None and choose_mapping("closer", None) is None
    assert choose_mapping("salesforce", None) == builtin_mapping("salesforce")
