"""A new admin's first hour with the console: empty input, typos in ``--as``, an empty store, the
sample next to real data, privacy without a private endpoint, refusals under ``--json``.

The program runs in-process (``bot.cli.main``) against an embedded store in tmp; the settings come
from the environment exactly as for ``closer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.knowledge.base import KnowledgeBase
from tests.conftest import SampleStore
from tests.helpers_chroma import ALICE, ALL_RECORDS, BOB, CAROL, write_crm, write_docs

ADMIN = "boss@x.example"
SAMPLE_REP = "maya.okafor@brindlewood.example"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def _one_line(run: Run) -> str:
    assert "Traceback" not in run.err, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    return lines[0]


def _use_store(monkeypatch: pytest.MonkeyPatch, root: Path, **settings: str) -> None:
    monkeypatch.setenv("CHROMA_PATH", str(root / "chroma"))
    monkeypatch.setenv("CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("STATE_URL", f"sqlite:///{root / 'state.db'}")
    monkeypatch.setenv("INDEX_REFRESH_SECONDS", "0")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def own_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the small CRM export and one doc: the user's own data."""
    root = tmp_path_factory.mktemp("own-data")
    settings = load_settings(
        chroma_path=root / "chroma", cache_dir=root / "cache", state_url=f"sqlite:///{root / 'state.db'}"
    )
    kb = KnowledgeBase.open(settings)
    assert not kb.ingest_crm(write_crm(root / "crm")).problems
    assert not kb.ingest_docs(write_docs(root / "docs")).problems
    return root


# --- 5: empty input is an error --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "", "--as", ALICE],
        ["ask", "   ", "--as", ALICE],
        ["reply", "\n", "--as", ALICE],
        ["followup", "", "--as", ALICE],
        ["search", " ", "--as", ALICE],
    ],
)
def test_an_empty_question_message_deal_or_query_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    run = _run(capsys, *args)
    assert run.code == 2
    assert "empty" in _one_line(run)
    assert run.out == ""
    as_json = _run(capsys, *args, "--json")
    assert as_json.code == 2
    assert json.loads(as_json.out)["error"]["type"] == "usage"
    assert "empty" in json.loads(as_json.out)["error"]["message"]


def test_a_zero_byte_crm_file_is_an_error_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_store(monkeypatch, tmp_path)
    export = tmp_path / "export"
    export.mkdir()
    (export / "accounts.csv").write_bytes(b"")
    run = _run(capsys, "ingest", "crm", str(export))
    assert run.code == 2
    line = _one_line(run)
    assert "accounts.csv" in line and "empty" in line
    assert "0 added" in run.out  # the summary still says what happened


# --- 6: who is asking, and is anything loaded ---------------------------------------------------------------


def test_search_on_an_empty_store_says_nothing_is_ingested(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_store(monkeypatch, tmp_path)
    run = _run(capsys, "search", "pricing", "--as", ALICE)
    assert run.code == 2
    assert "nothing ingested yet" in _one_line(run)


def test_a_typo_in_as_is_refused_with_a_suggestion_and_how_to_list_people(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, own_data: Path
) -> None:
    _use_store(monkeypatch, own_data)
    for command in (["search", "welding robots"], ["ask", "what about welding robots?"]):
        run = _run(capsys, *command, "--as", "alicee@x.example")
        assert run.code == 2
        line = _one_line(run)
        assert "alicee@x.example" in line and f"Did you mean {ALICE}?" in line
        assert "closer people" in line and "--allow-unknown" in line
        assert run.out == ""


def test_allow_unknown_runs_as_them_with_public_records_only_and_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, own_data: Path
) -> None:
    _use_store(monkeypatch, own_data)
    run = _run(capsys, "search", "confidential discount refrigerated trucks", "--as", "new@x.example",
               "--allow-unknown", "--json", "--k", "100")  # fmt: skip
    assert run.code == 0
    assert "public records only" in _one_line(run)
    seen = {r["source_id"] for r in json.loads(run.out)["results"]}
    assert "N-3" not in seen and "D-3" not in seen  # Bob's private deal and its note


def test_people_lists_owners_teams_and_admins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, own_data: Path
) -> None:
    _use_store(monkeypatch, own_data, ADMIN_EMAILS=ADMIN)
    run = _run(capsys, "people")
    assert run.code == 0, run.err
    assert run.out.split("\n")[:-1] == [ALICE, BOB, f"{ADMIN}  (admin)", CAROL]
    # An admin is known even though no record names them.
    assert _run(capsys, "search", "welding", "--as", ADMIN).code == 0


