"""The claim check: every price, discount, percentage, date and SKU code in a draft must appear in
a source it cites, or it is flagged to the rep as unverified.

Values are compared, not strings: "$48k", "48,000 USD" and "48000" are the same amount; "Dec 5",
"5 December 2026" and "2026-12-05" are the same date (a date without a year matches any year).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.knowledge.lexical import is_identifier

ClaimKind = Literal["amount", "percent", "date", "code"]

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_AMOUNT = re.compile(
    rf"(?P<cur1>[$€£])\s?(?P<n1>{_NUM})\s?(?P<s1>[kKmM]\b)?"
    rf"|(?P<n2>{_NUM})\s?(?P<s2>[kKmM]\b)?\s?(?P<cur2>USD|EUR|GBP|dollars|euros|pounds)\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(rf"(?P<n>{_NUM})\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")
_MONTH_DAY = re.compile(
    rf"\b{_MONTH}\s(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s(?P<y>\d{{4}}))?", re.IGNORECASE
)
_DAY_MONTH = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?{_MONTH}(?:,?\s(?P<y>\d{{4}}))?\b", re.IGNORECASE
)
_CODE = re.compile(r"\b[A-Za-z0-9]+(?:[-_./#][A-Za-z0-9]+)+\b|\b[A-Za-z]+\d[A-Za-z0-9]*\b")


@dataclass(frozen=True)
class Claim:
    text: str
    kind: ClaimKind
    verified: bool


def _number(raw: str, scale: str | None = None) -> float:
    value = float(raw.replace(",", ""))
    if scale:
        value *= 1000 if scale.lower() == "k" else 1_000_000
    return value


def _amounts(text: str) -> list[tuple[str, float]]:
    out = []
    for m in _AMOUNT.finditer(text):
        raw, scale = (m.group("n1"), m.group("s1")) if m.group("n1") else (m.group("n2"), m.group("s2"))
        out.append((m.group(0).strip(), _number(raw, scale)))
    return out


def _percents(text: str) -> list[tuple[str, float]]:
    return [(m.group(0), _number(m.group("n"))) for m in _PERCENT.finditer(text)]


def _dates(text: str) -> list[tuple[str, tuple[int | None, int, int]]]:
    out: list[tuple[str, tuple[int | None, int, int]]] = []
    for m in _ISO_DATE.finditer(text):
        out.append((m.group(0), (int(m.group("y")), int(m.group("m")), int(m.group("d")))))
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(text):
            month = _MONTHS[m.group(1).lower()[:3]]
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
        if has_alpha and has_digit and is_identifier(token.lower()) and not _ISO_DATE.fullmatch(token):
            found.append(token)
    return found


def _numbers_in(text: str) -> set[float]:
    values = {v for _, v in _amounts(text)} | {v for _, v in _percents(text)}
    values |= {_number(n) for n in re.findall(_NUM, text)}
    return values


def check_claims(draft: str, cited_sources: Sequence[str]) -> list[Claim]:
    """Every checkable claim in ``draft``, each marked verified if a cited source supports it."""
    evidence = "\n".join(cited_sources)
    numbers = _numbers_in(evidence)
    dates = {d for _, d in _dates(evidence)}
    codes = {c.lower() for c in _codes(evidence)}
    claims: list[Claim] = []
    seen: set[str] = set()

    def add(text: str, kind: ClaimKind, ok: bool) -> None:
        if text not in seen:
            seen.add(text)
            claims.append(Claim(text, kind, ok))

    for text, value in _amounts(draft):
        add(text, "amount", value in numbers)
    for text, value in _percents(draft):
        add(text, "percent", value in numbers)
    for text, (year, month, day) in _dates(draft):
        ok = any(d[1:] == (month, day) and (year is None or d[0] in (None, year)) for d in dates)
        add(text, "date", ok)
    for code in _codes(draft):
        add(code, "code", code.lower() in codes)
    return claims
