"""Structure-aware chunking: split documents into heading-scoped sections, then pack them into chunks.

Every chunk belongs to exactly one heading path and repeats that path (plus the document title) at its
top, so a chunk retrieved on its own still says where it came from ("Pricing › Volume discounts").
Everything here is a pure function of its input: the same text always yields the same chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

HEADING_SEPARATOR = " › "


@dataclass(frozen=True)
class Section:
    """The body text found under one heading path, e.g. ``("Pricing", "Volume discounts")``."""

    headings: tuple[str, ...]
    text: str


class Outline:
    """Collects lines under a stack of nested headings and turns them into sections.

    Shared by the Markdown, plain-text and HTML readers so they all nest headings the same way.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self._sections: list[Section] = []

    def heading(self, level: int, text: str) -> None:
        """Start a new section; a heading closes every open heading of the same or deeper level."""
        self._flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, " ".join(text.split())))

    def add(self, line: str) -> None:
        self._lines.append(line)

    def sections(self) -> list[Section]:
        """Sections in reading order; those with no body text are left out."""
        self._flush()
        return list(self._sections)

    def _flush(self) -> None:
        text = "\n".join(self._lines).strip("\n").rstrip()
        self._lines = []
        if text.strip():
            headings = tuple(name for _, name in self._stack if name)
            self._sections.append(Section(headings, text))


# --- Markdown -----------------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def _markdown_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """Yield ``(level, heading, line)`` per line; level 0 means "not a heading".

    Lines inside fenced code blocks are never headings: a ``# comment`` in a shell snippet is code.
    """
    fence = ""
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence:
            # A fence closes only with the same character, at least as long, and nothing after it.
            if (
                match
                and match.group(1)[0] == fence[0]
                and len(match.group(1)) >= len(fence)
                and not match.group(2).strip()
            ):
                fence = ""
            yield 0, "", line
        elif match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
            yield 0, "", line
        elif heading := _ATX.match(line):
            yield len(heading.group(1)), (heading.group(2) or "").strip(), line
        else:
            yield 0, "", line


def markdown_sections(text: str) -> list[Section]:
    """Split Markdown on ATX headings (``#`` to ``######``) outside fenced code blocks.

    Text before the first heading gets ``headings=()``; sections without body text are left out.
    """
    outline = Outline()
    for level, heading, line in _markdown_lines(text):
        if level:
            outline.heading(level, heading)
        else:
            outline.add(line)
    return outline.sections()


def markdown_title(text: str) -> str:
    """The first level-1 heading's text, or "" when there is none."""
    for level, heading, _ in _markdown_lines(text):
        if level == 1 and heading:
            return " ".join(heading.split())
    return ""


# --- Plain text ---------------------------------------------------------------------------------------

_UNDERLINE = re.compile(r"^[ \t]*(={3,}|-{3,})[ \t]*$")


def _is_caps_heading(line: str) -> bool:
    """A short standalone ALL-CAPS line such as ``PRICING`` or ``SECURITY & COMPLIANCE``."""
    text = line.strip()
    letters = [c for c in text if c.isalpha()]
    return (
        len(letters) >= 2
        and len(text) <= 60
        and len(text.split()) <= 8
        and text.upper() == text
        and not text.endswith((".", ",", ";", "!", "?"))
    )


def _plain_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """Yield ``(level, heading, line)`` per line, like ``_markdown_lines``; underlines are consumed.

    ``===`` underlines make level-1 headings, ``---`` underlines level 2. An ALL-CAPS line counts as a
    level-1 heading only when it stands alone (blank line before it), so shouted sentences in a
    paragraph stay text.
    """
    lines = text.splitlines()
    previous_blank = True
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        underline = _UNDERLINE.match(following)
        if line.strip() and underline and len(line.strip()) <= 80:
            yield (1 if underline.group(1)[0] == "=" else 2), line.strip(), line
            i += 2
            previous_blank = True
            continue
        if previous_blank and _is_caps_heading(line) and not following.strip():
            yield 1, line.strip(), line
        else:
            yield 0, "", line
        previous_blank = not line.strip()
        i += 1


def plain_sections(text: str) -> list[Section]:
    """Split plain text on underlined (``===``/``---``) or standalone ALL-CAPS headings.

    A file without such headings comes back as one section with ``headings=()``.
    """
    outline = Outline()
    for level, heading, line in _plain_lines(text):
        if level:
            outline.heading(level, heading)
        else:
            outline.add(line)
    return outline.sections()


def plain_title(text: str) -> str:
    """The first ``===``-underlined heading (the plain-text H1), or "" when there is none."""
    lines = text.splitlines()
    for line, following in pairwise(lines):
        underline = _UNDERLINE.match(following)
        if line.strip() and underline and underline.group(1)[0] == "=":
            return " ".join(line.split())
    return ""


# --- Packing ------------------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# Keep the separator so a split paragraph can be put back together with its own line breaks.
_SENTENCE_BREAK = re.compile(r"((?<=[.!?])[ \t]+|[ \t]*\n\s*)")


def _words(text: str) -> int:
    return len(text.split())


def _split_long(paragraph: str, max_words: int) -> list[tuple[str, str]]:
    """Break a paragraph into ``(joiner, piece)`` units of at most ``max_words`` words each.

    Sentences (and lines) are the preferred cut points; a single over-long sentence falls back to
    fixed word windows. ``joiner`` is how the piece attaches to the previous one ("\\n" or " ").
    """
    parts = _SENTENCE_BREAK.split(paragraph)
    units: list[tuple[str, str]] = []
    joiner = "\n\n"
    for i in range(0, len(parts), 2):
        sentence = parts[i].strip()
        if sentence:
            words = sentence.split()
            for start in range(0, len(words), max_words):
                units.append((joiner, " ".join(words[start : start + max_words])))
                joiner = " "
        if i + 1 < len(parts):
            joiner = "\n" if "\n" in parts[i + 1] else " "
    return units


def _body_chunks(text: str, max_words: int) -> list[str]:
    """Greedily pack one section's paragraphs into bodies of at most ``max_words`` words."""
    units: list[tuple[str, str]] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = paragraph.strip("\n").rstrip()
        if not paragraph.strip():
            continue
        if _words(paragraph) <= max_words:
            units.append(("\n\n", paragraph))
        else:
            units.extend(_split_long(paragraph, max_words))

    bodies: list[str] = []
    current = ""
    count = 0
    for joiner, unit in units:
        size = _words(unit)
        if current and count + size > max_words:
            bodies.append(current)
            current, count = "", 0
        current = f"{current}{joiner}{unit}" if current else unit
        count += size
    if current:
        bodies.append(current)
    return bodies


def pack_chunks(sections: list[Section], *, max_words: int = 160, header: str) -> list[str]:
    """Turn sections into chunk texts of at most ``max_words`` body words each.

    Each chunk reads ``header`` (e.g. the doc title), then the heading path joined with " › " when
    there is one, a blank line, and the body. Small paragraphs of the same section are merged; a chunk
    never spans two sections, so its heading line is always true for all of its body. Paragraphs
    longer than ``max_words`` are cut at sentence boundaries, or into word windows as a last resort.
    """
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    chunks: list[str] = []
    for section in sections:
        lines = [line for line in (header.strip(), HEADING_SEPARATOR.join(section.headings)) if line]
        top = "\n".join(lines)
        for body in _body_chunks(section.text, max_words):
            chunks.append(f"{top}\n\n{body}" if top else body)
    return chunks
