"""Nothing on the ingest path keeps one Python object per row (issue 13): the ids seen in a file and
the keys read for ``--prune`` are kept on disk (:class:`DiskKeys`), and prune compares the stored
keys page by page. The behaviour is the same as with in-memory sets."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bot.config import Settings
from bot.knowledge import store as store_module
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.crm import read_crm, stream_crm
from bot.knowledge.disk_keys import DiskKeys
from bot.knowledge.problems import Findings
from bot.knowledge.records import SourceType, chunk_id, key_of_chunk
from bot.knowledge.store import PAGE
from tests.conftest import HashEmbedder
from tests.crm_fixtures import CAROL, small_export, write_csv


def _notes(folder: Path, n: int, *, repeat: dict[int, int] | None = None) -> Path:
    """``n`` one-line notes on deal D3; ``repeat`` maps a row index to an earlier one whose id it reuses."""
    small_export(folder)
    rows = []
    for i in range(n):
        nid = f"NF{(repeat or {}).get(i, i):06d}"
        rows.append({"note_id": nid, "account_id": "A2", "deal_id": "D3", "author_email": CAROL,
                     "created_at": "2026-10-01T09:00:00Z", "kind": "call", "subject": f"Visit {i}",
                     "body": f"Check-in {i} done."})  # fmt: skip
    write_csv(folder, "notes", rows)
    return folder


def test_disk_keys_keep_the_first_line_and_answer_in_sorted_batches() -> None:
    with DiskKeys() as keys:
        assert keys.add("note:b", 3) and keys.add("note:a", 7)
        assert not keys.add("note:b", 9)  # already there: the first line is kept
        assert keys.line("note:b") == 3 and keys.line("note:c") is None
        keys.put("note:b", "first value")
        keys.put("note:b", "second value")
        keys.put("deal:x", "new")
        assert (
            keys.value("note:b") == "second value"
            and keys.value("note:a") is None
            and keys.value("deal:x") == "new"
        )
        assert keys.line("note:b") == 3 and not keys.add("deal:x")
        assert "note:a" in keys and "note:c" not in keys
        keys.update(f"deal:{i:05d}" for i in range(2 * PAGE + 5))
        assert len(keys) == 2 * PAGE + 8
        assert keys.among(["note:a", "note:c", "deal:00004", ""]) == {"note:a", "deal:00004"}
        batches = list(keys.batches(PAGE))
        assert [len(b) for b in batches] == [PAGE, PAGE, 8]
        flat = [k for b in batches for k in b]
        assert flat == sorted(flat) and set(flat) == {"note:a", "note:b", "deal:x"} | {
            f"deal:{i:05d}" for i in range(2 * PAGE + 5)
        }


def test_a_repeated_id_far_apart_still_names_both_lines(tmp_path: Path) -> None:
    folder = _notes(tmp_path / "crm", 3000, repeat={2500: 10})  # header is line 1: row i is on line i + 2
    export = read_crm(folder)
    assert [str(p) for p in export.problems] == [
        f"{folder / 'notes.csv'}:2502: note_id 'NF000010' already appeared on line 12"
    ]
    assert sum(r.source_type == "note" for r in export.records) == 2999


def _deals(folder: Path, n: int) -> Path:
    """``n`` deals of account A2, and a note on the last one (it takes that deal's access)."""
    small_export(folder)
    write_csv(folder, "deals", [
        {"deal_id": f"DF{i:06d}", "account_id": "A2", "name": f"Deal {i}", "owner_email": CAROL, "stage": "discovery",
         "amount": "1000", "currency": "USD", "close_date": "2026-12-01", "next_step": "", "team": f"rep{i}@x.example",
         "updated_at": "2026-11-20T10:00:00Z", "visibility": "private"} for i in range(n)
    ])  # fmt: skip
    write_csv(folder, "notes", [{"note_id": "NL", "account_id": "A2", "deal_id": f"DF{n - 1:06d}",
                                 "author_email": CAROL, "created_at": "2026-10-01T09:00:00Z", "kind": "call",
                                 "subject": "Last", "body": "On the last deal."}])  # fmt: skip
    return folder


def _reading_peak(folder: Path, kind: SourceType = "note") -> int:
    """Peak bytes Python allocated while the records are read and dropped one by one (from the first
    of ``kind`` on: the file's encoding check before it reads a block of fixed size)."""
    records = stream_crm(folder, Findings()).records()
    next(r for r in records if r.source_type == kind)
    tracemalloc.start()
    try:
        for _ in records:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_an_export_does_not_keep_memory_per_row(tmp_path: Path) -> None:
    small, large = (
        _reading_peak(_notes(tmp_path / "small", 2000)),
        _reading_peak(_notes(tmp_path / "large", 20000)),
    )
    # 18,000 more rows: an in-memory map of the ids seen alone would hold ~2 MB more (100+ bytes a row).
    assert large - small < 300_000, (small, large)


def test_prune_removes_more_than_a_page_of_gone_records(settings: Settings, tmp_path: Path) -> None:
    n = 2 * PAGE + 300
    folder = _notes(tmp_path / "crm", n)
    kb = KnowledgeBase.open(settings, HashEmbedder())
    kb.ingest_crm(folder)
    kept = [r for r in read_crm(folder).records if r.source_type == "note"][: PAGE // 4]
    write_csv(folder, "notes", [dict(r.fields) for r in kept])
    report = kb.ingest_crm(folder, prune=True)
    assert report.removed == n - len(kept) and report.chunks == 0 and report.unchanged == len(kept) + 7
    assert set(kb.store.sources(["note"])) == {r.key for r in kept}
    assert kb.store.count() == len(kept) + 7  # the small export's accounts, deals and contacts stay


def test_the_change_log_of_a_large_ingest_is_written_from_disk_in_parts(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = KnowledgeBase.open(settings, HashEmbedder())
    kb.ingest_crm(small_export(tmp_path / "first"))
    before = kb.store.generation()
    # 3 ids a record, 2 records an add: the 37 new notes' ids in 13 records, written by 7 adds.
    monkeypatch.setattr(store_module, "CHANGE_PART", 3)
    monkeypatch.setattr(store_module, "CHANGE_ADD", 2)
    kb.ingest_crm(_notes(tmp_path / "second", 37))
    after = kb.store.generation()
    want = {f"note:NF{i:06d}#0" for i in range(37)}
    got = kb.store.changes_since(before, after, limit=1000)
    assert got == want
    parts = kb.store._change_log().get(where={"generation": after}, include=["metadatas"])["metadatas"]
    assert len(parts) == 13 and {m["parts"] for m in parts} == {13}


def test_exported_parents_are_kept_on_disk_and_children_still_inherit_their_access(tmp_path: Path) -> None:
    small, large = (
        _reading_peak(_deals(tmp_path / "small", 2000), "deal"),
        _reading_peak(_deals(tmp_path / "large", 20000), "deal"),
    )
    # An in-memory map of the deals read (their access, title and account) would hold ~5 MB more.
    assert large - small < 300_000, (small, large)
    note = next(r for r in read_crm(tmp_path / "large").records if r.source_type == "note")
    assert (note.access.visibility, note.access.owner, note.access.team) == (
        "private",
        CAROL,
        ("rep19999@x.example",),
    )
    assert note.title == "Last — Deal 19999" and note.account_id == "A2"


def test_the_record_key_of_a_chunk_id_keeps_a_hash_in_the_records_own_id() -> None:
    assert key_of_chunk(chunk_id("doc", "guides/setup#install.md", 12)) == "doc:guides/setup#install.md"
    assert key_of_chunk(chunk_id("note", "N1", 0)) == "note:N1"
