"""Read product docs (Markdown, plain text, HTML, PDF) from a folder into public knowledge records.

One file becomes one record whose chunks come from ``chunking.pack_chunks``. A file that cannot be read
becomes a ``Problem`` and is skipped; one bad file never stops the rest of the folder from loading.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag
from pypdf import PdfReader, apply_configuration, get_configuration
from pypdf.errors import LimitReachedError

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


@dataclass(frozen=True)
class DocLimits:
    """What one doc may cost; a file over a limit is reported and skipped, the rest go on.

    Settings: DOC_MAX_BYTES, DOC_MAX_CHARS, PDF_MAX_PAGES, PDF_MAX_PAGE_BYTES (bot/config.py).
    """

    max_bytes: int = 50_000_000  # file size, checked before reading
    max_chars: int = 2_000_000  # extracted text of one doc (about 2,000 chunks to embed)
    pdf_max_pages: int = 2_000
    pdf_max_page_bytes: int = 5_000_000  # a page's decompressed content (inflating pages are skipped)


def read_docs(
    root: Path, *, max_words: int = 160, limits: DocLimits | None = None
) -> tuple[list[Record], list[Problem]]:
    """Every doc under ``root`` and the problems found, in one go (see :func:`iter_docs`)."""
    problems: list[Problem] = []
    records = list(iter_docs(root, doc_files(root, problems.append), problems.append,
                             max_words=max_words, limits=limits))  # fmt: skip
    return records, problems


def doc_files(root: Path, report: Callable[[Problem], None]) -> list[Path]:
    """The doc files under ``root`` (recursively, sorted, hidden files and folders skipped).

    Nothing outside ``root`` is ever read: a link that resolves outside it is reported and skipped,
    and links to folders are not followed (they can loop, or lead anywhere).
    """
    if not root.is_dir():
        report(Problem(str(root), None, "folder not found"))
        return []
    return list(_walk(root, root.resolve(), report))


def iter_docs(
    root: Path,
    files: Iterable[Path],
    report: Callable[[Problem], None],
    *,
    max_words: int = 160,
    limits: DocLimits | None = None,
) -> Iterator[Record]:
    """One public "doc" record per readable file, as it is read; problems go to ``report`` as found.

    Records are keyed by the path relative to ``root`` with "/" separators. Problems name the path
    as ``root / relative`` (relative to the cwd if ``root`` is).
    """
    limits = limits or DocLimits()
    for path in files:
        source_id = path.relative_to(root).as_posix()
        fmt = FORMATS[path.suffix.lower()]
        try:
            doc = _read(path, fmt, limits, report)
            sections = _without_title(doc.sections, doc.title)
            texts = pack_chunks(sections, max_words=max_words, header=doc.title)
            if not texts:
                raise _Unreadable("no text found")
        except _Unreadable as err:
            report(Problem(str(path), err.line, err.message))
            continue
        chunks = tuple(Chunk(chunk_id("doc", source_id, i), text, i) for i, text in enumerate(texts))
        yield Record(
            source_type="doc",
            source_id=source_id,
            title=doc.title,
            access=PUBLIC,
            chunks=chunks,
            updated_at="",  # the content hash already changes whenever the file's text does
            fields={"path": source_id, "format": fmt},
        )


def _walk(folder: Path, root: Path, report: Callable[[Problem], None]) -> Iterator[Path]:
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as err:
        report(Problem(str(folder), None, f"cannot list folder: {err.strerror or err}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            try:
                target = entry.resolve(strict=True)
            except (OSError, RuntimeError):
                if entry.suffix.lower() in FORMATS:
                    report(Problem(str(entry), None, "is a broken or looping link; skipped"))
                continue
            if not target.is_relative_to(root):
                if target.is_dir() or entry.suffix.lower() in FORMATS:
                    report(Problem(str(entry), None, "links outside the docs folder; skipped"))
                continue
            if target.is_file() and entry.suffix.lower() in FORMATS:
                yield entry
        elif entry.is_dir():
            yield from _walk(entry, root, report)
        elif entry.is_file() and entry.suffix.lower() in FORMATS:
            yield entry


def _read(path: Path, fmt: str, limits: DocLimits, report: Callable[[Problem], None]) -> _Doc:
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise _Unreadable(f"is {_mb(size)}, over DOC_MAX_BYTES ({_mb(limits.max_bytes)}); skipped")
        if fmt in ("md", "txt") and size > 4 * limits.max_chars:  # UTF-8: at most 4 bytes a character
            raise _Unreadable(f"is {_mb(size)} of text, over DOC_MAX_CHARS ({limits.max_chars:,}); skipped")
        with path.open("rb") as f:
            data = f.read(limits.max_bytes + 1)  # never more than the limit, even if the file grew
    except OSError as err:
        raise _Unreadable(f"cannot read file: {err.strerror or err}") from err
    if len(data) > limits.max_bytes:
        raise _Unreadable(f"grew over DOC_MAX_BYTES ({_mb(limits.max_bytes)}) while read; skipped")
    if not data.strip():
        raise _Unreadable("no text found")
    if fmt == "pdf":
        doc = _read_pdf(data, path, limits, report)
    else:
        text = _decode(data)
        del data
        if fmt != "html":  # markup is not text: HTML is checked on what it yields
            _check_chars(len(text), limits)
        if fmt == "md":
            doc = _Doc(markdown_title(text) or _humanize(path.stem), markdown_sections(text))
        elif fmt == "txt":
            doc = _Doc(plain_title(text) or _humanize(path.stem), plain_sections(text))
        else:
            doc = _read_html(text, path)
    _check_chars(sum(len(s.text) for s in doc.sections), limits)
    return doc


def _check_chars(chars: int, limits: DocLimits) -> None:
    if chars > limits.max_chars:
        raise _Unreadable(
            f"holds {chars:,} characters of text, over DOC_MAX_CHARS ({limits.max_chars:,}); skipped"
        )


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


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


def _read_pdf(data: bytes, path: Path, limits: DocLimits, report: Callable[[Problem], None]) -> _Doc:
    """One section per page, headed "page N"; PDF text has no reliable paragraph structure.

    Every stream pypdf inflates is capped at PDF_MAX_PAGE_BYTES: a page over it is reported and
    skipped (the other pages load), so a small file that inflates to gigabytes costs nothing.
    """
    cap = limits.pdf_max_page_bytes
    capped = get_configuration().with_overwrites(
        zlib_maximum_output_length=cap, lzw_maximum_output_length=cap, run_length_maximum_output_length=cap,
        brotli_maximum_output_length=cap, array_based_stream_maximum_output_length=cap,
        stream_decoding_work_maximum_length=cap,
    )  # fmt: skip
    sections: list[Section] = []
    chars = 0
    # pypdf raises many exception types on damaged files; any of them means "skip this file".
    with apply_configuration(capped):
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise _Unreadable("PDF is password-protected")
            meta = reader.metadata
            title = _squash(str(meta.title or "")) if meta is not None else ""
            pages = len(reader.pages)
        except _Unreadable:
            raise
        except LimitReachedError as err:
            raise _Unreadable(f"cannot read PDF: a stream is over PDF_MAX_PAGE_BYTES ({_mb(cap)})") from err
        except Exception as err:
            raise _Unreadable(f"cannot read PDF: {_one_line(err)}") from err
        if pages > limits.pdf_max_pages:
            raise _Unreadable(f"has {pages:,} pages, over PDF_MAX_PAGES ({limits.pdf_max_pages:,}); skipped")
        for n in range(1, pages + 1):
            try:
                text = (reader.pages[n - 1].extract_text() or "").strip()
            except LimitReachedError:
                report(
                    Problem(
                        str(path), None, f"page {n} is over PDF_MAX_PAGE_BYTES ({_mb(cap)}); page skipped"
                    )
                )
                continue
            except Exception as err:
                raise _Unreadable(f"cannot read PDF page {n}: {_one_line(err)}") from err
            chars += len(text)
            _check_chars(chars, limits)  # stop early: the rest of the pages would be thrown away
            if text:
                sections.append(Section((f"page {n}",), text))
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
