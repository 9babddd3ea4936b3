"""The real console (``python -m bot``, the same program as ``closer``) against an embedded store in tmp.

Each command runs at least once in a child process, as a user or a deploy script would run it; each
such run imports the program and loads the embedding model (seconds), so runs are shared where a test
only reads, and the other checks call the same entry point in this process (``_closer_here``: the
settings from the environment, the output captured) — ``bot.cli.main`` is all ``python -m bot`` runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.knowledge.crm import COLUMNS
from bot.knowledge.store import writer_lock
from tests.helpers_chroma import (
    ALICE,
    ALICE_VISIBLE,
    ALL_RECORDS,
    BOB,
    DEALS,
    DOC_ID,
    NOTES,
    SECRET_NOTE,
    child_env,
    run_closer,
    run_closer_here,
    write_crm,
    write_csv,
    write_docs,
)

RESULT_KEYS = {"source_id", "source_type", "title", "score", "text", "deal_id", "account_id"}
SOURCE_TYPES = {"note", "deal", "account", "contact", "doc"}
SECRET_QUERY = "confidential discount on refrigerated trucks zebrafish"
ADMINS = "ops@x.example, Boss@X.example"
N_CRM = len(ALL_RECORDS)


@dataclass(frozen=True)
class Workspace:
    cwd: Path
    env: dict[str, str]
    crm: Path
    docs: Path


def _workspace(root: Path, **settings: str) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    env = child_env(
        CHROMA_PATH=str(root / "chroma"),
        CACHE_DIR=str(root / "cache"),
        STATE_URL=f"sqlite:///{root / 'state.db'}",
        **settings,
    )
    return Workspace(cwd=root, env=env, crm=root / "crm", docs=root / "docs")


def _closer(ws: Workspace, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``closer ARGS`` in a child process."""
    return run_closer(*args, cwd=ws.cwd, env={**ws.env, **settings})


