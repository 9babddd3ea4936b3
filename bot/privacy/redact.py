"""Mask personal data (emails, phone numbers) in text bound for the standard endpoint.

Optional (``PII_MASKING``). Masks are numbered per request so the model can still tell people
apart ("[email 1]" wrote to "[email 2]"), and :func:`unmask` puts the originals back into the
answer on this machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
# International or North-American style numbers of 7+ digits, with spaces, dots, dashes, brackets.
_PHONE = re.compile(
    r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w-])"
)


@dataclass
class Masker:
    """``enabled=False`` (private requests, or masking off) leaves text as it is."""

    enabled: bool = True
    originals: dict[str, str] = field(default_factory=dict)
    _seen: dict[str, str] = field(default_factory=dict)

    def _token(self, kind: str, value: str) -> str:
        if value not in self._seen:
            n = sum(1 for t in self._seen.values() if t.startswith(f"[{kind} ")) + 1
            token = f"[{kind} {n}]"
            self._seen[value] = token
            self.originals[token] = value
        return self._seen[value]

    def mask(self, text: str) -> str:
        if not self.enabled:
            return text
        text = _EMAIL.sub(lambda m: self._token("email", m.group(0)), text)
        return _PHONE.sub(lambda m: self._phone(m.group(0)), text)

    def _phone(self, value: str) -> str:
        digits = sum(c.isdigit() for c in value)
        # Dates, amounts and ids are digit runs too: only mask what has the length of a phone number.
        if digits < 7 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return value
        return self._token("phone", value)

    def unmask(self, text: str) -> str:
        for token, value in self.originals.items():
            text = text.replace(token, value)
        return text
