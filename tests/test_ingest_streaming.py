"""A CRM export is read as it is ingested (issue 13): rows stream from the file, stored state is read
per batch, and the results are those of reading the whole export first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.knowledge.base import SAMPLE_DIR, KnowledgeBase
from bot.knowledge.crm import read_crm, stream_crm
from bot.knowledge.ingest import EMBED_WINDOW, STATE_BATCH
from bot.knowledge.problems import Findings
from tests.conftest import HashEmbedder
from tests.crm_fixtures import CAROL, small_export, write_csv

N_NOTES = 3 * max(STATE_BATCH, EMBED_WINDOW) + 17  # several look-up batches and embed windows


def _many_notes(folder: Path, *, broken_at: int | None = None) -> Path:
    small_export(folder)
    notes = []
    for i in range(N_NOTES):
        # Every 7th body spans lines (quoted newlines), so a row's line differs from its index.
        body = f"Check-in {i}: pallets moved.\nSecond line of {i}." if i % 7 == 0 else f"Check-in {i} done."
        created = "not a date" if i == broken_at else f"2026-10-{1 + i % 28:02d}T09:00:00Z"
        notes.append({"note_id": f"NX{i:05d}", "account_id": "A2", "deal_id": "D3", "author_email": CAROL,
                      "created_at": created, "kind": "call", "subject": f"Visit {i}", "body": body})  # fmt: skip
    write_csv(folder, "notes", notes)
    return folder


def _stored(kb: KnowledgeBase) -> dict[str, tuple[str, str]]:
    """chunk id -> (text, content hash) of every stored chunk."""
    got = kb.store._col.get(include=["documents", "metadatas"])
    return {
        cid: (doc, str(meta["content_hash"]))
        for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    }


def test_a_streamed_ingest_stores_what_the_whole_export_holds(settings: Settings) -> None:
    kb = KnowledgeBase.open(settings, HashEmbedder())
    report = kb.ingest_crm(SAMPLE_DIR / "crm")
    records = read_crm(SAMPLE_DIR / "crm").records
    want = {c.chunk_id: (c.text, r.content_hash) for r in records for c in r.chunks}
    assert _stored(kb) == want
    assert (report.added, report.chunks, report.problems) == (len(records), len(want), [])
    again = kb.ingest_crm(SAMPLE_DIR / "crm")
    assert (again.unchanged, again.added, again.updated, again.chunks) == (len(records), 0, 0, 0)


def test_rows_are_read_as_the_ingest_consumes_them(tmp_path: Path) -> None:
    folder = _many_notes(tmp_path / "crm")
    stream = stream_crm(folder, Findings())
    assert stream.kinds == {"account", "deal", "contact", "note"} and stream.fraction() == 0.0
    records = stream.records()
    first_note = next(r for r in records if r.source_type == "note")
    assert first_note.source_id == "NX00000"
    assert 0.0 < stream.fraction() < 0.5  # the notes file is open, most of it not read yet
    assert sum(1 for _ in records) == N_NOTES - 1
    assert stream.fraction() == 1.0


def test_a_broken_row_names_its_file_and_line_and_every_other_row_loads(
    settings: Settings, tmp_path: Path
) -> None:
    broken = 2 * STATE_BATCH + 3
    folder = _many_notes(tmp_path / "crm", broken_at=broken)
    lines = (folder / "notes.csv").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if text.startswith(f"NX{broken:05d},"))
    said: list[str] = []
    kb = KnowledgeBase.open(settings, HashEmbedder())
    report = kb.ingest_crm(folder, echo=said.append)
    assert len(report.problems) == 1
    assert str(report.problems[0]).startswith(
        f"{folder / 'notes.csv'}:{line}: created_at 'not a date' "
    ) and said == [str(report.problems[0])]
    notes = kb.store.sources(["note"])
    assert len(notes) == N_NOTES - 1 and f"note:NX{broken:05d}" not in notes
    assert report.added == 2 + 3 + 2 + N_NOTES - 1


def test_prune_removes_only_what_the_export_no_longer_holds(settings: Settings, tmp_path: Path) -> None:
    folder = _many_notes(tmp_path / "crm")
    kb = KnowledgeBase.open(settings, HashEmbedder())
    kb.ingest_crm(folder)
    kept = [r for r in read_crm(folder).records if r.source_type == "note" and not r.source_id.endswith("5")]
    rows = [{**r.fields, "body": r.fields.get("body", "")} for r in kept]
    write_csv(folder, "notes", rows)
    report = kb.ingest_crm(folder, prune=True)
    assert report.removed == N_NOTES - len(kept) and report.chunks == 0
    assert set(kb.store.sources(["note"])) == {r.key for r in kept}


def test_the_progress_bar_of_a_crm_ingest_says_the_time_left(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _many_notes(tmp_path / "crm")
    report = KnowledgeBase.open(settings, HashEmbedder()).ingest_crm(folder, progress=True)
    err = capsys.readouterr().err
    assert re.search(r"ETA \d\d:\d\d, [\d.]+chunk/s", err), err
    assert "embedding: 100%" in err and f"{report.chunks}/{report.chunks} [" in err