def _closer_here(ws: Workspace, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``closer ARGS`` in this process (``bot.cli.main``), with the same settings and folder."""
    return run_closer_here(*args, cwd=ws.cwd, env={**ws.env, **settings})


def _search(
    ws: Workspace,
    query: str,
    email: str,
    *,
    k: int = 100,
    unknown: bool = False,
    child: bool = False,
    **settings: str,
) -> list[dict[str, object]]:
    extra = ["--allow-unknown"] if unknown else []
    run = _closer if child else _closer_here
    proc = run(ws, "search", query, "--as", email, "--k", str(k), "--json", *extra, **settings)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert set(payload) == {"results"}
    results = payload["results"]
    assert isinstance(results, list)
    return results


def _keys(results: list[dict[str, object]]) -> set[tuple[str, str]]:
    return {(str(r["source_type"]), str(r["source_id"])) for r in results}


def _problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("closer: ")]


def _assert_one_clean_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# --- one store, loaded once: CRM twice, then docs ---------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    ws: Workspace
    first: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]
    docs: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    ws = _workspace(tmp_path_factory.mktemp("cli-store"))
    write_crm(ws.crm)
    write_docs(ws.docs)
    first = _closer(ws, "ingest", "crm", str(ws.crm))
    again = _closer(ws, "ingest", "crm", str(ws.crm))
    docs = _closer(ws, "ingest", "docs", str(ws.docs))
    return Loaded(ws, first, again, docs)


def test_ingest_crm_prints_a_summary(loaded: Loaded) -> None:
    proc = loaded.first
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _problem_lines(proc.stderr) == []
    assert re.search(
        rf"^CRM: {N_CRM} added, 0 updated, 0 unchanged, 0 removed; {N_CRM} chunks embedded in [\d.]+s$",
        proc.stdout,
        re.MULTILINE,
    ), proc.stdout


def test_ingest_crm_again_changes_nothing(loaded: Loaded) -> None:
    proc = loaded.again
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        rf"^CRM: 0 added, 0 updated, {N_CRM} unchanged, 0 removed; 0 chunks embedded",
        proc.stdout,
        re.MULTILINE,
    ), proc.stdout


def test_ingest_docs_works(loaded: Loaded) -> None:
    proc = loaded.docs
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^docs: 1 added, 0 updated, 0 unchanged, 0 removed; \d+ chunks", proc.stdout, re.M)


def test_search_json_has_the_contract_shape_best_first(loaded: Loaded) -> None:
    results = _search(loaded.ws, "volume pricing for welding robots", ALICE, k=5, child=True)
    assert 1 <= len(results) <= 5
    for r in results:
        assert set(r) == RESULT_KEYS
        assert r["source_type"] in SOURCE_TYPES
        assert all(isinstance(r[key], str) for key in RESULT_KEYS - {"score"})
        assert isinstance(r["score"], int | float)
    scores = [float(r["score"]) for r in results]  # type: ignore[arg-type]
    assert scores == sorted(scores, reverse=True)
    top = results[0]
    assert (top["source_type"], top["source_id"]) == ("note", "N-1")
    assert (top["deal_id"], top["account_id"]) == ("D-1", "A-100")
    assert "welding robots" in str(top["text"])


def test_a_rep_never_sees_another_reps_private_note(loaded: Loaded) -> None:
    # k=100 returns everything Alice may read: exactly her records and the public doc, nothing of Bob's.
    results = _search(loaded.ws, SECRET_QUERY, ALICE)
    assert _keys(results) == set(ALICE_VISIBLE) | {("doc", DOC_ID)}
    blob = json.dumps(results)
    assert SECRET_NOTE not in {r["source_id"] for r in results}
    assert "zebrafish" not in blob and "Globex" not in blob
    scores = [float(r["score"]) for r in results]  # type: ignore[arg-type]
    assert scores == sorted(scores, reverse=True)


def test_the_owner_sees_the_private_note_first(loaded: Loaded) -> None:
    results = _search(loaded.ws, SECRET_QUERY, BOB)
    assert (results[0]["source_type"], results[0]["source_id"]) == ("note", SECRET_NOTE)
    assert results[0]["deal_id"] == "D-3"
    assert "zebrafish" in str(results[0]["text"])


def test_an_admin_sees_every_record(loaded: Loaded) -> None:
    results = _search(loaded.ws, SECRET_QUERY, "boss@x.example", ADMIN_EMAILS=ADMINS)
    assert (results[0]["source_type"], results[0]["source_id"]) == ("note", SECRET_NOTE)
    assert _keys(results) == set(ALL_RECORDS) | {("doc", DOC_ID)}


def test_docs_are_searchable_by_everyone(loaded: Loaded) -> None:
    # Someone with no CRM records of their own: the doc first, then only public CRM records.
    results = _search(loaded.ws, "SAML single sign-on with Okta", "nobody@elsewhere.example", unknown=True)
    assert (results[0]["source_type"], results[0]["source_id"]) == ("doc", DOC_ID)
    assert "Okta" in str(results[0]["text"])
    assert _keys(results) == set(ALICE_VISIBLE) | {("doc", DOC_ID)}  # all of Alice's are public


# --- bad input ----------------------------------------------------------------------------------------------

BAD_NOTES = f"""{",".join(COLUMNS["notes"])}
N-1,A-100,D-1,{ALICE},2026-01-10T09:00:00Z,call,Pricing call,"Dana asked about volume pricing
for forty welding robots
and a three year warranty."
N-5,A-100,D-1,{ALICE},2026-13-45,call,Bad date,This row has an impossible date.
N-2,A-100,D-2,{ALICE},2026-01-12T10:00:00Z,email,Renewal terms,Their lawyers want a liability cap.
N-6,A-100,D-1,{ALICE},only five fields

N-3,A-200,D-3,{BOB},2026-01-15T11:00:00Z,meeting,Confidential discount,Keep the zebrafish codename quiet.
N-4,A-100,,{ALICE},2026-01-16T08:00:00Z,note,Plant tour,"Toured the plant, the ""painting line"" fits."
"""
BAD_DEAL = ("D-9", "A-100", "Acme spare parts", ALICE, "", "won-ish", "5000", "EUR", "2026-04-30", "",
            "2026-01-20T09:00:00Z", "public")  # fmt: skip


def test_malformed_rows_exit_2_naming_file_and_physical_line_and_the_rest_loads(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "bad", ADMIN_EMAILS=ADMINS)
    write_crm(ws.crm)
    write_csv(ws.crm / "deals.csv", COLUMNS["deals"], [*DEALS, BAD_DEAL])  # the bad stage: line 5
    # Bad date on line 5, five fields on line 7; CRLF line ends, as spreadsheet programs write them.
    (ws.crm / "notes.csv").write_bytes(BAD_NOTES.replace("\n", "\r\n").encode())

    proc = _closer(ws, "ingest", "crm", str(ws.crm))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    problems = _problem_lines(proc.stderr)
    assert len(problems) == 3, proc.stderr
    where = {re.search(r"(\w+\.csv:\d+):", line).group(1) for line in problems}  # type: ignore[union-attr]
    assert where == {"deals.csv:5", "notes.csv:5", "notes.csv:7"}
    assert any("won-ish" in line for line in problems if "deals.csv:5" in line)
    assert any("2026-13-45" in line for line in problems if "notes.csv:5" in line)
    assert re.search(rf"^CRM: {N_CRM} added, .*; 3 problem\(s\)", proc.stdout, re.M), proc.stdout

    results = _search(ws, "welding robots warranty", "boss@x.example")
    assert _keys(results) == set(ALL_RECORDS)
    n1 = next(r for r in results if r["source_id"] == "N-1")
    assert "three year warranty" in str(n1["text"])


def test_a_missing_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    proc = _closer(ws, "ingest", "crm", str(tmp_path / "no-such-export"))
    assert proc.returncode == 2
    assert "no-such-export" in _assert_one_clean_line(proc)


@pytest.mark.parametrize("args", [["frobnicate"], ["ingest", "spreadsheets", "x"], ["search", "x"]])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    proc = _closer_here(_workspace(tmp_path), *args)
    assert proc.returncode == 2
    _assert_one_clean_line(proc)


@pytest.mark.parametrize("k", ["0", "101"])
def test_a_bad_k_exits_2(tmp_path: Path, k: str) -> None:
    proc = _closer_here(_workspace(tmp_path), "search", "pricing", "--as", ALICE, "--k", k)
    assert proc.returncode == 2
    assert "--k" in _assert_one_clean_line(proc)


# --- prune ---------------------------------------------------------------------------------------------------


def test_prune_removes_exactly_the_record_gone_from_the_export(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "prune", ADMIN_EMAILS=ADMINS)
    write_crm(ws.crm)
    assert _closer_here(ws, "ingest", "crm", str(ws.crm)).returncode == 0

    write_crm(ws.crm, notes=[n for n in NOTES if n[0] != "N-2"])
    proc = _closer_here(ws, "ingest", "crm", str(ws.crm), "--prune")
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^CRM: 0 added, 0 updated, {N_CRM - 1} unchanged, 1 removed", proc.stdout, re.M)

    results = _search(ws, "liability cap before the service renewal", "boss@x.example")
    assert _keys(results) == set(ALL_RECORDS) - {("note", "N-2")}


# --- eval ----------------------------------------------------------------------------------------------------

CORPUS = {
    "d1": ("Solar panels", "Photovoltaic cells convert sunlight directly into electricity."),
    "d2": ("Wind turbines", "Large blades turn a generator when the wind blows across them."),
    "d3": ("Coffee roasting", "Green coffee beans are roasted to develop aroma and flavour."),
    "d4": ("Sourdough bread", "A wild yeast starter leavens the dough over many hours."),
    "d5": ("Penguins", "Emperor penguins breed during the Antarctic winter on sea ice."),
    "d6": ("Volcanoes", "Magma rises through the crust and erupts as lava and ash."),
}
QUERIES = {
    "q1": "how do photovoltaic cells turn sunlight into electricity",
    "q2": "which penguins breed in the antarctic winter",
    "q3": "roasting green coffee beans",
}
QRELS = {"q1": "d1", "q2": "d5", "q3": "d3"}


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for did, (title, text) in CORPUS.items():
            f.write(json.dumps({"_id": did, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    rows = "".join(f"{qid}\t{did}\t1\n" for qid, did in QRELS.items())
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    return folder


def _cache_state(path: Path) -> tuple[str, int, int]:
    with sqlite3.connect(path) as db:
        rows = int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, rows


def test_eval_retrieval_prints_metrics_and_a_rerun_embeds_nothing(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "eval")
    dataset = _beir(tmp_path / "tiny-beir")
    cache = tmp_path / "eval" / "cache" / "embeddings.sqlite"

    first = _closer(ws, "eval", "retrieval", str(dataset), "--json")
    assert first.returncode == 0, first.stderr
    # Progress with counts on stderr even when it is not a terminal; stdout is the JSON alone.
    assert "embedding: 100%" in first.stderr and f"{len(CORPUS)}/{len(CORPUS)}" in first.stderr
    assert "querying: 100%" in first.stderr
    report = json.loads(first.stdout)
    metrics = report["metrics"]
    assert set(metrics) == {"ndcg@10", "mrr@10", "recall@10", "recall@100"}
    assert all(0.0 <= float(v) <= 1.0 for v in metrics.values())
    assert report["queries"] == len(QUERIES)
    assert metrics["recall@100"] == 1.0  # six documents: every one is ranked
    assert metrics["ndcg@10"] > 0.5
    assert cache.is_file()
    before = _cache_state(cache)
    assert before[2] == len(CORPUS) + len(QUERIES)

    second = _closer(ws, "eval", "retrieval", str(dataset), "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["metrics"] == metrics
    assert _cache_state(cache) == before  # every vector came from the cache: nothing written


# --- one writer ----------------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "locked")
    write_crm(ws.crm)
    with writer_lock(load_settings(chroma_path=ws.cwd / "chroma")):
        proc = _closer(ws, "ingest", "crm", str(ws.crm))
    assert proc.returncode == 2
    line = _assert_one_clean_line(proc)
    assert "another closer process is writing" in line
