"""Ingest and state survive a crash: ``kill -9`` in the middle of a run loses nothing already done,
and the next run completes the work without duplicating any of it.

- The knowledge store: ``closer ingest crm`` on an embedded store (``CHROMA_PATH``) is killed once
  its progress bar shows part of the chunks written. The store then holds some but not all chunks,
  the writer lock is free, and a second ``closer ingest crm`` completes it: exactly the chunk ids a
  clean ingest writes (the ids are deterministic: the records ``read_crm`` makes of the export),
  each record once and whole, the complete ones reported unchanged, and the tail of the export
  searchable. Progress is read from the child's own progress bar (its stderr is a pseudo-terminal),
  and the store is looked at by separate reader processes only after the writer is gone.
- The state database: a ``closer ask`` that holds the SQLite state file is killed while it waits
  for a slow LLM. The file opens cleanly (schema at head, integrity check ok), earlier writes are
  there, the killed request left no half row, and the next request is audited normally.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import random
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import StoreBusyError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.crm import read_crm
from bot.knowledge.embedder import LocalEmbedder
from bot.knowledge.store import writer_lock
from bot.state import head_revision
from bot.state.store import StateStore
from tests.crm_fixtures import ALICE, CAROL, small_export, write_csv
from tests.fake_openai import FakeOpenAI
from tests.helpers_chroma import child_env, run_closer
from tests.support.services import stop
from tests.support.store_probe import run_probe

pytestmark = pytest.mark.slow

LONG_EVERY = 25  # every 25th note is long enough for 3 chunks: records and chunks differ
KILL_AT = 0.3  # kill once at least this share of the chunks is written ...
KILL_BEFORE = 0.8  # ... and not yet this share (else the run is too fast to catch: a clear failure)
WORDS = ["pallet", "conveyor", "gripper", "throughput", "firmware", "warranty", "uptime", "shuttle", "mezzanine",
         "picker"]  # fmt: skip
SUMMARY = re.compile(
    r"CRM: (\d+) added, (\d+) updated, (\d+) unchanged, (\d+) removed; (\d+) chunks embedded"
)
PROGRESS = re.compile(rb"(\d+)/(\d+) \[")


def tail_code(n_notes: int) -> str:
    return f"TAILCODE-{n_notes - 1:05d}"


def big_export(folder: Path, n_notes: int) -> Path:
    """``small_export``'s accounts, deals and contacts, and ``n_notes`` notes on Globex's public
    rollout deal (owner Carol) in place of its four notes; the last one carries :func:`tail_code`."""
    small_export(folder)
    notes = []
    for i in range(n_notes):
        size = 320 if i % LONG_EVERY == LONG_EVERY - 1 else 14
        body = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(size))
        code = tail_code(n_notes) if i == n_notes - 1 else f"CODE-{i:05d}"
        notes.append({"note_id": f"NX{i:05d}", "account_id": "A2", "deal_id": "D3", "author_email": CAROL,
                      "created_at": f"2026-10-{1 + i % 28:02d}T09:00:00Z", "kind": "call",
                      "subject": f"Check-in {i}", "body": f"Site check-in {i} logged under {code}. {body}"})  # fmt: skip
    write_csv(folder, "notes", notes)
    return folder


@dataclass
class Progress:
    """What a child wrote to its pseudo-terminal (tqdm's bar), read on a thread."""

    master: int
    data: bytearray = field(default_factory=bytearray)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the child is gone and the terminal closed
                return
            if not chunk:
                return
            self.data += chunk

    def done(self) -> tuple[int, int] | None:
        """(chunks written, chunks to write) from the latest bar update, or None before the first."""
        found = PROGRESS.findall(bytes(self.data))
        return (int(found[-1][0]), int(found[-1][1])) if found else None


@contextlib.contextmanager
def closer_on_a_terminal(
    *args: str, cwd: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Progress]]:
    """``closer ARGS`` with stderr on a pseudo-terminal (so it shows its progress bar)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a 120-column terminal
    try:
        proc = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)  # fmt: skip
    finally:
        os.close(slave)
    progress = Progress(master)
    progress.start()
    try:
        yield proc, progress
    finally:
        stop(proc)
        if progress.thread is not None:
            progress.thread.join(10)
        os.close(master)


def by_record(chunks: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = defaultdict(list)
    for chunk in chunks:
        out[str(chunk["source_key"])].append(chunk)
    return out


@dataclass(frozen=True)
class Embedding:
    """How the ingest embeds, and so where a kill most likely lands."""

    n_notes: int
    env: dict[str, str]


@pytest.fixture(params=["local", "remote"])
def embedding(request: pytest.FixtureRequest) -> Iterator[Embedding]:
    """``local``: the real model, ~650 chunks, ~10 s on 2 cores; the kill most likely lands while a
    batch is being embedded. ``remote``: EMBEDDING_PROVIDER=openai against the fake endpoint (instant
    hash vectors), ~4,300 chunks in ~4 s; the time goes to the store, so the kill most likely lands
    while Chroma writes."""
    if request.param == "local":
        yield Embedding(600, {})
        return
    with FakeOpenAI(model="crash-model") as api:
        yield Embedding(4000, {"EMBEDDING_PROVIDER": "openai", "EMBEDDING_MODEL": "fake-embed",
                               "LLM_BASE_URL": api.base_url, "LLM_API_KEY": "sk-crash-embed"})  # fmt: skip


def test_an_ingest_killed_mid_run_is_completed_by_the_next_without_duplicates(
    tmp_path: Path, embedding: Embedding
) -> None:
    n_notes = embedding.n_notes
    crm = big_export(tmp_path / "crm", n_notes)
    records = read_crm(crm).records
    expected = {c.chunk_id: r.key for r in records for c in r.chunks}
    hashes = {r.key: r.content_hash for r in records}
    assert len(records) == 2 + 3 + 2 + n_notes and len(expected) > len(records)
    chroma = tmp_path / "chroma"
    env = child_env(CHROMA_PATH=str(chroma), STATE_URL=f"sqlite:///{tmp_path / 'state.db'}",
                    CACHE_DIR=str(tmp_path / "cache"), **embedding.env)  # fmt: skip

    # 1. The first run, killed with SIGKILL part-way through.
    with closer_on_a_terminal("ingest", "crm", str(crm), cwd=tmp_path, env=env) as (proc, progress):
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (
                f"ingest ended before it could be killed: {bytes(progress.data)[-2000:]!r}"
            )
            assert time.monotonic() < deadline, f"no progress: {bytes(progress.data)[-2000:]!r}"
            done = progress.done()
            # The bar's total is an estimate while the export is read: count against the real one.
            if done and done[0] >= KILL_AT * len(expected):
                break
            time.sleep(0.02)
        time.sleep(random.uniform(0, 0.1))  # not always right after a batch was written
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    written = done[0]
    assert written < KILL_BEFORE * len(expected), (
        f"killed too late to mean anything: {written}/{len(expected)}"
    )

    # 2. The writer lock died with the writer: a new writer is not refused.
    settings = load_settings(chroma_path=chroma, cache_dir=tmp_path / "cache")
    try:
        with writer_lock(settings):
            pass
    except StoreBusyError as exc:
        pytest.fail(f"the writer lock outlived the killed ingest: {exc}")

    # 3. What the crash left: some chunks, not all, every one of them belonging to the export.
    after_crash = run_probe(chroma, env)
    left = {str(c["id"]) for c in after_crash["chunks"]}
    assert 0 < after_crash["count"] < len(expected), after_crash["count"]
    assert after_crash["count"] == len(left) and left <= set(expected)
    stored = by_record(after_crash["chunks"])
    complete = {k for k, cs in stored.items() if len(cs) == cs[0]["n_chunks"] and
                all(c["content_hash"] == hashes[k] for c in cs)}  # fmt: skip
    partial = set(stored) - complete
    assert complete, "the killed run kept no finished record"

    # 4. The second run completes it, keeping the work already done.
    second = run_closer("ingest", "crm", str(crm), cwd=tmp_path, env=env, timeout=240)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "another closer process is writing" not in second.stderr
    m = SUMMARY.search(second.stdout)
    assert m, second.stdout
    added, updated, unchanged, removed, embedded = map(int, m.groups())
    kept, torn, untouched = len(complete), len(partial), len(records) - len(stored)
    assert (unchanged, updated, added, removed) == (kept, torn, untouched, 0), second.stdout
    assert embedded == len(expected) - sum(len(stored[k]) for k in complete)

    # 5. Exactly what one clean ingest writes: nothing lost, nothing twice, every record whole.
    final = run_probe(chroma, env)
    ids = [str(c["id"]) for c in final["chunks"]]
    assert final["count"] == len(expected) == len(ids)
    assert set(ids) == set(expected) and not [i for i, n in Counter(ids).items() if n > 1]
    final_records = by_record(final["chunks"])
    assert set(final_records) == set(hashes)
    assert final["dimension"] in (64, 384) and {c["dim"] for c in final["chunks"]} == {final["dimension"]}
    for key, chunks in final_records.items():
        positions = sorted(int(str(c["position"])) for c in chunks)
        assert positions == list(range(int(str(chunks[0]["n_chunks"])))), key
        assert {c["content_hash"] for c in chunks} == {hashes[key]}, key

    # 6. The tail of the export is searchable.
    found = run_closer("search", f"site check-in logged under {tail_code(n_notes)}", "--as", CAROL, "--k", "3", "--json",
                       cwd=tmp_path, env=env, timeout=120)  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    top = json.loads(found.stdout)["results"][0]
    assert (top["source_type"], top["source_id"]) == ("note", f"NX{n_notes - 1:05d}"), top

    # And a third run has nothing left to do.
    third = run_closer("ingest", "crm", str(crm), cwd=tmp_path, env=env, timeout=240)
    assert f"CRM: 0 added, 0 updated, {len(records)} unchanged, 0 removed; 0 chunks" in third.stdout, (
        third.stdout
    )


def test_the_state_database_opens_cleanly_after_a_closer_process_is_killed_mid_request(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    chroma, state = tmp_path / "chroma", tmp_path / "state.db"
    url = f"sqlite:///{state}"
    settings = load_settings(chroma_path=chroma, state_url=url, cache_dir=tmp_path / "cache")
    KnowledgeBase.open(settings, embedder).ingest_crm(small_export(tmp_path / "crm"))
    question = "What discount did Acme ask for?"
    with FakeOpenAI(model="crash-model") as llm:
        env = child_env(CHROMA_PATH=str(chroma), STATE_URL=url, CACHE_DIR=str(tmp_path / "cache"),
                        LLM_BASE_URL=llm.base_url, LLM_API_KEY="sk-crash", LLM_MODEL="crash-model")  # fmt: skip
        # Before the crash: a saved preference and one finished, audited request.
        assert run_closer("privacy", "off", "--as", ALICE, cwd=tmp_path, env=env).returncode == 0
        first = run_closer("ask", question, "--as", ALICE, cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr[-3000:]

        # The crash: `closer ask` waits for a slow LLM with the state file open; SIGKILL it.
        llm.delay = 5.0
        proc = subprocess.Popen([sys.executable, "-m", "bot", "ask", question, "--as", ALICE], cwd=tmp_path,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while sum(r.path.endswith("/chat/completions") for r in list(llm.requests)) < 2:
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the second ask never reached the LLM"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            stop(proc)
            if proc.stderr is not None:
                proc.stderr.close()
        llm.delay = 0.0
        assert Path(f"{state}-wal").exists()  # the killed process left its write-ahead log behind

        # After it: the file opens as `closer` opens it, at the newest schema, with nothing torn.
        with StateStore.open(url) as store:
            assert store.schema_revision() == head_revision()
            assert store.user_private(ALICE) is False
            (row,) = store.audit_rows()  # the killed request wrote no (half) row
            assert (row.user_email, row.action, row.outcome) == (ALICE, "ask", "ok")
        with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []

        # And the next request works and is audited after it.
        again = run_closer("ask", question, "--as", ALICE, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr[-3000:]
        with StateStore.open(url) as store:
            rows = store.audit_rows()
    assert [r.outcome for r in rows] == ["ok", "ok"]
    assert len({r.request_id for r in rows}) == 2 and rows[0].at >= rows[1].at
