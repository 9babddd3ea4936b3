"""Amounts, dates and stage labels in CRM exports: read as written or refused with file:line, never misread."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.digest.pipeline import deal_of
from bot.json_output import to_json
from bot.knowledge.amounts import AmountError, parse_amount
from bot.knowledge.crm import read_crm
from bot.knowledge.crm_mapping import ReadOptions
from bot.knowledge.crm_stages import builtin_stage_table, closer_stage, stage_table
from bot.knowledge.dates import DateError, parse_date
from tests.crm_fixtures import ALICE, write_csv


@pytest.mark.parametrize(
    ("written", "decimal", "plain", "code"),
    [
        ("120000", None, "120000", ""),
        ("1,000", None, "1000", ""),
        ("$1,000", None, "1000", ""),
        ("1,000.50", None, "1000.50", ""),
        ("12,345,678.9", None, "12345678.9", ""),
        ("USD 12.5", None, "12.5", "USD"),
        ("0.125", None, "0.125", ""),
        ("1.000,50", ",", "1000.50", ""),
        ("€1.000,50", ",", "1000.50", ""),
        ("1 000,50", ",", "1000.50", ""),
        ("1\u202f000,50 EUR", ",", "1000.50", "EUR"),
        ("1.000", ",", "1000", ""),
        ("1.000", ".", "1.000", ""),
        ("-2,500", None, "-2500", ""),
        ("", None, "", ""),
    ],
)
def test_amounts_as_written(written: str, decimal: str | None, plain: str, code: str) -> None:
    assert parse_amount(written, decimal) == (plain, code)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("written", "decimal", "says"),
    [
        ("1.000,50", None, "pass --decimal ,"),  # was read as 1.0005
        ("1,5", None, "pass --decimal ,"),
        ("1.000", None, "ambiguous"),  # one thousand, or one with three decimals?
        ("250.000", None, "ambiguous"),
        ("1,000.50", ",", "pass --decimal ."),
        ("nan", None, "not a finite"),
        ("inf", None, "not a finite"),
        ("-Infinity", None, "not a finite"),
        ("1e400", None, "not a finite"),
        ("12,34,567", None, "decimal separator"),
        ("about 5k", None, "not"),
        ("9" * 400, None, "too large"),
    ],
)
def test_ambiguous_and_non_finite_amounts_are_refused(written: str, decimal: str | None, says: str) -> None:
    with pytest.raises(AmountError, match=says):
        parse_amount(written, decimal)  # type: ignore[arg-type]


def _deals(folder: Path, amounts: list[str], **extra: str) -> Path:
    write_csv(folder, "accounts", [{"account_id": "A1", "name": "Acme", "owner_email": ALICE}])
    write_csv(folder, "deals", [
        {"deal_id": f"D{i}", "account_id": "A1", "name": f"Deal {i}", "owner_email": ALICE,
         "stage": "proposal", "amount": a, "currency": "EUR", **extra}
        for i, a in enumerate(amounts, start=1)
    ])  # fmt: skip
    return folder / "deals.csv"


def test_misread_amounts_are_named_with_file_line_and_the_value_as_written(tmp_path: Path) -> None:
    deals = _deals(tmp_path, ["1.000,50", "nan", "inf", "$1,000", " 2 500 "])
    export = read_crm(tmp_path)
    assert [str(p) for p in export.problems] == [
        f"{deals}:2: amount '1.000,50' is not an amount with '.' as the decimal separator; "
        "if ',' is your decimal separator, pass --decimal , (or decimal = \",\" in the map)",
        f"{deals}:3: amount 'nan' is not a finite plain number",
        f"{deals}:4: amount 'inf' is not a finite plain number",
    ]
    amounts = {r.source_id: r.fields["amount"] for r in export.records if r.source_type == "deal"}
    assert amounts == {"D4": "1000", "D5": "2500"}


def test_a_declared_decimal_comma_reads_european_amounts(tmp_path: Path) -> None:
    _deals(tmp_path, ["1.000,50", "1 000,50", "12,5"])
    export = read_crm(tmp_path, options=ReadOptions(decimal=","))
    assert not export.problems
    deals = {r.source_id: r for r in export.records if r.source_type == "deal"}
    assert [deals[d].fields["amount"] for d in ("D1", "D2", "D3")] == ["1000.50", "1000.50", "12.5"]
    assert "1,000.50 EUR" in deals["D1"].chunks[0].text


def test_a_currency_written_with_the_amount_must_agree(tmp_path: Path) -> None:
    deals = _deals(tmp_path, ["USD 5,000", "EUR 7"])
    export = read_crm(tmp_path)
    assert [str(p) for p in export.problems] == [
        f"{deals}:2: amount 'USD 5,000' is in USD but the currency column says 'EUR'"
    ]


@pytest.mark.parametrize(
    ("written", "order", "iso"),
    [
        ("2026-12-31", None, "2026-12-31"),
        ("31/12/2026", None, "2026-12-31"),
        ("12/31/2026", None, "2026-12-31"),
        ("31.12.2026", None, "2026-12-31"),
        ("2026/12/31", None, "2026-12-31"),
        ("2026-12-31 10:00", None, "2026-12-31"),
        ("05/06/2026", "day-first", "2026-06-05"),
        ("05/06/2026", "month-first", "2026-05-06"),
        ("07/07/2026", None, "2026-07-07"),
        ("Dec 31, 2026", None, "2026-12-31"),
        ("31 December 2026", None, "2026-12-31"),
    ],
)
def test_dates_as_crms_write_them(written: str, order: str | None, iso: str) -> None:
    assert parse_date(written, order) == iso  # type: ignore[arg-type]


def test_date_times_keep_iso_as_written_and_convert_the_rest() -> None:
    assert parse_date("2026-11-24T16:05:00Z", with_time=True) == "2026-11-24T16:05:00Z"
    assert parse_date("12/31/2026 10:00 PM", with_time=True) == "2026-12-31T22:00:00"
    assert parse_date("31/12/2026 09:30", with_time=True) == "2026-12-31T09:30:00"


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("05/06/2026", "ambiguous"),
        ("31/02/2026", "exists"),
        ("yesterday", "not a date"),
        ("1/2/26", "four-digit"),
    ],
)
def test_bad_or_ambiguous_dates_are_refused(written: str, says: str) -> None:
    with pytest.raises(DateError, match=says):
        parse_date(written)


def test_ambiguous_dates_are_named_and_a_declared_order_reads_them(tmp_path: Path) -> None:
    deals = _deals(tmp_path, ["10"], close_date="05/06/2026")
    assert [str(p) for p in read_crm(tmp_path).problems] == [
        f"{deals}:2: close_date '05/06/2026' is ambiguous (day or month first?): "
        "pass --dates day-first or --dates month-first"
    ]
    export = read_crm(tmp_path, options=ReadOptions(dates="day-first"))
    assert [r.fields["close_date"] for r in export.records if r.source_type == "deal"] == ["2026-06-05"]


def test_stage_labels_map_onto_closer_stages() -> None:
    hubspot, salesforce = builtin_stage_table("hubspot"), builtin_stage_table("salesforce")
    assert closer_stage("Closed Won", hubspot) == "closed_won"
    assert closer_stage("closedwon", hubspot) == "closed_won"  # the API's internal value
    assert closer_stage("Contract Sent", hubspot) == "negotiation"
    assert closer_stage("Appointment Scheduled", hubspot) == "prospecting"
    assert closer_stage("Proposal/Price Quote", salesforce) == "proposal"
    assert closer_stage("Negotiation/Review", salesforce) == "negotiation"
    assert closer_stage("negotiation", salesforce) == "negotiation"  # Closer's own names always work
    assert closer_stage("Won", hubspot) is None
    with pytest.raises(ValueError, match="not one of"):
        stage_table({"Signed": "won"})


def test_closer_format_accepts_crm_stage_spellings(tmp_path: Path) -> None:
    write_csv(tmp_path, "accounts", [{"account_id": "A1", "name": "Acme", "owner_email": ALICE}])
    write_csv(tmp_path, "deals", [
        {"deal_id": "D1", "account_id": "A1", "name": "One", "owner_email": ALICE, "stage": "Closed Won"},
    ])  # fmt: skip
    export = read_crm(tmp_path)
    assert not export.problems and export.records[1].fields["stage"] == "closed_won"


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_always_valid_json() -> None:
    out = to_json({"amount": float("nan"), "rows": [float("inf"), 1.5, (float("-inf"),)], "ok": "é"})
    assert _strict(out) == {"amount": None, "rows": [None, 1.5, [None]], "ok": "é"}


def test_a_nan_amount_already_in_the_store_never_reaches_a_digest() -> None:
    meta = {"source_id": "D1", "title": "Old", "f_amount": "nan", "f_stage": "proposal", "owner": ALICE}
    assert deal_of(meta).amount is None
    assert deal_of(meta | {"f_amount": "Infinity"}).amount is None
    assert deal_of(meta | {"f_amount": "1,500.5"}).amount == 1500.5
