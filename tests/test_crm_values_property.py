"""Properties: an amount or a date written in any common convention is read exactly or refused, never
read as a different value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.knowledge.amounts import AmountError, parse_amount
from bot.knowledge.dates import DateError, parse_date

money = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False)


def _grouped(whole: int, sep: str) -> str:
    return f"{whole:,}".replace(",", sep)


def _written(value: Decimal, decimal: str, group: str, decimals: int) -> str:
    whole, cents = divmod(value, 1)
    text = _grouped(int(whole), group) if group else str(int(whole))
    return text + (f"{decimal}{int(cents * 100):02d}" if decimals else "")


def _read(text: str, decimal: str | None) -> Decimal | None:
    try:
        plain, _ = parse_amount(text, decimal)  # type: ignore[arg-type]
    except AmountError:
        return None
    return Decimal(plain)


@given(
    money, st.sampled_from(["", ",", " ", "'"]), st.sampled_from([0, 2]), st.sampled_from(["", "$", "USD "])
)
def test_dot_decimal_amounts_are_read_exactly(value: Decimal, group: str, decimals: int, prefix: str) -> None:
    value = value.quantize(Decimal(1)) if not decimals else value
    text = prefix + _written(value, ".", group, decimals)
    assert _read(text, ".") == value
    assert _read(text, None) == value  # the default convention reads them too


@given(money, st.sampled_from(["", ".", " ", "\u202f"]), st.sampled_from([0, 2]), st.sampled_from(["", " €"]))
def test_comma_decimal_amounts_are_read_when_declared_and_never_misread_otherwise(
    value: Decimal, group: str, decimals: int, suffix: str
) -> None:
    value = value.quantize(Decimal(1)) if not decimals else value
    text = _written(value, ",", group, decimals) + suffix
    assert _read(text, ",") == value
    assert _read(text, None) in (None, value)  # undeclared: refused, or the same number (e.g. "250")


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)), st.sampled_from(["/", ".", "-"]))
def test_day_first_and_month_first_dates_are_never_swapped(day: date, sep: str) -> None:
    dmy = f"{day.day:02d}{sep}{day.month:02d}{sep}{day.year}"
    mdy = f"{day.month}{sep}{day.day}{sep}{day.year}"
    assert parse_date(dmy, "day-first") == day.isoformat()
    assert parse_date(mdy, "month-first") == day.isoformat()
    for text in (dmy, mdy):
        try:
            assert parse_date(text) == day.isoformat()  # undeclared: exact when only one reading exists
        except DateError as exc:
            assert "ambiguous" in str(exc)
