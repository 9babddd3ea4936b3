"""``closer ingest crm`` flags that say how to read an export: its format, numbers, dates and bytes."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.knowledge.amounts import DecimalMark
from bot.knowledge.crm_mapping import (
    BUILTIN_FORMATS,
    CrmMapping,
    ReadOptions,
    choose_mapping,
    parse_delimiter,
)
from bot.knowledge.dates import DATE_ORDERS, DateOrder


def add_crm_read_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=["closer", *BUILTIN_FORMATS], default=None,
        help="the export's format: closer (default: accounts.csv, deals.csv … as in the docs), or a CRM's "
        "own CSV exports, read as they come",
    )  # fmt: skip
    parser.add_argument(
        "--map",
        type=Path,
        metavar="FILE",
        help="a TOML mapping for any other CRM's exports (docs/crm-formats.md)",
    )
    parser.add_argument(
        "--encoding",
        metavar="NAME",
        help="the files' encoding, e.g. cp1252 (default: UTF-8, else cp1252, said)",
    )
    parser.add_argument(
        "--delimiter", metavar="CHAR", help="the CSV delimiter: , ; tab or | (default: found from the header)"
    )
    parser.add_argument(
        "--decimal",
        choices=[".", ","],
        metavar="SEP",
        help="the decimal separator of amounts, . or , (default: '.', ambiguous amounts refused)",
    )
    parser.add_argument(
        "--dates", choices=DATE_ORDERS, help="how to read dates like 05/06/2026 (default: refuse ambiguous)"
    )


def crm_read_flags(args: argparse.Namespace) -> tuple[CrmMapping | None, ReadOptions]:
    """The mapping (None = Closer's own format) and the read options the flags ask for."""
    mapping = choose_mapping(args.format, args.map)
    delimiter = parse_delimiter(args.delimiter) if args.delimiter else None
    decimal: DecimalMark | None = args.decimal
    dates: DateOrder | None = args.dates
    return mapping, ReadOptions(decimal=decimal, dates=dates, encoding=args.encoding, delimiter=delimiter)


__all__ = ["add_crm_read_flags", "crm_read_flags"]
