"""Turn an export file's bytes into text and find its delimiter, or say exactly what to do.

Encoding: a byte-order mark wins (UTF-8, UTF-16, UTF-32: Excel's "CSV UTF-8" and "Unicode text");
then the declared encoding (``--encoding``, or ``encoding`` in a mapping file); then UTF-8; then
cp1252, the encoding Excel on Windows writes "CSV (Comma delimited)" in for Western languages, which
is reported so the user can check it. (charset-normalizer was tried for this last step: on short CSVs
such as a CRM export it picked cp1250, cp775 or mac_iceland for plain cp1252 text, a silent misread.)

Delimiter: the declared one, else the one of ``, ; tab |`` that splits the header into the most known
column names, else :class:`csv.Sniffer`'s guess, else ``,``.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Collection
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t", "|")
FALLBACK_ENCODING = "cp1252"
SAVE_AS_UTF8 = "save it as CSV UTF-8 (Excel: File > Save As > CSV UTF-8) or pass --encoding"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: same first bytes
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)  # fmt: skip


class DecodeError(ValueError):
    """The file's bytes cannot be read as text; ``line`` is where reading stopped, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Text:
    text: str
    encoding: str
    notice: str = ""  # set when the encoding was detected rather than known: tell the user


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def decode(data: bytes, declared: str | None = None) -> Text:
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return Text(data.decode(name), name)
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    f"starts with a {name} byte-order mark but is not {name} text", None
                ) from exc
    if declared:
        try:
            return Text(data.decode(declared), declared)
        except LookupError:
            raise DecodeError(f"--encoding {declared!r} is not an encoding Python knows") from None
        except UnicodeDecodeError as exc:
            raise DecodeError(f"is not {declared} text; {SAVE_AS_UTF8}", _line_of(data, exc.start)) from None
    if b"\x00" in data[:4096]:
        raise DecodeError(
            "holds NUL bytes: it may be UTF-16 without a byte-order mark; pass --encoding utf-16-le, or "
            + SAVE_AS_UTF8.removesuffix(" or pass --encoding"),
            _line_of(data, data.index(b"\x00")),
        )
    try:
        return Text(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        first_bad = _line_of(data, exc.start)
    try:
        text = data.decode(FALLBACK_ENCODING)
    except UnicodeDecodeError:
        raise DecodeError(
            f"is neither UTF-8 nor {FALLBACK_ENCODING} text; {SAVE_AS_UTF8}", first_bad
        ) from None
    return Text(
        text, FALLBACK_ENCODING,
        notice=f"is not UTF-8 (line {first_bad}): read as {FALLBACK_ENCODING}, Excel's Windows encoding. "
        f"If names look wrong, {SAVE_AS_UTF8} (e.g. --encoding cp1250)",
    )  # fmt: skip


def _header(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return []


def header_key(name: str) -> str:
    """Header cells compare without case and surrounding or repeated spaces."""
    return " ".join(name.split()).casefold()


def find_delimiter(text: str, known: Collection[str], declared: str | None = None) -> str:
    """The declared delimiter, else the candidate that splits the header into the most ``known``
    column names (compared with :func:`header_key`), else the sniffer's guess, else ``,``."""
    if declared:
        return declared
    keys = {header_key(k) for k in known}
    scored = [(sum(header_key(c) in keys for c in _header(text, d)), -i, d) for i, d in enumerate(DELIMITERS)]
    best, _, delimiter = max(scored)
    if best > 0:
        return delimiter
    sample = "\n".join(text[:65536].splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


__all__ = [
    "DELIMITERS",
    "FALLBACK_ENCODING",
    "SAVE_AS_UTF8",
    "DecodeError",
    "Text",
    "decode",
    "find_delimiter",
    "header_key",
]
