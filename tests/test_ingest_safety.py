"""Ingest safety: docs never leave their folder, limits skip what is too big (the rest loads),
``--prune`` never mass-deletes on empty input, and problems are said while the ingest runs."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from bot.config import Settings, load_settings
from bot.errors import InputError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.docs import DocLimits, read_docs
from bot.knowledge.embedder import LocalEmbedder
from tests.conftest import HashEmbedder
from tests.crm_fixtures import small_export
from tests.helpers_chroma import child_env, run_closer

# --- 3. docs ingest never leaves its folder -----------------------------------------------------------


def test_links_out_of_the_docs_folder_are_skipped_and_named(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "tree").mkdir(parents=True)
    (outside / "secret.txt").write_text("root:x:0:0 SECRET-PASSWD-LINE\n")
    (outside / "tree" / "a.md").write_text("# Leaked\n\nSECRET-TREE-DOC\n")
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-SECRET-ENV\n")
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "good.md").write_text("# Good\n\nVolume discounts start at 50 seats.\n")
    (docs / "passwd.txt").symlink_to(outside / "secret.txt")
    (docs / "env.txt").symlink_to("../.env")
    (docs / "guides" / "deep.md").symlink_to("../../outside/secret.txt")
    (docs / "tree").symlink_to(outside / "tree", target_is_directory=True)
    (docs / "same.md").symlink_to("good.md")  # inside the folder: fine
    records, problems = read_docs(docs)
    assert sorted(r.source_id for r in records) == ["good.md", "same.md"]
    assert sorted(str(p) for p in problems) == [
        f"{docs / name}: links outside the docs folder; skipped"
        for name in ("env.txt", "guides/deep.md", "passwd.txt", "tree")
    ]
    assert not any("SECRET" in c.text for r in records for c in r.chunks)


def test_a_docs_folder_given_through_a_link_still_reads(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.md").write_text("# A\n\nText.\n")
    (real / "b.md").symlink_to(real / "a.md")  # absolute, but inside the resolved folder
    (tmp_path / "docs").symlink_to(real, target_is_directory=True)
    records, problems = read_docs(tmp_path / "docs")
    assert sorted(r.source_id for r in records) == ["a.md", "b.md"] and not problems


# --- 8. bounded resources -----------------------------------------------------------------------------


def _pdf(*contents: bytes) -> bytes:
    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    }))  # fmt: skip
    for content in contents:
        page = writer.add_blank_page(612, 792)
        stream = DecodedStreamObject()
        stream.set_data(content)
        page[NameObject("/Contents")] = writer._add_object(stream.flate_encode())
        fonts = DictionaryObject({NameObject("/F1"): font})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _text(words: str) -> bytes:
    return f"BT /F1 12 Tf 72 700 Td ({words}) Tj ET\n".encode()


def test_a_pdf_page_that_inflates_is_skipped_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "bomb.pdf").write_bytes(_pdf(_text("Inflated page") * 30_000, _text("Rebates on page two")))
    (tmp_path / "ok.md").write_text("# Ok\n\nFine.\n")
    data = (tmp_path / "bomb.pdf").read_bytes()
    assert len(data) < 10_000  # small on disk, 1.4 MB once page 1 is inflated
    records, problems = read_docs(tmp_path, limits=DocLimits(pdf_max_page_bytes=100_000))
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'bomb.pdf'}: page 1 is over PDF_MAX_PAGE_BYTES (0.1 MB); page skipped"
    ]
    bomb = next(r for r in records if r.source_id == "bomb.pdf")
    assert "Rebates on page two" in bomb.chunks[0].text and "Inflated" not in bomb.chunks[0].text
    assert {r.source_id for r in records} == {"bomb.pdf", "ok.md"}


def test_docs_over_the_limits_are_skipped_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("word " * 2_000)  # 10 kB
    (tmp_path / "long.md").write_text("# Long\n\n" + "x" * 1_500)
    (tmp_path / "pages.pdf").write_bytes(_pdf(_text("one"), _text("two"), _text("three")))
    (tmp_path / "ok.md").write_text("# Ok\n\nFine.\n")
    limits = DocLimits(max_bytes=5_000, max_chars=1_000, pdf_max_pages=2)
    records, problems = read_docs(tmp_path, limits=limits)
    assert [r.source_id for r in records] == ["ok.md"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'big.txt'}: is 0.0 MB, over DOC_MAX_BYTES (0.0 MB); skipped",
        f"{tmp_path / 'long.md'}: holds 1,508 characters of text, over DOC_MAX_CHARS (1,000); skipped",
        f"{tmp_path / 'pages.pdf'}: has 3 pages, over PDF_MAX_PAGES (2); skipped",
    ]


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path, settings: Settings) -> None:
    """A 200 MB (sparse) file costs a stat, not 200 MB of memory: the default DOC_MAX_BYTES skips it."""
    (tmp_path / "docs").mkdir()
    with (tmp_path / "docs" / "huge.txt").open("wb") as f:
        f.truncate(200_000_000)
    (tmp_path / "docs" / "good.md").write_text("# Good\n\nVolume discounts start at 50 seats.\n")
    kb = KnowledgeBase.open(settings, HashEmbedder())
    report = kb.ingest_docs(tmp_path / "docs")
    assert report.added == 1
    assert [str(p) for p in report.problems] == [
        f"{tmp_path / 'docs' / 'huge.txt'}: is 200.0 MB, over DOC_MAX_BYTES (50.0 MB); skipped"
    ]


def test_limits_are_settings(tmp_path: Path) -> None:
    s = load_settings(doc_max_bytes=10, doc_max_chars=20, pdf_max_pages=3, pdf_max_page_bytes=4000)
    assert (s.doc_max_bytes, s.doc_max_chars, s.pdf_max_pages, s.pdf_max_page_bytes) == (10, 20, 3, 4000)
    (tmp_path / "a.md").write_text("# A\n\n" + "x" * 100)
    kb = KnowledgeBase.open(load_settings(chroma_path=tmp_path / "chroma", doc_max_chars=50), HashEmbedder())
    assert "over DOC_MAX_CHARS (50)" in str(kb.ingest_docs(tmp_path).problems[0])


# --- 11.7 problems as they happen, small docs before a large one --------------------------------------


class RecordingEmbedder(HashEmbedder):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.events.append(f"embed {len(texts)}: {texts[0][:30]!r}")
        return super().embed(texts)


def test_problems_are_said_as_found_and_a_large_doc_goes_last(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-large.txt").write_text(
        "\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 70 for i in range(700))
    )
    (docs / "b-broken.pdf").write_bytes(b"%PDF-1.7 not really a pdf")
    (docs / "c-good.md").write_text("# Good\n\nVolume discounts start at 50 seats.\n")
    events: list[str] = []
    kb = KnowledgeBase.open(settings, RecordingEmbedder(events))
    report = kb.ingest_docs(docs, echo=lambda line: events.append(f"say {line}"))
    assert report.added == 2 and len(report.problems) == 1 and len(report.notices) == 1
    said_large = next(i for i, e in enumerate(events) if e.startswith("say note: doc:a-large.txt"))
    said_broken = next(i for i, e in enumerate(events) if e.startswith(f"say {docs / 'b-broken.pdf'}"))
    embedded_good = next(i for i, e in enumerate(events) if "Good" in e and e.startswith("embed"))
    embedded_large = next(i for i, e in enumerate(events) if "Paragraph" in e and e.startswith("embed"))
    assert said_large < said_broken < embedded_good < embedded_large, events


def test_progress_shows_an_estimate_on_a_stream(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(6):
        (tmp_path / f"d{i}.md").write_text(f"# Doc {i}\n\n" + "text " * 400)
    KnowledgeBase.open(settings, HashEmbedder()).ingest_docs(tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "embedding: 100%" in err and "chunk" in err
    # The time left is said in words, with the rate it comes from.
    assert re.search(r"ETA \d\d:\d\d, [\d.]+chunk/s", err), err


# --- 7. no silent mass deletion ------------------------------------------------------------------------


@pytest.fixture
def kb(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase.open(settings, HashEmbedder())


def _header_only(path: Path) -> None:
    path.write_text(path.read_text().splitlines()[0] + "\n")


def test_prune_with_a_header_only_file_is_refused(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = small_export(tmp_path / "crm")
    kb.ingest_crm(folder)
    _header_only(folder / "notes.csv")
    with pytest.raises(InputError, match=r"--prune refused: no note records were read, so all 4 stored"):
        kb.ingest_crm(folder, prune=True)
    assert len(kb.store.sources(["note"])) == 4
    report = kb.ingest_crm(folder, prune=True, allow_empty=True)
    assert report.removed == 4 and not kb.store.sources(["note"])


def test_prune_with_an_empty_docs_folder_is_refused(kb: KnowledgeBase, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nText.\n")
    kb.ingest_docs(docs)
    (docs / "a.md").unlink()
    with pytest.raises(InputError, match="--prune refused: no doc records were read"):
        kb.ingest_docs(docs, prune=True)
    assert kb.store.sources(["doc"])
    assert kb.ingest_docs(docs, prune=True, allow_empty=True).removed == 1


def test_prune_of_an_empty_kind_on_the_command_line_is_one_line(
    tmp_path: Path, settings: Settings, embedder: LocalEmbedder
) -> None:
    kb = KnowledgeBase.open(settings, embedder)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nText.\n")
    kb.ingest_docs(docs)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = child_env(CHROMA_PATH=str(settings.chroma_path))
    done = run_closer("ingest", "docs", str(empty), "--prune", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "--allow-empty" in done.stderr
    assert kb.store.sources(["doc"])
