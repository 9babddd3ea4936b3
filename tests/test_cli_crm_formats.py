"""`closer ingest crm` with a CRM's own exports and the reading flags, through the real program: the
first command of each test in a child process, the others through the same entry point in-process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers_chroma import child_env, run_closer, run_closer_here

FIXTURES = Path(__file__).parent / "fixtures" / "crm_exports"
INGRID = "ingrid.solberg@northwind-robotics.example"


def _env(root: Path) -> dict[str, str]:
    return child_env(
        CHROMA_PATH=str(root / "chroma"),
        CACHE_DIR=str(root / "cache"),
        STATE_URL=f"sqlite:///{root / 'state.db'}",
    )


def test_a_salesforce_export_lands_as_its_closer_equivalent(tmp_path: Path) -> None:
    env = _env(tmp_path)
    native = run_closer(
        "ingest", "crm", str(FIXTURES / "salesforce"), "--format", "salesforce", "--dates", "month-first",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert native.returncode == 0, native.stderr
    assert "10 added" in native.stdout
    assert "note: " in native.stderr and "read as cp1252" in native.stderr  # the report's encoding, said
    # The same data in Closer's own format changes nothing: the stored records are identical.
    closer = run_closer_here("ingest", "crm", str(FIXTURES / "salesforce_as_closer"), cwd=tmp_path, env=env)
    assert closer.returncode == 0, closer.stderr
    assert "0 added, 0 updated, 10 unchanged" in closer.stdout
    found = run_closer_here("search", "discount AMR fleet", "--as", INGRID, "--json", cwd=tmp_path, env=env)
    results = json.loads(found.stdout)["results"]
    assert results and results[0]["source_id"] == "00T5g00000T001AAAV"


def test_reading_flags_are_checked_and_problems_exit_2(tmp_path: Path) -> None:
    env = _env(tmp_path)
    ambiguous = run_closer("ingest", "crm", str(FIXTURES / "salesforce"), "--format", "salesforce",
                           cwd=tmp_path, env=env)  # fmt: skip
    assert ambiguous.returncode == 2
    assert "Last Modified Date '10/1/2026 8:00 AM' is ambiguous" in ambiguous.stderr
    bad = run_closer_here(
        "ingest", "crm", str(FIXTURES / "hubspot"), "--delimiter", "::", cwd=tmp_path, env=env
    )
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "closer: --delimiter must be one character (or tab), not '::'",
    )
    missing = run_closer_here(
        "ingest", "crm", str(tmp_path), "--map", str(tmp_path / "nope.toml"), cwd=tmp_path, env=env
    )
    assert missing.returncode == 2 and "nope.toml: cannot read the map file" in missing.stderr
    assert "Traceback" not in ambiguous.stderr + bad.stderr + missing.stderr
