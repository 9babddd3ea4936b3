"""A real ``closer serve`` process for the Slack benchmarks, wired to the test fakes on loopback.

The sample company is ingested into a temp store first; the fake Slack (``tests/fake_slack.py``) and
the fake OpenAI-compatible server (``tests/fake_openai.py``) run in this process, so their clocks and
the driver's are the same.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from bot.config import load_settings
from bot.knowledge.base import KnowledgeBase
from tests.fake_openai import FakeOpenAI
from tests.fake_slack import FakeSlack, SlackDriver
from tests.helpers_chroma import child_env

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"


@dataclass
class Serving:
    url: str
    fake: FakeSlack
    llm: FakeOpenAI
    driver: SlackDriver
    proc: subprocess.Popen[str]


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(*, llm_delay: float, workers: int, **env: str) -> Iterator[Serving]:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake, FakeOpenAI(model="bench-model") as llm:
        root = Path(tmp)
        settings = load_settings(chroma_path=root / "chroma", state_url=f"sqlite:///{root / 'state.db'}",
                                 cache_dir=root / "cache")  # fmt: skip
        KnowledgeBase.open(settings).ingest_sample()
        llm.delay = llm_delay
        llm.reply = lambda body: "Halvorsen asked for **12%** off the frozen-zone robots [1]. " * 6
        port = _free_port()
        child = child_env(CHROMA_PATH=str(root / "chroma"), STATE_URL=f"sqlite:///{root / 'state.db'}",
                          CACHE_DIR=str(root / "cache"), LLM_BASE_URL=llm.base_url, LLM_API_KEY="sk-bench",
                          LLM_MODEL="bench-model", SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
                          SLACK_API_URL=fake.api_url, HOST="127.0.0.1", PORT=str(port),
                          SLACK_WORKER_THREADS=str(workers), DIGEST_SCHEDULER="false", LOG_LEVEL="WARNING",
                          **env)  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=root, env=child, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise SystemExit("closer serve exited early")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("closer serve did not become healthy")
                time.sleep(0.1)
            driver = SlackDriver(url, SECRET, fake)
            yield Serving(url, fake, llm, driver, proc)
            driver.close()
        finally:
            proc.terminate()
            proc.wait(60)
