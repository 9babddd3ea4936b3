"""The real ``closer serve`` process, end to end: settings checks, HTTP on a free port, health and
metrics, a slash command answered through the fake Slack, JSON logs, and a clean SIGTERM.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.config import load_settings
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import LocalEmbedder
from tests.crm_fixtures import small_export
from tests.fake_openai import FakeOpenAI
from tests.fake_slack import FakeSlack, SlackDriver
from tests.helpers_chroma import child_env, free_port, run_closer

SECRET = "serve-signing-secret-91d0"
TOKEN = "xoxb-serve-token-3e8b"


def test_serve_without_a_bot_token_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = run_closer("serve", cwd=tmp_path, env=child_env(), timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "SLACK_BOT_TOKEN" in done.stderr and "Traceback" not in done.stderr


def test_serve_in_http_mode_needs_the_signing_secret(tmp_path: Path) -> None:
    done = run_closer("serve", cwd=tmp_path, env=child_env(SLACK_BOT_TOKEN=TOKEN), timeout=60)
    assert done.returncode == 2 and "SLACK_SIGNING_SECRET" in done.stderr and done.stderr.count("\n") == 1


def test_serve_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = child_env(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, PORT=port)
        done = run_closer("serve", cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 2 and "PORT" in done.stderr and done.stderr.count("\n") == 1


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("closer serve did not become healthy")


def test_serve_end_to_end_then_drains_on_sigterm(tmp_path: Path, embedder: LocalEmbedder) -> None:
    chroma, state = tmp_path / "chroma", f"sqlite:///{tmp_path / 'state.db'}"
    settings = load_settings(chroma_path=chroma, state_url=state, cache_dir=tmp_path / "cache")
    KnowledgeBase.open(settings, embedder).ingest_crm(small_export(tmp_path / "crm"))
    with FakeSlack() as fake, FakeOpenAI(model="std-model") as std:
        std.reply = lambda body: "They asked for **15%** off the AX-PRO-2 bundle [1]."
        port = free_port()
        env = child_env(CHROMA_PATH=str(chroma), STATE_URL=state, CACHE_DIR=str(tmp_path / "cache"),
                        LLM_BASE_URL=std.base_url, LLM_API_KEY="sk-serve-std", LLM_MODEL="std-model",
                        SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.api_url,
                        HOST="127.0.0.1", PORT=str(port), DIGEST_SCHEDULER="false", SLACK_SHUTDOWN_SECONDS="20")  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc)
            driver = SlackDriver(url, SECRET, fake)
            std.hold()  # the ack must not wait for the LLM: it comes while the answer is held back
            try:
                r, name = driver.command("What discount did Acme ask for?")
                assert r.status_code == 200 and "Working on it" in r.text
                assert fake.responses_to(name) == []
            finally:
                std.release()
            (answer,) = fake.wait_responses(name, timeout=30)
            assert "*15%*" in json.dumps(answer.params, ensure_ascii=False)
            metrics = httpx.get(f"{url}/metrics").text
            assert 'closer_requests_total{outcome="ok",surface="command"} 1.0' in metrics
            assert "closer_ack_seconds_count" in metrics and "closer_llm_tokens_total" in metrics

            std.delay = 1.5  # an answer in flight when SIGTERM arrives still reaches the user
            r, slow = driver.command("What discount did Acme ask for? (slow)")
            assert r.status_code == 200
            deadline = time.monotonic() + 20  # the answer is being written when the signal arrives
            while len(std.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(std.requests) == 2
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            driver.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err[-3000:]
        assert fake.wait_responses(slow, timeout=5)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["message"] == "stopped" and line.get("drained") is True for line in lines)
    # The first line says where it listens and how it runs (no secret in it: checked just below).
    assert lines[0]["message"].startswith(f"closer serve: HTTP mode on http://127.0.0.1:{port} ")
    assert (
        f"embedded store {chroma}" in lines[0]["message"] and "private endpoint none" in lines[0]["message"]
    )
    for secret in (TOKEN, SECRET, "sk-serve-std", "What discount", "15%"):
        assert secret not in err and secret not in out, secret