def test_digest_of_nobody_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, own_data: Path
) -> None:
    _use_store(monkeypatch, own_data)
    run = _run(capsys, "digest", "--user", "nobody@x.example", "--date", "2026-01-20")
    assert run.code == 2
    assert "nobody@x.example" in _one_line(run)
    ok = _run(capsys, "digest", "--user", ALICE, "--date", "2026-01-20")
    assert ok.code == 0, ok.err
    assert "Acme fleet expansion" in ok.out


# --- 8: privacy without a private endpoint; refusals under --json ------------------------------------------


def test_privacy_on_without_a_private_endpoint_warns_at_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, own_data: Path, tmp_path: Path
) -> None:
    _use_store(monkeypatch, own_data, STATE_URL=f"sqlite:///{tmp_path / 'state.db'}")
    run = _run(capsys, "privacy", "on", "--as", ALICE)
    assert run.code == 0
    assert "PRIVATE_LLM_BASE_URL" in _one_line(run)
    assert "private" in run.out
    assert _run(capsys, "privacy", "off", "--as", ALICE).err == ""


def test_a_refusal_under_json_is_json_on_stdout_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, own_data: Path
) -> None:
    _use_store(monkeypatch, own_data)
    run = _run(capsys, "ask", "what about welding robots?", "--as", ALICE, "--private", "--json")
    assert run.code == 2
    payload = json.loads(run.out)
    assert set(payload) == {"error"}
    assert payload["error"]["type"] == "privacy"
    assert payload["error"]["message"] == _one_line(run).removeprefix("closer: ")
    # Bad input under --json has the same shape.
    typo = _run(capsys, "search", "welding", "--as", "alicee@x.example", "--json")
    assert typo.code == 2
    assert json.loads(typo.out)["error"]["type"] == "input"


# --- 2: the sample is added next to the user's own data, never pruning it -----------------------------------


def test_ingest_sample_keeps_the_users_own_records(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_store(monkeypatch, tmp_path, ADMIN_EMAILS=ADMIN)
    assert _run(capsys, "ingest", "crm", str(write_crm(tmp_path / "crm"))).code == 0
    assert _run(capsys, "ingest", "docs", str(write_docs(tmp_path / "docs"))).code == 0
    run = _run(capsys, "ingest", "sample")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == 2 and all(", 0 removed;" in line for line in lines), run.out
    kb = KnowledgeBase.open(load_settings())
    kinds = {(m.source_type, m.source_id) for m in kb.index().metas}
    assert set(ALL_RECORDS) <= kinds
    assert ("doc", "guides/onboarding.md") in kinds
    assert ("deal", "DL-101") in kinds  # and the sample is there too
    assert SAMPLE_REP in kb.people()


def test_ingest_sample_never_replaces_a_record_of_yours_with_the_same_id(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.knowledge.crm import COLUMNS
    from tests.helpers_chroma import write_csv

    _use_store(monkeypatch, tmp_path, ADMIN_EMAILS=ADMIN)
    export = tmp_path / "crm"
    export.mkdir()
    write_csv(
        export / "accounts.csv", COLUMNS["accounts"], [("ACC-001", "Our own Acme", "", "", ALICE, "", "")]
    )
    assert _run(capsys, "ingest", "crm", str(export)).code == 0
    run = _run(capsys, "ingest", "sample")
    assert run.code == 2
    assert "account:ACC-001" in _one_line(run) and run.out == ""
    kb = KnowledgeBase.open(load_settings())
    assert [m.title for m in kb.index().metas] == ["Our own Acme"]  # yours, and nothing of the sample


def test_ingest_sample_twice_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sample_store: SampleStore,
) -> None:
    assert sample_store.ingest.returncode == 0  # the first time: `closer ingest sample` in a child process
    sample_store.copy_to(tmp_path)  # chroma/, cache/ and state.db, where _use_store points
    _use_store(monkeypatch, tmp_path)
    again = _run(capsys, "ingest", "sample")
    assert again.code == 0, again.err
    assert all(" 0 added, 0 updated, " in line and ", 0 removed;" in line for line in again.out.splitlines())
