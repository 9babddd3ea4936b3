"""``closer doctor`` against real parts: a fake OpenAI-compatible server and a fake Slack Web API over
HTTP on 127.0.0.1, an embedded Chroma and a SQLite state database in a temp folder, the real model.

Exit status: 0 when every check passed or was skipped, 1 when one failed, 2 when settings do not load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.cli import main
from bot.config import Settings, load_settings
from bot.doctor import REQUIRED_SCOPES, Check, exit_status, render, run_checks
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from bot.observability import secrets_of
from tests.fake_openai import Failure, FakeOpenAI
from tests.helpers_chroma import ALL_RECORDS, free_port, write_crm
from tests.loopback import LoopbackServer, QuietHandler

BOT_TOKEN = "xoxb-good-token-1234"
APP_TOKEN = "xapp-good-token-5678"
SIGNING_SECRET = "signing-secret-9abc"
LLM_KEY = "sk-test-secret-4321"
PRIVATE_KEY = "sk-private-secret-8765"


@dataclass
class FakeSlack:
    """The two Web API methods the doctor calls: ``auth.test`` and ``apps.connections.open``."""

    scopes: set[str] = field(default_factory=lambda: set(REQUIRED_SCOPES))
    calls: list[str] = field(default_factory=list)
    server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/api/"

    def answer(self, method: str, token: str) -> tuple[dict[str, Any], dict[str, str]]:
        self.calls.append(method)
        if method == "auth.test" and token == BOT_TOKEN:
            body = {"ok": True, "url": "https://brindlewood.slack.com/", "team": "Brindlewood",
                    "user": "closer", "team_id": "T0001", "user_id": "U0001", "bot_id": "B0001"}  # fmt: skip
            return body, {"x-oauth-scopes": ",".join(sorted(self.scopes))}
        if method == "apps.connections.open" and token == APP_TOKEN:
            return {"ok": True, "url": "wss://127.0.0.1/link"}, {}
        return {"ok": False, "error": "invalid_auth"}, {}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.read_body().decode())
            token = (
                self.headers.get("Authorization", "").removeprefix("Bearer ") or form.get("token", [""])[0]
            )
            body, headers = fake.answer(self.path.rsplit("/", 1)[-1], token)
            self.send_json(200, body, headers)

    with LoopbackServer(Handler) as fake.server:
        yield fake


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(model="fake-model") as fake:
        yield fake


@pytest.fixture(scope="module")
def chroma_dir(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> Path:
    """An embedded store holding the small CRM export, built once for the module."""
    root = tmp_path_factory.mktemp("doctor-store")
    settings = load_settings(chroma_path=root / "chroma", state_url=f"sqlite:///{root / 'state.db'}")
    kb = KnowledgeBase.open(settings, embedder)
    assert kb.ingest_crm(write_crm(root / "crm")).added == len(ALL_RECORDS)
    return root / "chroma"


@pytest.fixture
def green(chroma_dir: Path, llm: FakeOpenAI, slack: FakeSlack, tmp_path: Path) -> dict[str, str]:
    """Settings (as environment variables) under which every check passes."""
    return {
        "CHROMA_PATH": str(chroma_dir),
        "STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "LLM_BASE_URL": llm.base_url,
        "LLM_API_KEY": LLM_KEY,
        "LLM_MODEL": "fake-model",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
    }


def _settings(env: dict[str, str], **changes: str | None) -> Settings:
    values = {**env, **changes}
    return load_settings(**{k.lower(): v for k, v in values.items() if v is not None})


def _doctor(settings: Settings, embedder: LocalEmbedder) -> tuple[int, dict[str, str]]:
    checks = list(run_checks(settings, embedder=embedder))
    lines = {c.name: render(c, secrets_of(settings)) for c in checks}
    return exit_status(checks), lines


def _no_secret_in(text: str) -> None:
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, LLM_KEY, PRIVATE_KEY, "pw-secret-xyz"):
        assert secret not in text


# --- the whole command ---------------------------------------------------------------------------------


def test_all_green_exits_0_with_one_line_per_check(
    green: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in green.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "✓ settings", "✓ state database", "✓ embedding model", "✓ knowledge store", "✓ standard LLM",
        "– private LLM", "✓ Slack bot token", "✓ Slack signing secret", "– Slack app token", "– hubspot CRM", "– salesforce CRM",
    ]  # fmt: skip
    held = re.search(r"collection closer_chunks holds (\d+) chunks", out)
    assert held and int(held.group(1)) >= len(ALL_RECORDS)  # one chunk or more per record
    assert "all-MiniLM-L6-v2" in out and "384 dimensions" in out
    assert "model fake-model listed and answered a 1-token completion" in out
    assert "@closer (U0001) in Brindlewood" in out
    _no_secret_in(out)


def test_a_bad_setting_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    assert main(["doctor"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("closer: setting PORT:")


def test_a_failed_check_exits_1_from_the_command(
    green: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in green.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ Slack bot token: SLACK_BOT_TOKEN is unset" in out
    assert out.count("✗") == 1


# --- LLM endpoints ------------------------------------------------------------------------------------


def test_a_refused_key_fails_with_a_fix(
    green: dict[str, str], llm: FakeOpenAI, embedder: LocalEmbedder
) -> None:
    llm.fail_next(Failure(401, body={"error": {"message": f"Incorrect API key provided: {LLM_KEY}"}}))
    status, lines = _doctor(_settings(green), embedder)
    assert status == 1
    line = lines["standard LLM"]
    assert line.startswith("✗ standard LLM: 127.0.0.1:")
    assert "refused the key (401)" in line
    assert "fix: set LLM_API_KEY to a valid key" in line
    _no_secret_in(line)


def test_an_unreachable_endpoint_fails_naming_the_setting(
    green: dict[str, str], embedder: LocalEmbedder
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    status, lines = _doctor(_settings(green, LLM_BASE_URL=url), embedder)
    assert status == 1
    assert "is unreachable" in lines["standard LLM"]
    assert f"fix: check LLM_BASE_URL ({url})" in lines["standard LLM"]


def test_a_missing_model_fails_listing_what_is_offered(
    green: dict[str, str], embedder: LocalEmbedder
) -> None:
    status, lines = _doctor(_settings(green, LLM_MODEL="gpt-nope"), embedder)
    assert status == 1
    line = lines["standard LLM"]
    assert "model 'gpt-nope' is not offered" in line
    assert "(it offers: fake-model)" in line
    assert "fix: set LLM_MODEL" in line


def test_a_failing_completion_is_reported_and_an_echoed_key_is_masked(
    green: dict[str, str], llm: FakeOpenAI, embedder: LocalEmbedder
) -> None:
    # GET /models passes; the 1-token completion is refused with a message quoting the key.
    llm.fail_next(
        Failure(200), Failure(400, body={"error": {"message": f"max_tokens too small for {LLM_KEY}"}})
    )
    status, lines = _doctor(_settings(green), embedder)
    assert status == 1
    line = lines["standard LLM"]
    assert "refused the request: 400 max_tokens too small for ***" in line
    _no_secret_in(line)
    completions = [r.json() for r in llm.requests if r.path.endswith("/chat/completions")]
    assert completions and completions[-1]["max_tokens"] == 1


def test_the_private_endpoint_is_checked_when_configured(
    green: dict[str, str], embedder: LocalEmbedder
) -> None:
    with FakeOpenAI(model="private-model") as private:
        settings = _settings(
            green, PRIVATE_LLM_BASE_URL=private.base_url, PRIVATE_LLM_API_KEY=PRIVATE_KEY,
            PRIVATE_LLM_MODEL="private-model",
        )  # fmt: skip
        status, lines = _doctor(settings, embedder)
        assert status == 0, lines
        assert lines["private LLM"].startswith("✓ private LLM:")
        assert "model private-model" in lines["private LLM"]
        assert all(r.headers["authorization"] == f"Bearer {PRIVATE_KEY}" for r in private.requests)


def test_enforced_privacy_without_a_private_endpoint_fails(
    green: dict[str, str], embedder: LocalEmbedder
) -> None:
    status, lines = _doctor(_settings(green, PRIVACY_ENFORCED="true"), embedder)
    assert status == 1
    assert lines["private LLM"].startswith("✗ private LLM:")
    assert "fix: set PRIVATE_LLM_BASE_URL" in lines["private LLM"]


def test_no_standard_endpoint_is_skipped_not_failed(green: dict[str, str], embedder: LocalEmbedder) -> None:
    settings = _settings(green, LLM_BASE_URL="https://api.openai.com/v1", LLM_API_KEY=None)
    status, lines = _doctor(settings.model_copy(update={"llm_api_key": None}), embedder)
    assert status == 0
    assert lines["standard LLM"].startswith("– standard LLM: not configured")


# --- Slack --------------------------------------------------------------------------------------------


def test_no_slack_token_fails_with_where_to_find_it(green: dict[str, str], embedder: LocalEmbedder) -> None:
    settings = _settings(green).model_copy(update={"slack_bot_token": None})
    status, lines = _doctor(settings, embedder)
    assert status == 1
    assert lines["Slack bot token"] == (
        "✗ Slack bot token: SLACK_BOT_TOKEN is unset (closer serve needs it) — fix: copy the Bot User "
        "OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page into it"
    )


def test_a_revoked_slack_token_fails(
    green: dict[str, str], slack: FakeSlack, embedder: LocalEmbedder
) -> None:
    status, lines = _doctor(_settings(green, SLACK_BOT_TOKEN="xoxb-revoked-0000"), embedder)
    assert status == 1
    assert "auth.test failed: Slack answered invalid_auth" in lines["Slack bot token"]
    assert "xoxb-revoked-0000" not in lines["Slack bot token"]
    assert slack.calls == ["auth.test"]


def test_missing_scopes_fail_naming_them(
    green: dict[str, str], slack: FakeSlack, embedder: LocalEmbedder
) -> None:
    slack.scopes -= {"assistant:write", "users:read.email"}
    status, lines = _doctor(_settings(green), embedder)
    assert status == 1
    assert "lacks scopes assistant:write, users:read.email" in lines["Slack bot token"]
    assert "reinstall the app" in lines["Slack bot token"]


def test_http_mode_needs_the_signing_secret(green: dict[str, str], embedder: LocalEmbedder) -> None:
    settings = _settings(green).model_copy(update={"slack_signing_secret": None})
    status, lines = _doctor(settings, embedder)
    assert status == 1
    assert lines["Slack signing secret"].startswith("✗ Slack signing secret: SLACK_SIGNING_SECRET is unset")


def test_socket_mode_checks_the_app_token_instead(
    green: dict[str, str], slack: FakeSlack, embedder: LocalEmbedder
) -> None:
    settings = _settings(green, SLACK_APP_TOKEN=APP_TOKEN).model_copy(update={"slack_signing_secret": None})
    status, lines = _doctor(settings, embedder)
    assert status == 0, lines
    assert lines["Slack signing secret"] == "– Slack signing secret: not used in Socket Mode"
    assert lines["Slack app token"] == "✓ Slack app token: Socket Mode connections can be opened"
    assert "Socket Mode" in lines["settings"]
    status, lines = _doctor(_settings(green, SLACK_APP_TOKEN="xapp-wrong-0000"), embedder)
    assert status == 1
    assert "apps.connections.open failed: Slack answered invalid_auth" in lines["Slack app token"]


# --- state, store, model ------------------------------------------------------------------------------


def test_an_unreachable_state_database_fails_without_showing_its_password(
    green: dict[str, str], embedder: LocalEmbedder
) -> None:
    url = f"postgresql+psycopg://closer:pw-secret-xyz@127.0.0.1:{free_port()}/closer"
    status, lines = _doctor(_settings(green, STATE_URL=url), embedder)
    assert status == 1
    line = lines["state database"]
    assert line.startswith("✗ state database: state database STATE_URL=postgresql+psycopg://closer:***@")
    assert "fix: check STATE_URL" in line
    _no_secret_in(line)


def test_the_state_database_is_at_head(green: dict[str, str], embedder: LocalEmbedder) -> None:
    from bot.state import head_revision

    _, lines = _doctor(_settings(green), embedder)
    assert lines["state database"].endswith(f"opens, schema at {head_revision()} (head)")


def test_a_missing_or_empty_store_fails_with_how_to_load_it(
    green: dict[str, str], tmp_path: Path, embedder: LocalEmbedder
) -> None:
    status, lines = _doctor(_settings(green, CHROMA_PATH=str(tmp_path / "nothing")), embedder)
    assert status == 1
    assert "the folder does not exist" in lines["knowledge store"]
    assert "closer ingest crm DIR" in lines["knowledge store"]
    assert not (tmp_path / "nothing").exists(), "the doctor creates nothing"

    empty = tmp_path / "empty"
    empty.mkdir()
    _, lines = _doctor(_settings(green, CHROMA_PATH=str(empty)), embedder)
    assert "has no Closer collection (closer_chunks)" in lines["knowledge store"]


def test_a_store_built_with_another_embedder_fails(
    green: dict[str, str], tmp_path: Path, embedder: LocalEmbedder
) -> None:
    from bot.knowledge.store import ChunkStore

    other = _settings(green, CHROMA_PATH=str(tmp_path / "other"))
    ChunkStore.open(other, embedder_id="hash-64", dimension=64)
    status, lines = _doctor(other, embedder)
    assert status == 1
    assert f"built with hash-64, but {embedder.model_id} is configured" in lines["knowledge store"]


def test_an_unreachable_chroma_server_fails(green: dict[str, str], embedder: LocalEmbedder) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    status, lines = _doctor(_settings(green, CHROMA_URL=url), embedder)
    assert status == 1
    assert lines["knowledge store"].startswith("✗ knowledge store:")
    assert url in lines["knowledge store"]


def test_a_missing_model_folder_fails_with_the_install_hint(green: dict[str, str], tmp_path: Path) -> None:
    settings = _settings(green, EMBEDDING_MODEL_DIR=str(tmp_path))
    checks = list(run_checks(settings))
    (check,) = [c for c in checks if c.name == "embedding model"]
    assert check.failed
    assert "embedding model file missing" in check.detail
    assert "make install" in check.fix
    assert exit_status(checks) == 1


# --- rendering ----------------------------------------------------------------------------------------


def test_render_is_one_line_and_masks_every_secret() -> None:
    check = Check("x", "fail", f"server said:\n{LLM_KEY} is wrong", "set LLM_API_KEY")
    assert render(check, [LLM_KEY]) == "✗ x: server said: *** is wrong — fix: set LLM_API_KEY"
    assert render(Check("y", "skip", "not configured")) == "– y: not configured"
    assert render(Check("z", "ok", "fine", "ignored")) == "✓ z: fine"
