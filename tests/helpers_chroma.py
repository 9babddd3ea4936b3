"""Shared by the CLI and Chroma-server tests: a small CRM export, a docs folder, a clean child env."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

# Every setting the program reads, plus the ones Slack's and Chroma's libraries read on their own:
# conftest.isolated_env clears them for each test, and nothing from the developer's shell reaches a child.
ENV_PREFIXES = ("SLACK_", "LLM_", "PRIVATE_LLM_", "PRIVACY_", "EMBEDDING_", "CHROMA_", "STATE_", "ADMIN_",
                "DIGEST_", "SEARCH_", "INDEX_", "CACHE_", "HOST", "PORT", "HUBSPOT_", "SALESFORCE_",
                "CRM_")  # fmt: skip

ALICE, BOB, CAROL = "alice@x.example", "bob@x.example", "carol@x.example"

ACCOUNTS = [
    ("A-100", "Acme Robotics", "manufacturing", "EMEA", ALICE, "", "public"),
    ("A-200", "Globex Foods", "food", "NA", BOB, CAROL, "private"),
]
DEALS = [
    ("D-1", "A-100", "Acme fleet expansion", ALICE, "", "proposal", "120000", "EUR", "2026-03-31",
     "send the revised quote", "2026-01-10T09:00:00Z", "public"),
    ("D-2", "A-100", "Acme service renewal", ALICE, "", "negotiation", "40000", "EUR", "2026-02-28",
     "legal review", "2026-01-12T09:00:00Z", "public"),
    # Bob's private deal, shared with Carol only: Alice (another rep) must never see it or its notes.
    ("D-3", "A-200", "Globex cold chain", BOB, CAROL, "discovery", "300000", "USD", "2026-06-30",
     "site visit", "2026-01-15T09:00:00Z", "private"),
]  # fmt: skip
CONTACTS = [
    ("C-1", "A-100", "Dana Smith", "CTO", "dana@acme.example", "+1 555 0100"),
    ("C-2", "A-200", "Eli Jones", "VP Operations", "eli@globex.example", ""),
]
NOTES = [
    ("N-1", "A-100", "D-1", ALICE, "2026-01-10T09:00:00Z", "call", "Pricing call",
     "Dana asked about volume pricing for forty welding robots and a three year warranty."),
    ("N-2", "A-100", "D-2", ALICE, "2026-01-12T10:00:00Z", "email", "Renewal terms",
     "Their lawyers want a liability cap before they sign the service renewal."),
    ("N-3", "A-200", "D-3", BOB, "2026-01-15T11:00:00Z", "meeting", "Confidential discount",
     "Globex wants a confidential discount on refrigerated trucks; keep the zebrafish codename quiet."),
    ("N-4", "A-100", "", ALICE, "2026-01-16T08:00:00Z", "note", "Plant tour",
     "Toured the Acme plant; the painting line is a good fit for our arms."),
]  # fmt: skip
SECRET_NOTE = "N-3"
DOC_ID = "guides/onboarding.md"
DOC_TEXT = """# Onboarding guide

## Single sign-on
Closer supports SAML single sign-on with Okta and Azure AD. Enable it under Settings, Security.

## Data retention
Call recordings are kept for ninety days and then deleted automatically.
"""

ALL_RECORDS = frozenset(
    [("account", r[0]) for r in ACCOUNTS]
    + [("deal", r[0]) for r in DEALS]
    + [("contact", r[0]) for r in CONTACTS]
    + [("note", r[0]) for r in NOTES]
)
# What Alice may read: A-100 is public and so are its deals; contacts and notes inherit.
ALICE_VISIBLE = frozenset(
    {("account", "A-100"), ("deal", "D-1"), ("deal", "D-2"), ("contact", "C-1")}
    | {("note", "N-1"), ("note", "N-2"), ("note", "N-4")}
)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_crm(folder: Path, *, notes: Sequence[Sequence[str]] = NOTES) -> Path:
    """The small CRM export above, as the contract's four CSV files."""
    from bot.knowledge.crm import COLUMNS

    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "accounts.csv", COLUMNS["accounts"], ACCOUNTS)
    write_csv(folder / "deals.csv", COLUMNS["deals"], DEALS)
    write_csv(folder / "contacts.csv", COLUMNS["contacts"], CONTACTS)
    write_csv(folder / "notes.csv", COLUMNS["notes"], notes)
    return folder


def write_docs(folder: Path) -> Path:
    path = folder / DOC_ID
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOC_TEXT, encoding="utf-8")
    return folder


def child_env(**settings: str) -> dict[str, str]:
    """``os.environ`` minus every Closer/Slack/Chroma setting, offline, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


def run_closer(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the real program (``python -m bot``, the same as ``closer``) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_closer_here(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What :func:`run_closer` runs, in this process: ``bot.cli.main`` with ``env``'s settings in the
    environment and ``cwd`` as the working directory, its output captured. It skips only the start of
    a new interpreter, so keep at least one :func:`run_closer` per command for that."""
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if name.startswith(ENV_PREFIXES):
                patch.setenv(name, value)
        patch.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own usage errors
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return subprocess.CompletedProcess(["closer", *args], code, out.getvalue(), err.getvalue())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
