"""Read product docs (Markdown, plain text, HTML, PDF) from a folder into public knowledge records.

One file becomes one record whose chunks come from ``chunking.pack_chunks``. A file that cannot be read
becomes a ``Problem`` and is skipped; one bad file never stops the rest of the folder from loading.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag
from pypdf import PdfReader

from bot.knowledge.chunking import (
    Outline,
    Section,
    markdown_sections,
    markdown_title,
    pack_chunks,
    plain_sections,
    plain_title,
)
from bot.knowledge.problems import Problem
from bot.knowledge.records import PUBLIC, Chunk, Record, chunk_id

FORMATS: dict[str, str] = {
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}

_UTF8_BOM = b"\xef\xbb\xbf"
_DROPPED_TAGS = ("script", "style", "nav", "footer", "noscript", "template")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# Table rows rather than single cells: a pricing row reads "Plan | Seats | Price" as one line.
_BLOCK_TAGS = ("p", "li", "tr", "pre", "blockquote", "dd", "dt")


class _Unreadable(Exception):
    """Why one file was skipped; becomes a Problem."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class _Doc:
    title: str
    sections: list[Section]


def read_docs(root: Path, *, max_words: int = 160) -> tuple[list[Record], list[Problem]]:
    """Read every doc under ``root`` (recursively, sorted, hidden files and folders skipped).

    Records are public, of source type "doc", keyed by the path relative to ``root`` with "/"
    separators. Problems name the path as ``root / relative`` (relative to the cwd if ``root`` is).
    """
    records: list[Record] = []
    problems: list[Problem] = []
    if not root.is_dir():
        return [], [Problem(str(root), None, "folder not found")]
    for path in _doc_files(root, problems):
        source_id = path.relative_to(root).as_posix()
        fmt = FORMATS[path.suffix.lower()]
        try:
            doc = _read(path, fmt)
            sections = _without_title(doc.sections, doc.title)
            texts = pack_chunks(sections, max_words=max_words, header=doc.title)
            if not texts:
                raise _Unreadable("no text found")
        except _Unreadable as err:
            problems.append(Problem(str(path), err.line, err.message))
            continue
        chunks = tuple(Chunk(chunk_id("doc", source_id, i), text, i) for i, text in enumerate(texts))
        records.append(
            Record(
                source_type="doc",
                source_id=source_id,
                title=doc.title,
                access=PUBLIC,
                chunks=chunks,
                updated_at="",  # the content hash already changes whenever the file's text does
                fields={"path": source_id, "format": fmt},
            )
        )
    return records, problems


def _doc_files(folder: Path, problems: list[Problem]) -> Iterator[Path]:
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as err:
        problems.append(Problem(str(folder), None, f"cannot list folder: {err.strerror or err}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        # Symlinked folders are not followed: they can loop back on themselves.
        if entry.is_dir() and not entry.is_symlink():
            yield from _doc_files(entry, problems)
        elif entry.is_file() and entry.suffix.lower() in FORMATS:
            yield entry


def _read(path: Path, fmt: str) -> _Doc:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _Unreadable(f"cannot read file: {err.strerror or err}") from err
    if not data.strip():
        raise _Unreadable("no text found")
    if fmt == "pdf":
        return _read_pdf(data, path)
    text = _decode(data)
    if fmt == "md":
        return _Doc(markdown_title(text) or _humanize(path.stem), markdown_sections(text))
    if fmt == "txt":
        return _Doc(plain_title(text) or _humanize(path.stem), plain_sections(text))
    return _read_html(text, path)


def _decode(data: bytes) -> str:
    """UTF-8 with an optional BOM; a decode error names the line of the first bad byte."""
    data = data.removeprefix(_UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise _Unreadable(f"not valid UTF-8 (byte 0x{data[err.start]:02x})", line) from err


def _read_html(text: str, path: Path) -> _Doc:
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")

    title = _squash(soup.title.get_text()) if soup.title else ""
    if soup.head is not None:
        soup.head.decompose()
    outline = Outline()
    for el in soup.find_all([*_HEADING_TAGS, *_BLOCK_TAGS]):
        if el.name in _HEADING_TAGS:
            heading = _squash(el.get_text())
            title = title or (heading if el.name == "h1" else "")
            outline.heading(int(el.name[1]), heading)
        elif el.find_parent(_BLOCK_TAGS) is None:  # the outermost block already holds nested ones
            outline.add(_block_text(el))
            outline.add("")
    sections = outline.sections()
    if not sections:
        # Pages that put text straight into <div>s still deserve to be searchable.
        lines = (_squash(line) for line in (soup.body or soup).get_text().split("\n"))
        sections = plain_sections("\n".join(line for line in lines if line))
    return _Doc(title or _humanize(path.stem), sections)


def _block_text(el: Tag) -> str:
    if el.name == "pre":
        return el.get_text().strip("\n").rstrip()
    if el.name == "tr":
        cells = [_squash(cell.get_text()) for cell in el.find_all(["td", "th"])]
        return " | ".join(cell for cell in cells if cell)
    lines = (_squash(line) for line in el.get_text().split("\n"))
    return "\n".join(line for line in lines if line)


def _read_pdf(data: bytes, path: Path) -> _Doc:
    """One section per page, headed "page N"; PDF text has no reliable paragraph structure."""
    # pypdf raises many exception types on damaged files; any of them means "skip this file".
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _Unreadable("PDF is password-protected")
        meta = reader.metadata
        title = _squash(str(meta.title or "")) if meta is not None else ""
        pages = [page.extract_text() or "" for page in reader.pages]
    except _Unreadable:
        raise
    except Exception as err:
        raise _Unreadable(f"cannot read PDF: {_one_line(err)}") from err
    sections = [Section((f"page {n}",), text.strip()) for n, text in enumerate(pages, 1) if text.strip()]
    return _Doc(title or _humanize(path.stem), sections)


def _without_title(sections: list[Section], title: str) -> list[Section]:
    """Drop a leading heading equal to the title: the chunk header line already says it."""
    out: list[Section] = []
    for section in sections:
        headings = section.headings
        if headings and headings[0] == title:
            headings = headings[1:]
        out.append(Section(headings, section.text))
    return out


def _humanize(stem: str) -> str:
    """``volume-discounts_2024`` -> ``Volume discounts 2024``; inner capitals (SSO, API) are kept."""
    words = re.sub(r"[-_.]+", " ", stem).split()
    text = " ".join(words) or stem
    return text[:1].upper() + text[1:]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _one_line(err: Exception) -> str:
    return _squash(str(err)) or type(err).__name__
