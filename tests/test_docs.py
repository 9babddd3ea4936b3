from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge.docs import read_docs
from bot.knowledge.records import PUBLIC, Record


def minimal_pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A valid PDF with one Helvetica text line per string, built by hand (no reportlab here)."""
    n = len(pages)
    font_id, info_id = 3 + 2 * n, 4 + 2 * n
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n)), n),
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info_id: b"<< /Title (%s) >>" % title.encode(),
    }
    for i, lines in enumerate(pages):
        ops = b"BT /F1 12 Tf 14 TL 72 720 Td " + b" ".join(b"(%s) Tj T*" % line.encode() for line in lines)
        stream = ops + b" ET"
        objects[3 + 2 * i] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font_id, 4 + 2 * i)
        )
        objects[4 + 2 * i] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)

    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num in range(1, info_id + 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (num, objects[num])
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (info_id + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
    out += trailer % (info_id + 1, info_id, xref)
    return bytes(out)


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def by_id(records: list[Record]) -> dict[str, Record]:
    return {r.source_id: r for r in records}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    write(root / "guides" / "pricing.md", "# Pricing Guide\n\nIntro.\n\n## Volume discounts\n\n10% off.\n")
    write(root / "notes.TXT", "Release notes\n=============\n\nShipped SSO.\n")
    write(
        root / "security.html",
        "<html><head><title>Security Overview</title><style>p{color:red}</style></head><body>"
        "<nav><p>Home | Docs</p></nav>"
        "<h1>Security</h1><p>We encrypt data.</p><script>var secret = 'tracking';</script>"
        "<h2>Compliance</h2><ul><li>SOC 2 <b>Type II</b></li><li>GDPR</li></ul>"
        "<table><tr><th>Plan</th><th>SSO</th></tr><tr><td>Pro</td><td>Yes</td></tr></table>"
        "<footer><p>Copyright ACME</p></footer></body></html>",
    )
    write(
        root / "datasheet.pdf",
        minimal_pdf([["Closer datasheet.", "Fast setup."], ["Page two text."]], "Datasheet"),
    )
    write(root / ".hidden.md", "# Hidden\n\nsecret\n")
    write(root / ".git" / "readme.md", "# Git\n\ninternal\n")
    write(root / "image.png", b"\x89PNG")
    return root


def test_reads_all_formats_with_relative_slash_ids(docs: Path) -> None:
    records, problems = read_docs(docs)
    assert problems == []
    assert [r.source_id for r in records] == [
        "datasheet.pdf",
        "guides/pricing.md",
        "notes.TXT",
        "security.html",
    ]
    for record in records:
        assert record.source_type == "doc"
        assert record.access == PUBLIC
        assert record.updated_at == ""
        assert record.fields["path"] == record.source_id
        assert [c.chunk_id for c in record.chunks] == [
            f"doc:{record.source_id}#{i}" for i in range(len(record.chunks))
        ]
        assert [c.position for c in record.chunks] == list(range(len(record.chunks)))
    found = by_id(records)
    assert {k: r.fields["format"] for k, r in found.items()} == {
        "datasheet.pdf": "pdf",
        "guides/pricing.md": "md",
        "notes.TXT": "txt",
        "security.html": "html",
    }


def test_markdown_title_and_heading_path_in_chunks(docs: Path) -> None:
    record = by_id(read_docs(docs)[0])["guides/pricing.md"]
    assert record.title == "Pricing Guide"
    # The H1 is the title line already, so it is not repeated in the heading path.
    assert [c.text for c in record.chunks] == [
        "Pricing Guide\n\nIntro.",
        "Pricing Guide\nVolume discounts\n\n10% off.",
    ]


def test_txt_title_from_underlined_heading(docs: Path) -> None:
    record = by_id(read_docs(docs)[0])["notes.TXT"]
    assert record.title == "Release notes"
    assert record.chunks[0].text == "Release notes\n\nShipped SSO."


def test_html_drops_script_style_nav_footer(docs: Path) -> None:
    record = by_id(read_docs(docs)[0])["security.html"]
    assert record.title == "Security Overview"
    text = "\n".join(c.text for c in record.chunks)
    for dropped in ("tracking", "color:red", "Home | Docs", "Copyright"):
        assert dropped not in text
    assert [c.text for c in record.chunks] == [
        "Security Overview\nSecurity\n\nWe encrypt data.",
        "Security Overview\nSecurity › Compliance\n\nSOC 2 Type II\n\nGDPR\n\nPlan | SSO\n\nPro | Yes",
    ]


def test_pdf_metadata_title_and_pages(docs: Path) -> None:
    record = by_id(read_docs(docs)[0])["datasheet.pdf"]
    assert record.title == "Datasheet"
    assert len(record.chunks) == 2
    assert record.chunks[0].text.startswith("Datasheet\npage 1\n\n")
    assert "Closer datasheet." in record.chunks[0].text and "Fast setup." in record.chunks[0].text
    assert record.chunks[1].text == "Datasheet\npage 2\n\nPage two text."


def test_bad_utf8_is_a_problem_with_line_and_others_still_load(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A\n\nfine\n")
    write(tmp_path / "bad.txt", b"line one\nline two\nline \xff three\n")
    write(tmp_path / "z.md", "# Z\n\nalso fine\n")
    records, problems = read_docs(tmp_path)
    assert [r.source_id for r in records] == ["a.md", "z.md"]
    assert len(problems) == 1
    assert problems[0].path == str(tmp_path / "bad.txt")
    assert problems[0].line == 3
    assert "UTF-8" in problems[0].message
    assert str(problems[0]).startswith(f"{tmp_path / 'bad.txt'}:3: ")


def test_corrupt_and_empty_files_are_problems(tmp_path: Path) -> None:
    write(tmp_path / "broken.pdf", b"%PDF-1.4\nthis is not really a pdf")
    write(tmp_path / "truncated.pdf", minimal_pdf([["Some text."]])[:120])
    write(tmp_path / "empty.md", "")
    write(tmp_path / "blank.txt", "\n   \n")
    write(tmp_path / "only-code.html", "<script>x()</script>")
    write(tmp_path / "ok.md", "fine\n")
    records, problems = read_docs(tmp_path)
    assert [r.source_id for r in records] == ["ok.md"]
    messages = {Path(p.path).name: p.message for p in problems}
    assert messages.keys() == {"blank.txt", "broken.pdf", "empty.md", "only-code.html", "truncated.pdf"}
    assert messages["broken.pdf"].startswith("cannot read PDF")
    assert messages["truncated.pdf"].startswith(("cannot read PDF", "no text found"))
    assert messages["empty.md"] == messages["blank.txt"] == messages["only-code.html"] == "no text found"
    assert all("\n" not in p.message and p.line is None for p in problems)


def test_problem_path_is_relative_when_root_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "docs" / "sub" / "bad.md", b"\xc3\x28")
    monkeypatch.chdir(tmp_path)
    _, problems = read_docs(Path("docs"))
    assert [(p.path, p.line) for p in problems] == [(str(Path("docs/sub/bad.md")), 1)]


def test_bom_accepted_and_stem_humanized(tmp_path: Path) -> None:
    write(tmp_path / "volume-discounts_2024.md", "\ufeffNo heading here, SSO included.\n".encode())
    (record,) = read_docs(tmp_path)[0]
    assert record.title == "Volume discounts 2024"
    assert record.chunks[0].text == "Volume discounts 2024\n\nNo heading here, SSO included."


def test_max_words_respected(tmp_path: Path) -> None:
    write(tmp_path / "long.md", "# Long\n\n## Part\n\n" + "One two three four five. " * 40)
    (record,) = read_docs(tmp_path, max_words=12)[0]
    assert len(record.chunks) > 1
    for chunk in record.chunks:
        head, body = chunk.text.split("\n\n", 1)
        assert head == "Long\nPart"
        assert len(body.split()) <= 12


def test_missing_root_is_a_problem(tmp_path: Path) -> None:
    records, problems = read_docs(tmp_path / "nope")
    assert records == []
    assert [(p.path, p.message) for p in problems] == [(str(tmp_path / "nope"), "folder not found")]
