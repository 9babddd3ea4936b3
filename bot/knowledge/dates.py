"""Read the dates CRM exports write: ISO 8601, ``31/12/2026``, ``12/31/2026``, ``31.12.2026 10:00``,
``12/31/2026 10:00 AM``. Day and month are never guessed: ``05/06/2026`` needs a declared order
(``--dates day-first`` / ``month-first``, or ``dates`` in a mapping file); ``31/12/2026`` can only be
read one way and is. ISO values are returned exactly as written, so they are stored unchanged; others
become ISO (``2026-12-31``, ``2026-12-31T10:00:00``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

DateOrder = Literal["day-first", "month-first"]
DATE_ORDERS: tuple[DateOrder, ...] = ("day-first", "month-first")
_NUMERIC = re.compile(
    r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})"
    r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([AaPp][Mm])?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


class DateError(ValueError):
    """The message says what is wrong and what to do; the caller adds the column and the value."""


def _iso(value: str, with_time: bool) -> bool:
    try:
        if with_time:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _day_month(a: int, b: int, order: DateOrder | None) -> tuple[int, int]:
    if order == "day-first":
        return a, b
    if order == "month-first":
        return b, a
    if a > 12 >= b:
        return a, b
    if b > 12 >= a:
        return b, a
    if a == b:
        return a, b
    raise DateError("is ambiguous (day or month first?): pass --dates day-first or --dates month-first")


_NAMED_MONTH = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y")
_TIMES = ("", " %H:%M", " %I:%M %p", " %H:%M:%S", " %I:%M:%S %p")


def _named_month(value: str, with_time: bool) -> str:
    """``Dec 31, 2026``, ``31 December 2026 10:00``: English month names, which cannot be swapped."""
    text = " ".join(value.replace(".", " ").split())
    for fmt in _NAMED_MONTH:
        for clock in _TIMES:
            try:
                moment = datetime.strptime(text, fmt + clock)
            except ValueError:
                continue
            return moment.isoformat() if with_time and clock else moment.date().isoformat()
    raise DateError("is not a date like 2026-12-31 or 31/12/2026")


def parse_date(value: str, order: DateOrder | None = None, *, with_time: bool = False) -> str:
    """An ISO 8601 date (or date-time when ``with_time``), ``""`` for an empty value."""
    value = value.strip()
    if not value or _iso(value, with_time):
        return value
    if not with_time and _iso(value, True) and len(value) > 10:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()  # 2026-12-31 10:00
    m = _NUMERIC.match(value)
    if not m:
        return _named_month(value, with_time)
    first, second, third, hour, minute, sec, ampm, zone = m.groups()
    try:
        if len(first) == 4:  # 2026/12/31
            day_, month, year = int(third), int(second), int(first)
        elif len(third) == 4:
            day_, month = _day_month(int(first), int(second), order)
            year = int(third)
        else:
            raise DateError("has no four-digit year: write it like 2026-12-31 or 31/12/2026")
        day = date(year, month, day_)
        if hour is None:
            return day.isoformat()
        h = int(hour)
        if ampm:
            if not 1 <= h <= 12:
                raise DateError("is not a time of day")
            h = h % 12 + (12 if ampm.lower() == "pm" else 0)
        moment = datetime(year, month, day_, h, int(minute), int(sec or 0))
    except ValueError as exc:
        if isinstance(exc, DateError):
            raise
        raise DateError("is not a date that exists") from None
    if not with_time:
        return day.isoformat()
    text = moment.isoformat()
    return text + ("+00:00" if zone == "Z" else (zone[:3] + ":" + zone[-2:]) if zone else "")


__all__ = ["DATE_ORDERS", "DateError", "DateOrder", "parse_date"]
