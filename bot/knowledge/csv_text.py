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
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


BLOCK = 1 << 20  # bytes decoded at a time: a file of any size is checked in constant memory


@dataclass(frozen=True)
class Encoding:
    """How to read a file as text: ``name`` for :func:`open`; ``notice`` is set when the encoding was
    detected rather than known (tell the user); ``empty`` when it holds only whitespace."""

    name: str
    notice: str = ""
    empty: bool = False


class _BadByte(ValueError):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            yield block


def _read_through(blocks: Iterable[bytes], encoding: str) -> bool:
    """Decode every block (nothing kept); True when there is text besides whitespace and a BOM.
    Raises :class:`_BadByte` with the line of the first byte that is not ``encoding``."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines, has_text = 0, False
    try:
        for block in blocks:
            text = decoder.decode(block)
            has_text = has_text or bool(text.replace("\ufeff", "").strip())
            lines += block.count(b"\n")
        text = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        # exc.object is this block, after the few bytes of a character cut at the last block's end
        raise _BadByte(lines + exc.object[: exc.start].count(b"\n") + 1) from None
    return has_text or bool(text.replace("\ufeff", "").strip())


def detect(blocks: Callable[[], Iterable[bytes]], declared: str | None = None) -> Encoding:
    """The encoding that reads the whole of ``blocks()`` (called once per encoding tried), decided as
    the module says; raises :class:`DecodeError` naming the line where reading stopped."""
    head = next(iter(blocks()), b"")[:4096]
    for bom, name in _BOMS:
        if head.startswith(bom):
            try:
                return Encoding(name, empty=not _read_through(blocks(), name))
            except _BadByte:
                message = f"starts with a {name} byte-order mark but is not {name} text"
                raise DecodeError(message, None) from None
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError:
            raise DecodeError(f"--encoding {declared!r} is not an encoding Python knows") from None
        try:
            return Encoding(declared, empty=not _read_through(blocks(), declared))
        except _BadByte as exc:
            raise DecodeError(f"is not {declared} text; {SAVE_AS_UTF8}", exc.line) from None
    if b"\x00" in head:
        raise DecodeError(
            "holds NUL bytes: it may be UTF-16 without a byte-order mark; pass --encoding utf-16-le, or "
            + SAVE_AS_UTF8.removesuffix(" or pass --encoding"),
            head[: head.index(b"\x00")].count(b"\n") + 1,
        )
    try:
        return Encoding("utf-8", empty=not _read_through(blocks(), "utf-8"))
    except _BadByte as exc:
        first_bad = exc.line
    try:
        has_text = _read_through(blocks(), FALLBACK_ENCODING)
    except _BadByte:
        raise DecodeError(
            f"is neither UTF-8 nor {FALLBACK_ENCODING} text; {SAVE_AS_UTF8}", first_bad
        ) from None
    return Encoding(
        FALLBACK_ENCODING, empty=not has_text,
        notice=f"is not UTF-8 (line {first_bad}): read as {FALLBACK_ENCODING}, Excel's Windows encoding. "
        f"If names look wrong, {SAVE_AS_UTF8} (e.g. --encoding cp1250)",
    )  # fmt: skip


def detect_file(path: Path, declared: str | None = None) -> Encoding:
    """:func:`detect` over a file, read in blocks of :data:`BLOCK` bytes."""
    return detect(lambda: _blocks(path), declared)


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
    "Encoding",
    "detect",
    "detect_file",
    "find_delimiter",
    "header_key",
]
