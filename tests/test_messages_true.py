"""Messages stay true: masking a secret never mangles the words around it, the PostgreSQL driver
hint names the one install command, `closer serve` says where and how it runs, library warnings
are one line each."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import StateError
from bot.observability import JsonFormatter, mask_secrets, readable_warnings, secrets_of
from bot.state.engine import POSTGRES_INSTALL
from bot.state.store import StateStore

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "secret", "shown"),
    [
        ("No module named 'psycopg'", "p", "No module named 'psycopg'"),
        ("password for user p failed", "p", "password for user *** failed"),
        ("postgresql://closer:p@db/closer", "p", "postgresql://closer:***@db/closer"),
        ("key=sk-live-0123456789abcdef; retry", "sk-live-0123456789abcdef", "key=***; retry"),
        # A long secret glued to other text is still masked: it cannot be a word by chance.
        ("tokenxoxb-1234567890-abcdefXYZ", "xoxb-1234567890-abcdef", "token***XYZ"),
    ],
)
def test_a_secret_is_masked_and_only_the_secret(text: str, secret: str, shown: str) -> None:
    assert mask_secrets(text, [secret]) == shown


def test_a_missing_postgres_driver_is_named_whole_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(StateError) as caught:
        StateStore.open("postgresql+psycopg://closer:p@127.0.0.1:1/closer")
    message = str(caught.value)
    assert "psycopg" in message and "***syco" not in message
    assert POSTGRES_INSTALL in message
    assert "closer:***@127.0.0.1" in message


def test_one_install_command_for_the_postgres_extra_everywhere() -> None:
    import re

    texts = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "bot").rglob("*.py")]
    found = {m.group(0).strip("`") for p in texts for m in re.finditer(r"pip install[^`\n]*postgres[^`\n]*",
                                                                        p.read_text(encoding="utf-8"))}  # fmt: skip
    found.discard("pip install -e '.[postgres]'\"")  # the constant itself, in bot/state/engine.py
    assert found == {POSTGRES_INSTALL}, found


def test_json_logs_mask_a_short_password_without_mangling_words() -> None:
    settings = load_settings(state_url="postgresql+psycopg://closer:p@db/closer")
    assert "p" in secrets_of(settings)
    formatter = JsonFormatter(secrets=secrets_of(settings))
    record = logging.LogRecord(
        "bot.state", logging.ERROR, __file__, 1, "psycopg said: bad password p", None, None
    )
    assert json.loads(formatter.format(record))["message"] == "psycopg said: bad password ***"


def test_library_warnings_are_one_line_naming_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored afterwards
    readable_warnings()
    line = warnings.formatwarning(
        DeprecationWarning("old API,\n  use the new one"), DeprecationWarning,
        "/x/.venv/lib/python3.11/site-packages/chromadb/api/client.py", 12, "    warnings.warn(...)",
    )  # fmt: skip
    assert line == "closer: warning from chromadb: DeprecationWarning: old API, use the new one\n"


def test_the_cli_shows_library_warnings_as_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored afterwards
    with pytest.raises(SystemExit):
        main(["--version"])
    line = warnings.formatwarning(UserWarning("a\nb"), UserWarning, "/v/site-packages/onnxruntime/x.py", 3)
    assert line == "closer: warning from onnxruntime: UserWarning: a b\n"


def test_serve_says_where_and_how_it_runs_without_secrets() -> None:
    from bot.slack.server import startup_summary

    http = load_settings(
        slack_bot_token="xoxb-bot-token-123456", slack_signing_secret="signing-secret-123456",
        host="127.0.0.1", port=3999, state_url="postgresql+psycopg://closer:dbpass-123@db:5432/closer",
        llm_api_key="sk-standard-key-123456", private_llm_base_url="http://user:pw@llm.internal:8080/v1",
    )  # fmt: skip
    line = startup_summary(http)
    assert "HTTP mode on http://127.0.0.1:3999" in line
    assert "embedded store" in line and "STATE_URL=postgresql+psycopg://closer:***@db:5432/closer" in line
    assert "standard endpoint api.openai.com" in line and "private endpoint llm.internal:8080" in line
    for secret in ["xoxb-bot-token-123456", "signing-secret-123456", "dbpass-123", "sk-standard", "pw@"]:
        assert secret not in line
    socket_mode = load_settings(
        slack_bot_token="xoxb-1", slack_app_token="xapp-1", chroma_url="http://chroma:8000"
    )
    line = startup_summary(socket_mode)
    assert "Socket Mode" in line and "Chroma server chroma:8000" in line
    assert "standard endpoint none" in line and "private endpoint none (private requests are refused)" in line
