"""The claim check: every price, discount, percentage, date and SKU code in a draft must appear in
a source it cites, as the same kind of value, or it is flagged to the rep as unverified.

Values are compared by kind and value, not as strings or bare digits:

- a percentage needs a percentage in the source: "30%" ↔ "30 %", "30 percent", "thirty per cent",
  or a range such as "25 – 30 %"; the "30" of a "30/40/30 schedule" or "30 days" is not one;
- an amount needs an amount: "$48k", "48,000 USD" and "USD 48,000" are the same; a number counts as
  an amount in a source only when a currency marks it, a label names it ("Amount: 48,000") or it
  sits in a table column headed by a currency or a price ("| USD |" over "| 38,500 |");
- a date needs a date: "Dec 5", "5 December 2026" and "2026-12-05" are the same (a date without a
  year matches any year);
- a code (SKU, order number) needs the same code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.knowledge.lexical import is_identifier

ClaimKind = Literal["amount", "percent", "date", "code"]

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}
_MONTH = r"(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:[kKmM]|bn|million|thousand|billion)\b"
_CODE_CURRENCY = r"USD|EUR|GBP|US\$"
_WORD_CURRENCY = r"dollars|euros|pounds"
_AMOUNT = re.compile(
    rf"(?:(?P<sym>[$€£])|\b(?P<iso>{_CODE_CURRENCY})\s?)(?P<n1>{_NUM})(?:\s?(?P<s1>{_SCALE}))?"
    rf"|\b(?P<n2>{_NUM})(?:\s?(?P<s2>{_SCALE}))?\s?(?P<cur2>{_CODE_CURRENCY}|{_WORD_CURRENCY})\b",
    re.IGNORECASE,
)
# "Amount: 1,044,450", "list price: 38,500" — a labelled number is an amount even without a currency.
_LABELLED_AMOUNT = re.compile(
    rf"\b(?:amount|price|list price|total|budget|cost|fee|value)\s?:\s?(?P<n>{_NUM})(?:\s?(?P<s>{_SCALE}))?",
    re.IGNORECASE,
)
_PCT = r"(?:%|\s?percent\b|\s?per cent\b)"
_PERCENT = re.compile(rf"(?<![\d.,])(?P<n>{_NUM})\s?{_PCT}", re.IGNORECASE)
# "25 – 30 %", "10-15%", "5 to 10 percent": the first number of the range is a percentage too.
_PERCENT_RANGE = re.compile(
    rf"(?<![\d.,])(?P<a>{_NUM})\s?(?:[-–—]|to)\s?(?P<b>{_NUM})\s?{_PCT}", re.IGNORECASE
)
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")
_MONTH_DAY = re.compile(
    rf"\b{_MONTH}\s(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s(?P<y>\d{{4}}))?", re.IGNORECASE
)
_DAY_MONTH = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?{_MONTH}(?:,?\s(?P<y>\d{{4}}))?\b", re.IGNORECASE
)
_CODE = re.compile(r"\b[A-Za-z0-9]+(?:[-_./#][A-Za-z0-9]+)+\b|\b[A-Za-z]+\d[A-Za-z0-9]*\b")
_QUANTITY = re.compile(r"\d+(?:\.\d+)?-?[A-Za-z]+")
_MONEY_HEADER = re.compile(
    rf"^\s*(?:[$€£]|{_CODE_CURRENCY}|(?:list |unit )?(?:price|amount|cost|fee|total|value)s?)"
    rf"(?:\s*\(\s*(?:[$€£]|{_CODE_CURRENCY})\s*\))?\s*$",
    re.IGNORECASE,
)

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen"]  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}  # fmt: skip
_WORD_NUMBERS = {w: i for i, w in enumerate(_UNITS)} | _TENS | {"a hundred": 100, "one hundred": 100}
_SPELLED_PERCENT = re.compile(
    rf"\b(?P<w>(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_UNITS[1:10])}))?|{'|'.join(_UNITS)}|a hundred|"
    r"one hundred)\s(?:percent|per cent)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    text: str
    kind: ClaimKind
    verified: bool


def _number(raw: str, scale: str | None = None) -> float:
    value = float(raw.replace(",", ""))
    if scale:
        s = scale.lower()
        value *= 1000 if s in ("k", "thousand") else 1_000_000_000 if s in ("bn", "billion") else 1_000_000
    return round(value, 6)


def _amounts(text: str) -> list[tuple[str, float]]:
    out = []
    for m in _AMOUNT.finditer(text):
        raw, scale = (m.group("n1"), m.group("s1")) if m.group("n1") else (m.group("n2"), m.group("s2"))
        out.append((m.group(0).strip(), _number(raw, scale)))
    return out


def _percents(text: str) -> list[tuple[str, float]]:
    out = [(m.group(0), _number(m.group("n"))) for m in _PERCENT.finditer(text)]
    for m in _SPELLED_PERCENT.finditer(text):
        words = m.group("w").lower().replace("-", " ").split()
        value = _WORD_NUMBERS.get(" ".join(words))
        if value is None:  # "thirty five"
            value = _TENS[words[0]] + _UNITS.index(words[1])
        out.append((m.group(0), float(value)))
    return out


def _dates(text: str) -> list[tuple[str, tuple[int | None, int, int]]]:
    out: list[tuple[str, tuple[int | None, int, int]]] = []
    for m in _ISO_DATE.finditer(text):
        out.append((m.group(0), (int(m.group("y")), int(m.group("m")), int(m.group("d")))))
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(text):
            month = _MONTHS[m.group("mon").lower()[:3]]
            year = int(m.group("y")) if m.group("y") else None
            day = int(m.group("d"))
            if 1 <= day <= 31:
                out.append((m.group(0), (year, month, day)))
    return out


def _codes(text: str) -> list[str]:
    found = []
    for m in _CODE.finditer(text):
        token = m.group(0)
        has_alpha, has_digit = any(c.isalpha() for c in token), any(c.isdigit() for c in token)
        if not (has_alpha and has_digit and is_identifier(token.lower())):
            continue
        # A date, or a quantity with its unit ("36-month", "12x", "4th", "1.1M"), is not a code.
        if not _ISO_DATE.fullmatch(token) and not _QUANTITY.fullmatch(token):
            found.append(token)
    return found


# --- what a source holds, by kind ------------------------------------------------------------------------


def _table_amounts(text: str) -> Iterator[float]:
    """Numbers in the columns of a Markdown table whose header names a currency or a price."""
    money_columns: set[int] = set()
    in_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        if not in_table:  # the first row of a table is its header
            in_table = True
            money_columns = {i for i, c in enumerate(cells) if _MONEY_HEADER.match(c)}
            continue
        for i in money_columns:
            if i < len(cells) and re.fullmatch(rf"[$€£]?\s?(?:{_NUM})\s?(?:{_SCALE})?", cells[i]):
                m = re.search(rf"(?P<n>{_NUM})\s?(?P<s>{_SCALE})?", cells[i])
                if m:
                    yield _number(m.group("n"), m.group("s"))


def _amounts_in(text: str) -> set[float]:
    values = {v for _, v in _amounts(text)}
    values |= {_number(m.group("n"), m.group("s")) for m in _LABELLED_AMOUNT.finditer(text)}
    values |= set(_table_amounts(text))
    return values


def _percents_in(text: str) -> set[float]:
    values = {v for _, v in _percents(text)}
    values |= {_number(m.group("a")) for m in _PERCENT_RANGE.finditer(text)}
    return values


def check_claims(draft: str, cited_sources: Sequence[str]) -> list[Claim]:
    """Every checkable claim in ``draft``, each marked verified if a cited source supports it."""
    evidence = "\n".join(cited_sources)
    amounts = set().union(*(_amounts_in(s) for s in cited_sources)) if cited_sources else set()
    percents = _percents_in(evidence)
    dates = {d for _, d in _dates(evidence)}
    codes = {c.lower() for c in _codes(evidence)}
    claims: list[Claim] = []
    seen: set[str] = set()

    def add(text: str, kind: ClaimKind, ok: bool) -> None:
        if text not in seen:
            seen.add(text)
            claims.append(Claim(text, kind, ok))

    for text, value in _amounts(draft):
        add(text, "amount", value in amounts)
    for text, value in _percents(draft):
        add(text, "percent", value in percents)
    for text, (year, month, day) in _dates(draft):
        ok = any(d[1:] == (month, day) and (year is None or d[0] in (None, year)) for d in dates)
        add(text, "date", ok)
    for code in _codes(draft):
        add(code, "code", code.lower() in codes)
    return claims
