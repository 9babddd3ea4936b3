"""Secrets never show: the masking helpers, and CHROMA_URL's password everywhere it could be printed
(doctor, the store's errors, settings errors, logs) — masked like STATE_URL's."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.doctor import render, run_checks
from bot.errors import CloserError, SettingsError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from bot.observability import configure_logging
from bot.privacy.secrets import MASK, host_of, mask_secrets, masked_url, plain_summary, secrets_of
from tests.helpers_chroma import free_port

CHROMA_PASSWORD = "chroma-pw-51zq"


def test_mask_secrets_hides_keys_tokens_and_url_passwords_but_keeps_prose() -> None:
    text = (
        "key sk-proj-abcDEF123456 and xoxb-1111-2222-abcdef, Authorization: Bearer abc.def-123456, "
        "https://u:pa55word@host/x, AKIAABCDEFGHIJKLMNOP, api_key=zz-top-99, and my-own-secret-value"
    )
    masked = mask_secrets(text, ["my-own-secret-value"])
    for secret in ("sk-proj-abcDEF123456", "xoxb-1111", "abc.def-123456", "pa55word", "AKIAABCDEFGHIJKLMNOP",
                   "zz-top-99", "my-own-secret-value"):  # fmt: skip
        assert secret not in masked
    prose = "the Slack signing secret: SLACK_SIGNING_SECRET is unset; an invalid token provided; AX-PRO-2"
    assert mask_secrets(prose) == prose


def test_plain_summary_has_no_live_markup_and_is_short() -> None:
    line = plain_summary("bad <!channel> <@U1> <https://a.example|b> *x* `y`\n" + "z" * 500, limit=80)
    assert not set("<>*`\n") & set(line) and len(line) <= 80


def test_urls_are_shown_without_their_credentials() -> None:
    assert masked_url(f"https://admin:{CHROMA_PASSWORD}@chroma.internal:8443/x?token=abc") == (
        f"https://admin:{MASK}@chroma.internal:8443/x?token={MASK}"
    )
    assert masked_url("https://tok3n-xyz@chroma.internal") == f"https://{MASK}@chroma.internal"
    assert host_of(f"http://admin:{CHROMA_PASSWORD}@127.0.0.1:8000") == "127.0.0.1:8000"


def test_every_configured_secret_is_listed_for_masking() -> None:
    settings = load_settings(
        chroma_url=f"http://admin:{CHROMA_PASSWORD}@127.0.0.1:8000",
        state_url="postgresql+psycopg://closer:db-pw-777@127.0.0.1/closer",
        llm_base_url="https://proxy:llm-url-pw@127.0.0.1/v1",
        llm_api_key="sk-llm-key-1",
        slack_bot_token="xoxb-bot-token-1",
    )
    listed = secrets_of(settings)
    assert {CHROMA_PASSWORD, "db-pw-777", "llm-url-pw", "sk-llm-key-1", "xoxb-bot-token-1"} <= set(listed)
    assert "closer" not in listed  # a database user name is not a secret


@pytest.fixture
def chroma_with_password(tmp_path: Path) -> str:
    return f"http://admin:{CHROMA_PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there


def test_doctor_never_prints_the_chroma_password(
    tmp_path: Path, embedder: LocalEmbedder, chroma_with_password: str
) -> None:
    settings = load_settings(chroma_url=chroma_with_password, state_url=f"sqlite:///{tmp_path / 'state.db'}")
    lines = [render(c, secrets_of(settings)) for c in run_checks(settings, embedder=embedder)]
    store = [line for line in lines if line.startswith("✗ knowledge store")]
    assert store, lines
    assert all(CHROMA_PASSWORD not in line for line in lines), lines
    assert "127.0.0.1" in store[0]


def test_store_errors_and_logs_never_show_the_chroma_password(
    tmp_path: Path, embedder: LocalEmbedder, chroma_with_password: str
) -> None:
    settings = load_settings(chroma_url=chroma_with_password)
    with pytest.raises(CloserError) as caught:
        KnowledgeBase.open(settings, embedder)
    assert CHROMA_PASSWORD not in str(caught.value) and "Chroma server" in str(caught.value)
    stream = io.StringIO()
    handler = configure_logging("INFO", secrets=secrets_of(settings), stream=stream)
    try:
        logging.getLogger("bot.test").warning("store at %s failed", settings.chroma_url)
        logging.getLogger("bot.test").warning("endpoint said: bad key sk-proj-unconfigured99")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["message"] for line in lines)
    assert CHROMA_PASSWORD not in stream.getvalue() and "sk-proj-unconfigured99" not in stream.getvalue()


def test_a_bad_url_setting_is_named_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(chroma_url=f"ftp://admin:{CHROMA_PASSWORD}@host")
    assert "CHROMA_URL" in str(caught.value) and CHROMA_PASSWORD not in str(caught.value)


def test_cli_store_errors_hide_the_chroma_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], chroma_with_password: str
) -> None:
    monkeypatch.setenv("CHROMA_URL", chroma_with_password)
    assert main(["search", "anything", "--as", "a@x.example"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("closer: ") and CHROMA_PASSWORD not in err
