"""Excel-made exports: other encodings and delimiters are read, or the user is told what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge.crm import read_crm
from bot.knowledge.crm_mapping import ReadOptions

ACCOUNTS = [
    ["account_id", "name", "industry", "region", "owner_email", "team", "visibility"],
    ["A1", "Société Générale de Froid", "Entrepôts", "Île-de-France", "zoé@x.example", "", "public"],
    ["A2", "Ørsted Køl A/S", "Kølehuse", "Nord", "bo@x.example", "", "private"],
]
DEALS = [
    ["deal_id", "account_id", "name", "owner_email", "team", "stage", "amount", "currency", "close_date",
     "next_step", "updated_at", "visibility"],
    ["D1", "A1", "Chambre froide – Rungis", "zoé@x.example", "", "proposal", "1.000,50", "EUR", "31/12/2026",
     "Envoyer le devis", "", ""],
]  # fmt: skip


def _write(
    folder: Path, stem: str, rows: list[list[str]], *, sep: str = ",", encoding: str = "utf-8"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.csv"
    text = "\r\n".join(sep.join(f'"{v}"' if sep in v else v for v in row) for row in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def _names(folder: Path, **options: str) -> tuple[list[str], list[str], list[str]]:
    export = read_crm(folder, options=ReadOptions(**options))  # type: ignore[arg-type]
    return (
        [r.title for r in export.records],
        [str(p) for p in export.problems],
        [str(n) for n in export.notices],
    )


def test_an_excel_cp1252_csv_loads_every_row_and_says_how_it_was_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "accounts", ACCOUNTS, encoding="cp1252")
    titles, problems, notices = _names(tmp_path)
    assert titles == ["Société Générale de Froid", "Ørsted Køl A/S"]  # every row, not a single problem
    assert problems == []
    assert notices == [
        f"{path}: is not UTF-8 (line 2): read as cp1252, Excel's Windows encoding. If names look wrong, "
        "save it as CSV UTF-8 (Excel: File > Save As > CSV UTF-8) or pass --encoding (e.g. --encoding cp1250)"
    ]


def test_a_declared_encoding_is_used_and_not_second_guessed(tmp_path: Path) -> None:
    rows = [ACCOUNTS[0], ["A1", "Łódź Chłodnie Spółka", "Magazyny", "PL", "ala@x.example", "", ""]]
    _write(tmp_path, "accounts", rows, encoding="cp1250")
    titles, problems, notices = _names(tmp_path, encoding="cp1250")
    assert (titles, problems, notices) == (["Łódź Chłodnie Spółka"], [], [])


def test_a_declared_encoding_that_does_not_fit_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "accounts", ACCOUNTS, encoding="cp1252")
    _titles, problems, _ = _names(tmp_path, encoding="utf-8")
    assert problems == [
        f"{path}:2: is not utf-8 text; save it as CSV UTF-8 (Excel: File > Save As > CSV UTF-8) or pass --encoding"
    ]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_marks_are_honoured(tmp_path: Path, encoding: str) -> None:
    _write(
        tmp_path, "accounts", ACCOUNTS, sep="\t", encoding=encoding
    )  # Excel "Unicode text" is UTF-16 + tabs
    titles, problems, notices = _names(tmp_path)
    assert (titles, problems, notices) == (["Société Générale de Froid", "Ørsted Køl A/S"], [], [])


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters_are_found_from_the_header(tmp_path: Path, sep: str) -> None:
    _write(tmp_path, "accounts", ACCOUNTS, sep=sep)
    _write(tmp_path, "deals", DEALS, sep=sep)
    export = read_crm(tmp_path, options=ReadOptions(decimal=","))
    assert not export.problems
    deal = next(r for r in export.records if r.source_type == "deal")
    assert (deal.fields["amount"], deal.fields["close_date"]) == ("1000.50", "2026-12-31")


def test_a_semicolon_csv_without_declared_decimals_names_the_amount_not_the_columns(tmp_path: Path) -> None:
    _write(tmp_path, "accounts", ACCOUNTS, sep=";")
    deals = _write(tmp_path, "deals", DEALS, sep=";")
    _titles, problems, _ = _names(tmp_path)
    assert problems == [
        f"{deals}:2: amount '1.000,50' is not an amount with '.' as the decimal separator; "
        "if ',' is your decimal separator, pass --decimal , (or decimal = \",\" in the map)"
    ]


def test_a_wrong_declared_delimiter_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, "accounts", ACCOUNTS, sep=";")
    _titles, problems, _ = _names(tmp_path, delimiter=",")
    assert problems == [
        f"{path}:1: header lacks column(s): account_id, name, industry, region, owner_email, team, visibility "
        "(read with delimiter ',': pass --delimiter if the file uses another)"
    ]


def test_utf16_without_a_byte_order_mark_is_named_not_misread(tmp_path: Path) -> None:
    path = _write(tmp_path, "accounts", ACCOUNTS, encoding="utf-16-le")
    _titles, problems, _ = _names(tmp_path)
    assert problems == [
        f"{path}:1: holds NUL bytes: it may be UTF-16 without a byte-order mark; pass --encoding utf-16-le, "
        "or save it as CSV UTF-8 (Excel: File > Save As > CSV UTF-8)"
    ]
    titles, problems, _ = _names(tmp_path, encoding="utf-16-le")
    assert (titles, problems) == (["Société Générale de Froid", "Ørsted Køl A/S"], [])
