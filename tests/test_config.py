"""Settings: the contract's names, from the environment and ``.env``; defaults; one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings, parse_days
from bot.errors import CloserError, SettingsError
from tests.helpers_chroma import child_env, run_closer

# (contract name, raw value, Settings attribute, parsed value)
CONTRACT_SETTINGS: list[tuple[str, str, str, object]] = [
    ("SLACK_BOT_TOKEN", "xoxb-test-token", "slack_bot_token", "xoxb-test-token"),
    ("SLACK_SIGNING_SECRET", "s3cret", "slack_signing_secret", "s3cret"),
    ("SLACK_APP_TOKEN", "xapp-test-token", "slack_app_token", "xapp-test-token"),
    ("SLACK_API_URL", "http://127.0.0.1:9999/api", "slack_api_url", "http://127.0.0.1:9999/api/"),
    ("SLACK_COMMAND", "/deals", "slack_command", "/deals"),
    ("HOST", "0.0.0.0", "host", "0.0.0.0"),
    ("PORT", "8080", "port", 8080),
    ("LLM_BASE_URL", "http://127.0.0.1:8001/v1", "llm_base_url", "http://127.0.0.1:8001/v1"),
    ("LLM_API_KEY", "sk-standard", "llm_api_key", "sk-standard"),
    ("LLM_MODEL", "small-model", "llm_model", "small-model"),
    ("PRIVATE_LLM_BASE_URL", "http://127.0.0.1:8002/v1", "private_llm_base_url", "http://127.0.0.1:8002/v1"),
    ("PRIVATE_LLM_API_KEY", "sk-private", "private_llm_api_key", "sk-private"),
    ("PRIVATE_LLM_MODEL", "private-model", "private_llm_model", "private-model"),
    ("PRIVACY_DEFAULT", "private", "privacy_default", "private"),
    ("PRIVACY_ENFORCED", "true", "privacy_enforced", True),
    ("EMBEDDING_PROVIDER", "openai", "embedding_provider", "openai"),
    ("CHROMA_PATH", "/srv/closer/chroma", "chroma_path", Path("/srv/closer/chroma")),
    ("CHROMA_URL", "http://127.0.0.1:8000/", "chroma_url", "http://127.0.0.1:8000"),
    ("STATE_URL", "sqlite:///./state.db", "state_url", "sqlite:///./state.db"),
    ("ADMIN_EMAILS", "boss@x.example", "admin_emails", "boss@x.example"),
    ("DIGEST_TIME", "07:30", "digest_time", "07:30"),
    ("DIGEST_DAYS", "mon,wed,fri", "digest_days", "mon,wed,fri"),
]

BAD_VALUES = [
    ("PORT", "abc"),
    ("PRIVACY_DEFAULT", "secret"),
    ("DIGEST_TIME", "25:00"),
    ("DIGEST_DAYS", "funday"),
    ("CHROMA_URL", "not-a-url"),
    ("EMBEDDING_PROVIDER", "foo"),
]


@pytest.mark.parametrize(
    ("name", "raw", "attr", "expected"), CONTRACT_SETTINGS, ids=[c[0] for c in CONTRACT_SETTINGS]
)
def test_each_contract_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, attr: str, expected: object
) -> None:
    monkeypatch.setenv(name, raw)
    assert getattr(load_settings(), attr) == expected


def test_all_contract_settings_are_read_from_a_dotenv_file_in_the_cwd(isolated_env: Path) -> None:
    lines = [f"{name}={raw}" for name, raw, _, _ in CONTRACT_SETTINGS]
    (isolated_env / ".env").write_text("# Closer settings\n" + "\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings()
    for name, _, attr, expected in CONTRACT_SETTINGS:
        assert getattr(settings, attr) == expected, name


def test_the_environment_wins_over_dotenv(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_env / ".env").write_text("PORT=4000\nSLACK_COMMAND=/dotenv\n", encoding="utf-8")
    monkeypatch.setenv("PORT", "5000")
    settings = load_settings()
    assert settings.port == 5000
    assert settings.slack_command == "/dotenv"


def test_a_dotenv_file_elsewhere_is_not_read(tmp_path: Path, isolated_env: Path) -> None:
    (tmp_path / ".env").write_text("PORT=4000\n", encoding="utf-8")  # the parent of the cwd
    assert load_settings().port == 3000


def test_defaults() -> None:
    s = load_settings()
    assert s.chroma_path == Path("./data/chroma")
    assert s.chroma_url is None
    assert s.privacy_default == "standard"
    assert s.privacy_enforced is False
    assert s.slack_command == "/sales"
    assert s.slack_api_url == "https://slack.com/api/"
    assert (s.host, s.port) == ("127.0.0.1", 3000)
    assert s.digest_time == "08:00"
    assert s.digest_days == "mon-fri"
    assert s.weekdays == frozenset({0, 1, 2, 3, 4})
    assert s.embedding_provider == "local"
    assert s.state_url == "sqlite:///./data/state.db"
    assert s.admins == frozenset()
    assert s.slack_bot_token is None and s.slack_app_token is None
    assert s.private_llm_base_url is None


@pytest.mark.parametrize(("name", "raw"), BAD_VALUES, ids=[n for n, _ in BAD_VALUES])
def test_a_bad_value_raises_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message
    assert "\n" not in message.strip()
    assert isinstance(caught.value, CloserError)


@pytest.mark.parametrize(("name", "raw"), BAD_VALUES, ids=[n for n, _ in BAD_VALUES])
def test_a_bad_value_in_dotenv_raises_the_same(isolated_env: Path, name: str, raw: str) -> None:
    (isolated_env / ".env").write_text(f"{name}={raw}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_a_bad_override_names_the_setting_too() -> None:
    with pytest.raises(SettingsError, match="PORT"):
        load_settings(port=0)


def test_admin_emails_become_a_lower_case_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_EMAILS", "A@x.example, b@x.example")
    admins = load_settings().admins
    assert admins == frozenset({"a@x.example", "b@x.example"})
    assert isinstance(admins, frozenset)


def test_admin_emails_ignore_empty_items() -> None:
    assert load_settings(admin_emails=" , Boss@X.example ,, ").admins == frozenset({"boss@x.example"})


def test_digest_time_is_normalised() -> None:
    assert load_settings(digest_time="8:05").digest_time == "08:05"
    assert load_settings(digest_time=" 23:59 ").digest_time == "23:59"


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("fri-mon", {4, 5, 6, 0}),
        ("sun-sun", {6}),
        ("mon,wed,fri", {0, 2, 4}),
        ("Mon - Tue, sat", {0, 1, 5}),
        ("sat-tue,thu", {5, 6, 0, 1, 3}),
    ],
)
def test_parse_days(spec: str, days: set[int]) -> None:
    assert parse_days(spec) == frozenset(days)


@pytest.mark.parametrize("spec", ["", ",", "funday", "mon-someday", "monday"])
def test_parse_days_refuses_what_is_not_days(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_days(spec)


def test_weekdays_wrap_around_the_week() -> None:
    assert load_settings(digest_days="fri-mon").weekdays == frozenset({4, 5, 6, 0})


def test_settings_are_a_single_typed_object() -> None:
    assert isinstance(load_settings(), Settings)


# --- the real program: a bad setting stops it with one line, status 2, no traceback -----------------------


def _assert_one_line_error(proc_stderr: str, name: str) -> None:
    lines = proc_stderr.strip().splitlines()
    assert len(lines) == 1, proc_stderr
    assert name in lines[0]
    assert "Traceback" not in proc_stderr


def test_cli_bad_setting_in_the_environment_exits_2_with_one_line(isolated_env: Path) -> None:
    proc = run_closer(
        "search", "x", "--as", "a@b.example", cwd=isolated_env, env=child_env(PRIVACY_DEFAULT="secret")
    )
    assert proc.returncode == 2, proc.stderr
    _assert_one_line_error(proc.stderr, "PRIVACY_DEFAULT")
    assert proc.stdout == ""


def test_cli_bad_setting_in_dotenv_exits_2_with_one_line(isolated_env: Path) -> None:
    (isolated_env / ".env").write_text("DIGEST_TIME=25:00\n", encoding="utf-8")
    proc = run_closer("search", "x", "--as", "a@b.example", cwd=isolated_env, env=child_env())
    assert proc.returncode == 2, proc.stderr
    _assert_one_line_error(proc.stderr, "DIGEST_TIME")


# --- a .env file that is not UTF-8 is a bad setting too: one line, status 2, no traceback -----------------


def test_a_dotenv_that_is_not_utf8_raises_settings_error(isolated_env: Path) -> None:
    (isolated_env / ".env").write_bytes(b"PORT=3000\nLLM_MODEL=caf\xe9\n")  # Latin-1, as some editors save
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert ".env" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cli_dotenv_that_is_not_utf8_exits_2_with_one_line(isolated_env: Path) -> None:
    (isolated_env / ".env").write_bytes(b"PORT=3000\nLLM_MODEL=caf\xe9\n")
    proc = run_closer("search", "x", "--as", "a@b.example", cwd=isolated_env, env=child_env())
    assert proc.returncode == 2, proc.stderr
    _assert_one_line_error(proc.stderr, ".env")
