from __future__ import annotations

import pytest

from bot.knowledge.chunking import (
    Section,
    markdown_sections,
    markdown_title,
    pack_chunks,
    plain_sections,
    plain_title,
)


def body(chunk: str) -> str:
    """Chunk text minus its header lines (everything before the first blank line)."""
    return chunk.split("\n\n", 1)[1]


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


# --- markdown_sections ------------------------------------------------------------------------------


def test_markdown_heading_paths_track_nesting() -> None:
    text = (
        "Intro before any heading.\n\n"
        "# Pricing\nOverview.\n"
        "## Volume discounts\nTen percent off.\n"
        "### Over 100 seats\nTalk to sales.\n"
        "## Annual billing\nTwo months free.\n"
        "# Security\nSOC 2.\n"
    )
    assert markdown_sections(text) == [
        Section((), "Intro before any heading."),
        Section(("Pricing",), "Overview."),
        Section(("Pricing", "Volume discounts"), "Ten percent off."),
        Section(("Pricing", "Volume discounts", "Over 100 seats"), "Talk to sales."),
        Section(("Pricing", "Annual billing"), "Two months free."),
        Section(("Security",), "SOC 2."),
    ]


def test_markdown_code_fences_are_not_headings() -> None:
    text = (
        "# Install\n"
        "Run this:\n\n"
        "```bash\n# not a heading\npip install closer\n```\n\n"
        "~~~~\n## also not a heading\n~~~\nstill code\n~~~~\n"
        "## Configure\nSet the token.\n"
    )
    sections = markdown_sections(text)
    assert [s.headings for s in sections] == [("Install",), ("Install", "Configure")]
    assert "# not a heading" in sections[0].text
    assert "## also not a heading" in sections[0].text
    assert "still code" in sections[0].text


def test_markdown_closing_hashes_and_non_headings() -> None:
    text = "## Limits ##\n#hashtag is text\n####### seven is text\n"
    sections = markdown_sections(text)
    assert sections == [Section(("Limits",), "#hashtag is text\n####### seven is text")]


def test_markdown_headings_without_body_are_dropped() -> None:
    assert markdown_sections("# A\n## B\n\n## C\nbody\n") == [Section(("A", "C"), "body")]


def test_markdown_title_is_first_h1_outside_code() -> None:
    assert markdown_title("```\n# fake\n```\n## Sub\n# Real  Title\n# Second\n") == "Real Title"
    assert markdown_title("## only h2\n") == ""


# --- plain_sections ---------------------------------------------------------------------------------


def test_plain_text_without_headings_is_one_section() -> None:
    text = "Just some notes.\nAcross lines.\n\nAnd a second paragraph with an ACRONYM."
    assert plain_sections(text) == [Section((), text)]


def test_plain_text_underlined_and_caps_headings() -> None:
    text = (
        "Product Guide\n=============\n\nWelcome.\n\n"
        "Pricing\n-------\nPer seat.\n\n"
        "SECURITY\n\nEncrypted at rest.\n"
    )
    assert plain_sections(text) == [
        Section(("Product Guide",), "Welcome."),
        Section(("Product Guide", "Pricing"), "Per seat."),
        Section(("SECURITY",), "Encrypted at rest."),
    ]
    assert plain_title(text) == "Product Guide"


def test_plain_caps_line_inside_paragraph_stays_text() -> None:
    text = "Read this first.\nDO NOT SHARE\nwith customers."
    assert plain_sections(text) == [Section((), text)]


# --- pack_chunks ------------------------------------------------------------------------------------


def test_chunk_text_starts_with_header_and_heading_path() -> None:
    sections = [Section(("Pricing", "Volume discounts"), "Ten percent off."), Section((), "Intro.")]
    assert pack_chunks(sections, header="Sales Handbook") == [
        "Sales Handbook\nPricing › Volume discounts\n\nTen percent off.",
        "Sales Handbook\n\nIntro.",
    ]


def test_small_paragraphs_of_one_section_are_merged() -> None:
    section = Section(("FAQ",), "First answer.\n\nSecond answer.\n\n\nThird answer.")
    assert pack_chunks([section], max_words=10, header="Doc") == [
        "Doc\nFAQ\n\nFirst answer.\n\nSecond answer.\n\nThird answer."
    ]


def test_never_merges_across_sections() -> None:
    sections = [Section(("A",), "alpha one."), Section(("A",), "alpha two."), Section(("B",), "beta.")]
    chunks = pack_chunks(sections, max_words=100, header="Doc")
    assert chunks == ["Doc\nA\n\nalpha one.", "Doc\nA\n\nalpha two.", "Doc\nB\n\nbeta."]


def test_no_chunk_exceeds_max_words_and_nothing_is_lost() -> None:
    paragraphs = [words(7, "a"), words(30, "b"), words(3, "c"), words(12, "d"), words(9, "e")]
    text = "\n\n".join(paragraphs)
    chunks = pack_chunks([Section(("S",), text)], max_words=12, header="Doc")
    assert all(len(body(c).split()) <= 12 for c in chunks)
    assert [w for c in chunks for w in body(c).split()] == text.split()


def test_long_paragraph_splits_at_sentence_boundaries() -> None:
    sentences = [f"Sentence {i} has exactly six words." for i in range(10)]
    chunks = pack_chunks([Section((), " ".join(sentences))], max_words=14, header="Doc")
    bodies = [body(c) for c in chunks]
    assert all(len(b.split()) <= 14 for b in bodies)
    assert all(b.endswith(".") for b in bodies)
    assert " ".join(bodies) == " ".join(sentences)
    assert len(bodies) == 5  # two six-word sentences per chunk


def test_long_sentence_without_punctuation_falls_back_to_word_windows() -> None:
    chunks = pack_chunks([Section((), words(25))], max_words=10, header="Doc")
    assert [len(body(c).split()) for c in chunks] == [10, 10, 5]


def test_empty_bodies_dropped_and_empty_header_omitted() -> None:
    sections = [Section(("Empty",), "  \n\n  "), Section(("Full",), "text")]
    assert pack_chunks(sections, header="") == ["Full\n\ntext"]
    assert pack_chunks([Section((), "text")], header="") == ["text"]


def test_pack_chunks_is_deterministic() -> None:
    sections = markdown_sections("# A\n" + "Word. " * 500 + "\n\n## B\nmore\n")
    assert pack_chunks(sections, max_words=50, header="T") == pack_chunks(sections, max_words=50, header="T")


def test_max_words_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_words"):
        pack_chunks([Section((), "x")], max_words=0, header="T")
