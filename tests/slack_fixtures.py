"""The in-process Slack app harness shared by :mod:`tests.test_slack_app` and
:mod:`tests.test_slack_surfaces`: a real uvicorn server on 127.0.0.1 running the app, against a fake
Slack (:mod:`tests.fake_slack`) and fake standard and private OpenAI-compatible endpoints.

A test module gets the ``crm`` and ``h`` fixtures by importing ``crm_fixture`` and ``harness_fixture``
(pytest registers them under the short names). ``h`` takes settings overrides by indirect
parametrization: ``@pytest.mark.parametrize("h", [{"slack_memory_seconds": 0}], indirect=True)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from bot.assistant import Assistant
from bot.config import load_settings
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from bot.llm.router import LLMRouter
from bot.observability import METRICS
from bot.slack import buttons as b
from bot.slack.server import build, listen, uvicorn_server
from bot.slack.service import SlackService
from bot.state.store import StateStore
from tests.crm_fixtures import small_export
from tests.fake_openai import FakeOpenAI
from tests.fake_slack import FakeSlack, FakeSocketMode, SlackDriver

SECRET = "test-signing-secret-4f9a2c"
TOKEN = "xoxb-test-token-77c1e0"
APP_TOKEN = "xapp-test-token-5b3d"
MARKER = "QUOKKA-MARKER-5521"


@dataclass
class Harness:
    fake: FakeSlack
    std: FakeOpenAI
    priv: FakeOpenAI
    svc: SlackService
    driver: SlackDriver
    url: str

    def chats(self, api: FakeOpenAI) -> list[dict[str, Any]]:
        return [r.json() for r in list(api.requests) if r.path.endswith("/chat/completions")]

    def prompt(self, api: FakeOpenAI, n: int = -1) -> str:
        return json.dumps(self.chats(api)[n]["messages"])

    def answer_value(self, name: str) -> b.ButtonValue:
        """The button value of the answer posted to response URL ``name``."""
        blocks = self.fake.wait_responses(name)[-1].params["blocks"]
        actions = [e for blk in blocks if blk["type"] == "actions" for e in blk["elements"]]
        return b.ButtonValue.decode(next(e["value"] for e in actions if e["action_id"] == b.UP))


def metric(name: str, **labels: str) -> float:
    return METRICS.registry.get_sample_value(name, labels) or 0.0


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll a condition no fake can signal (a metric), bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def text_of(call_params: dict[str, Any]) -> str:
    return json.dumps(call_params, ensure_ascii=False)


@contextmanager
def running(app: Starlette, settings: Any) -> Iterator[str]:
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn_server(app, settings)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert eventually(lambda: server.started, 15), "server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module", name="crm")
def crm_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_export(tmp_path_factory.mktemp("crm"))


@contextmanager
def harness_for(tmp_path: Path, embedder: LocalEmbedder, crm: Path, *, socket: FakeSocketMode | None = None,
                **overrides: Any) -> Iterator[Harness]:  # fmt: skip
    with FakeSlack() as fake, FakeOpenAI(model="std-model") as std, FakeOpenAI(model="priv-model") as priv:
        std.reply = priv.reply = lambda body: "They asked for **15%** off the AX-PRO-2 bundle [1]."
        values: dict[str, Any] = {
            "chroma_path": tmp_path / "chroma", "state_url": f"sqlite:///{tmp_path / 'state.db'}",
            "cache_dir": tmp_path / "cache", "index_refresh_seconds": 0, "llm_retry_seconds": 2,
            "llm_timeout_seconds": 10, "llm_base_url": std.base_url, "llm_api_key": "sk-std",
            "llm_model": "std-model", "private_llm_base_url": priv.base_url, "private_llm_api_key": "sk-priv",
            "private_llm_model": "priv-model", "slack_bot_token": TOKEN, "slack_signing_secret": SECRET,
            "slack_api_url": fake.api_url, "slack_shutdown_seconds": 10, "digest_scheduler": False,
        }  # fmt: skip
        if socket is not None:
            fake.socket_url = socket.url
            values["slack_app_token"] = APP_TOKEN
        values.update(overrides)
        settings = load_settings(**values)
        kb = KnowledgeBase.open(settings, embedder)
        kb.ingest_crm(crm)
        assistant = Assistant(settings, kb, LLMRouter(settings), StateStore.open(settings.state_url))
        svc, app = build(settings, assistant)
        try:
            with running(app, settings) as url:
                driver = SlackDriver(url, SECRET, fake)
                yield Harness(fake, std, priv, svc, driver, url)
                driver.close()
        finally:
            assistant.state.close()


@pytest.fixture(name="h")
def harness_fixture(
    tmp_path: Path, embedder: LocalEmbedder, crm: Path, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    with harness_for(tmp_path, embedder, crm, **getattr(request, "param", {})) as harness:
        yield harness


def mention(user: str, text: str, ts: str = "1700000100.000100", channel: str = "C200") -> dict[str, Any]:
    return {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "channel": channel, "ts": ts}
