"""Read money amounts as people write them, never guessing: ``$1,000``, ``1 000,50 €``, ``EUR 12.5``.

The decimal separator is ``.`` unless the user declares ``,`` (``--decimal ,`` or ``decimal`` in a
mapping file). Group separators (``,`` or ``.``, the other one; spaces; ``'``) must group by three. A
value whose reading depends on a convention nobody declared is refused, not guessed: ``1.000,50``
under ``.``, and ``1.000`` / ``250.000`` under the default (a European thousands group, or three
decimals?). Non-finite values (``nan``, ``inf``) and exponents are refused. The result is the plain
number as written, ``.`` for decimals and no grouping (``1000.50``), so an amount that was already
plain is stored unchanged.
"""

from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Literal

DecimalMark = Literal[".", ","]
_SPACES = " \u00a0\u202f\u2009'’"  # space, no-break space, narrow no-break space, thin space, apostrophes
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_EXPONENT = re.compile(r"[\d.,]*\d[\d.,]*e[+-]?\d+")
_CODE = re.compile(r"^([A-Z]{3})\s*(.*)$|^(.*?)\s*([A-Z]{3})$")


class AmountError(ValueError):
    """The message says what is wrong and what to do; the caller adds the column and the value."""


def _strip_currency(text: str) -> tuple[str, str]:
    """(number text, ISO code written with it or "") with symbols like $ € £ removed from either end."""
    code = ""
    m = _CODE.match(text)
    if m:
        code = m.group(1) or m.group(4)
        text = m.group(2) if m.group(1) else m.group(3)
    text = text.strip(_SPACES)
    while text and unicodedata.category(text[0]) == "Sc":
        text = text[1:].strip(_SPACES)
    while text and unicodedata.category(text[-1]) == "Sc":
        text = text[:-1].strip(_SPACES)
    return text, code


def _grouped(integer: str, groups: str) -> str | None:
    """``1,000,000`` -> ``1000000`` when every separator is one of ``groups`` and groups by three."""
    if integer.isdigit():
        return integer
    seps = {c for c in integer if not c.isdigit()}
    if len(seps) != 1 or not seps <= set(groups):
        return None
    sep = seps.pop()
    parts = integer.split(sep)
    if not (1 <= len(parts[0]) <= 3 and parts[0].isdigit()) or not all(
        len(p) == 3 and p.isdigit() for p in parts[1:]
    ):
        return None
    return "".join(parts)


def parse_amount(value: str, decimal: DecimalMark | None = None) -> tuple[str, str]:
    """(plain amount, currency code written next to it); ``("", "")`` for an empty value.

    ``decimal`` None is the default: ``.`` decimals, with the ambiguous ``1.000`` refused.
    """
    text = value.strip(_SPACES + "\t")
    if not text:
        return "", ""
    if len(text) <= 20 and _PLAIN.fullmatch(text) and (decimal != "," or text.isdigit()):
        return text, ""  # 120000, 1000.5, 1000.50: the common case, read the same in every convention
    text, code = _strip_currency(text)
    sign = ""
    if text and text[0] in "-+−":
        sign, text = ("-" if text[0] != "+" else ""), text[1:].strip(_SPACES)
    lowered = text.lower()
    if lowered in ("nan", "inf", "infinity") or _EXPONENT.fullmatch(lowered):
        raise AmountError("is not a finite plain number")
    if not any(c.isdigit() for c in text):
        raise AmountError("is not a number")
    mark = decimal or "."
    groups = _SPACES + ("," if mark == "." else ".")
    integer, _, fraction = text.rpartition(mark) if mark in text else (text, "", "")
    if not integer and fraction:
        integer = "0"
    plain_int = _grouped(integer, groups)
    if plain_int is None or (fraction and not fraction.isdigit()) or text.endswith(mark):
        other = "," if mark == "." else "."
        hint = ""
        if other in text:
            hint = f"; if {other!r} is your decimal separator, pass --decimal {other}"
            hint += f' (or decimal = "{other}" in the map)'
        raise AmountError(f"is not an amount with {mark!r} as the decimal separator{hint}")
    if decimal is None and len(fraction) == 3 and integer.isdigit() and len(integer) <= 3 and integer != "0":
        raise AmountError(
            "is ambiguous (a thousands group or three decimals?): pass --decimal , or --decimal ."
        )
    plain = sign + plain_int + (f".{fraction}" if fraction else "")
    try:
        if not Decimal(plain).is_finite():
            raise AmountError("is not a finite plain number")
    except InvalidOperation:
        raise AmountError("is not a number") from None
    if not math.isfinite(float(plain)):
        raise AmountError("is too large to be an amount")
    return plain, code


__all__ = ["AmountError", "DecimalMark", "parse_amount"]
