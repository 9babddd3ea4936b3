"""Several replicas for real: two ``closer serve`` processes (HTTP mode) sharing one PostgreSQL
(``STATE_URL``) and one ``chroma run`` server (``CHROMA_URL``), one fake Slack and one fake
OpenAI-compatible endpoint, everything on 127.0.0.1.

- the same Slack event delivered to both replicas (and redelivered to both) is answered once;
- both replicas' in-process digest schedulers and a ``closer digest --send`` run at the same minute
  send one digest DM per rep;
- a note ingested with one replica's settings is found by the other within INDEX_REFRESH_SECONDS.

The fleet is started once for the module. DIGEST_TIME is the first whole minute at least
``LEAD_SECONDS`` away when the replicas start (if it passes before they are ready, the fleet is
started again with more room), and the digest test runs first: its wait is at most that minute.
PostgreSQL is TEST_POSTGRES_URL when set, else a throwaway cluster from ``.ci/start-postgres``
(skipped only when that script fails, with its stderr).
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.crm_fixtures import ALICE, BOB, CAROL, small_export, write_csv
from tests.fake_openai import FakeOpenAI
from tests.fake_slack import FakeSlack, SlackDriver
from tests.helpers_chroma import child_env, free_port, run_closer
from tests.support.services import (
    PostgresUnavailable,
    chroma_server,
    fresh_database,
    postgres_server,
    query,
    stop,
)

# The digest test waits for a whole minute, and a start-up that overran it starts the fleet again
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SECRET = "fleet-signing-secret-2c71"
TOKEN = "xoxb-fleet-token-90ad"
LLM_KEY = "sk-fleet-4410"
REPS = {"UALICE": ALICE, "UBOB": BOB, "UCAROL": CAROL}  # every rep on an open deal of small_export
DIGEST_CHANNELS = {"DALICE": ALICE, "DBOB": BOB, "DCAROL": CAROL}  # the fake's conversations.open
LEAD_SECONDS = 20.0  # replica start-up (~5 s alone, more beside another test worker) + schedule sync
CLI_HEAD_START = 1.0  # `closer digest --send` starts this early: it loads for ~1.3 s, then sends
INDEX_REFRESH_SECONDS = 1.0
SMALL_EXPORT_RECORDS = 11  # 2 accounts, 3 deals, 2 contacts, 4 notes


class FleetSlack(FakeSlack):
    """The fake Slack both replicas and the CLI share, with two additions:

    ``users.lookupByEmail`` returns the profile's time zone (real Slack does; the digest schedule
    takes each rep's zone from it), and a digest DM (a ``chat.postMessage`` outside any thread)
    takes ``post_delay`` seconds, which keeps concurrent senders inside the sending window together.
    """

    post_delay = 0.4

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage" and not p.get("thread_ts"):
            time.sleep(self.post_delay)
        out = super()._answer(method, p)
        if method == "users.lookupByEmail" and out.get("ok"):
            out["user"]["tz"] = self.users[out["user"]["id"]].get("tz")
        return out


@dataclass
class Replica:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        out = []
        for line in lines:
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    out.append(json.loads(line))
        return out

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-n:]

    def metric(self, name: str, **labels: str) -> float:
        """One sample of this replica's /metrics (0 when absent)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5, trust_env=False).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric_name, _, rest = key.partition("{")
            have = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if metric_name == name and have == want:
                return float(value)
        return 0.0


@dataclass
class Fleet:
    replicas: tuple[Replica, Replica]
    slack: FleetSlack
    llm: FakeOpenAI
    state_url: str
    crm: Path
    root: Path
    digest_at: datetime  # DIGEST_TIME today (UTC), when both schedulers fire
    lead: float  # DIGEST_TIME was at least this many seconds away when the replicas started

    def driver(self, replica: Replica) -> SlackDriver:
        return SlackDriver(replica.url, SECRET, self.slack)

    def chats(self, marker: str) -> list[str]:
        """Bodies of the chat completions the fake LLM got whose prompt holds ``marker``."""
        bodies = [r.body.decode() for r in list(self.llm.requests) if r.path.endswith("/chat/completions")]
        return [b for b in bodies if marker in b]


def eventually(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def digest_minute(now: datetime, lead: float = LEAD_SECONDS) -> datetime:
    """The first whole minute at least ``lead`` s after ``now`` (so at most ``lead`` + 60 s away)."""
    return (now + timedelta(seconds=lead + 60)).replace(second=0, microsecond=0)


def wait_healthy(replica: Replica, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert replica.proc.poll() is None, f"{replica.name} exited:\n{replica.tail()}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{replica.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{replica.name} not healthy after {timeout:.0f} s:\n{replica.tail()}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """TEST_POSTGRES_URL, or a throwaway server from .ci/start-postgres, stopped at the end."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except PostgresUnavailable as exc:
            pytest.skip(f".ci/start-postgres failed: {exc}")
        yield url


def start_fleet(stack: contextlib.ExitStack, root: Path, postgres_url: str, lead: float) -> Fleet | None:
    """The fleet with DIGEST_TIME the first whole minute at least ``lead`` s away, or None when that
    minute came before both replicas were ready (a slow machine: the caller tries again, with more room)."""
    state_url = stack.enter_context(fresh_database(postgres_url, "closer_fleet"))
    chroma = stack.enter_context(chroma_server(root / "chroma-server"))
    users = {uid: {"email": email, "tz": "UTC"} for uid, email in REPS.items()}
    slack = stack.enter_context(FleetSlack(users=users))
    llm = stack.enter_context(FakeOpenAI(model="fleet-model"))
    crm = small_export(root / "crm")

    shared = child_env(
        CHROMA_URL=chroma.url, STATE_URL=state_url, CACHE_DIR=str(root / "cache"),
        SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.api_url,
        LLM_BASE_URL=llm.base_url, LLM_API_KEY=LLM_KEY, LLM_MODEL="fleet-model",
        INDEX_REFRESH_SECONDS=str(INDEX_REFRESH_SECONDS), DIGEST_DAYS="mon-sun", DIGEST_TIMEZONE="UTC",
        DIGEST_RETRY_HOURS="0", SLACK_SHUTDOWN_SECONDS="5", HOST="127.0.0.1",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )  # fmt: skip
    done = run_closer("ingest", "crm", str(crm), cwd=root, env=shared, timeout=120)
    assert done.returncode == 0 and f"CRM: {SMALL_EXPORT_RECORDS} added" in done.stdout, done.stderr

    digest_at = digest_minute(datetime.now(UTC), lead)
    shared["DIGEST_TIME"] = digest_at.strftime("%H:%M")
    replicas = []
    for name in ("replica-a", "replica-b"):
        port = free_port()
        env = {**shared, "PORT": str(port)}
        log = root / f"{name}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=root, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        stack.callback(stop, proc, grace=20)
        replicas.append(Replica(name, f"http://127.0.0.1:{port}", proc, log, env))
    for replica in replicas:
        wait_healthy(replica)
    # Each scheduler looks every rep up once at start (then caches): both have their zone jobs.
    synced = slack.wait_for(lambda: len(slack.calls_to("users.lookupByEmail")) >= 2 * len(REPS), 30)
    assert synced, [c.method for c in slack.calls]
    for replica in replicas:
        assert eventually(
            lambda r=replica: any(x["message"] == 'Added job "digest:UTC" to job store "default"'
                                  for x in r.logs()), 10,
        ), replica.tail()  # fmt: skip
    if (digest_at - datetime.now(UTC)).total_seconds() <= 1:
        return None
    return Fleet((replicas[0], replicas[1]), slack, llm, state_url, crm, root, digest_at, lead)


@pytest.fixture(scope="module")
def fleet(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    lead = LEAD_SECONDS
    for _ in range(3):
        with contextlib.ExitStack() as stack:
            began = time.monotonic()
            started = start_fleet(stack, tmp_path_factory.mktemp("fleet"), postgres_url, lead)
            if started is not None:
                yield started
                return
        # DIGEST_TIME passed while the fleet started (the schedulers may have fired): all of it is
        # stopped and dropped, and a new fleet gets twice the time this one took
        lead = LEAD_SECONDS + 2 * (time.monotonic() - began)
    pytest.fail(f"the fleet never started before its DIGEST_TIME, even with {lead:.0f} s of lead")


# --- b. two schedulers and a CronJob, one digest per rep (first: DIGEST_TIME is ~75 s after start-up) -----


def digest_posts(slack: FakeSlack) -> list[Any]:
    return [c for c in slack.calls_to("chat.postMessage")
            if c.params.get("channel") in DIGEST_CHANNELS and not c.params.get("thread_ts")]  # fmt: skip


def test_two_schedulers_and_the_cli_send_one_digest_per_rep(fleet: Fleet) -> None:
    a, b = fleet.replicas
    day = fleet.digest_at.date()
    assert digest_posts(fleet.slack) == []
    start_cli = fleet.digest_at - timedelta(seconds=CLI_HEAD_START)
    wait = (start_cli - datetime.now(UTC)).total_seconds()
    assert wait < fleet.lead + 60, wait
    if wait > 0:
        time.sleep(wait)
    cli_env = {k: v for k, v in a.env.items() if k != "PORT"}
    cli = subprocess.Popen(
        [sys.executable, "-m", "bot", "digest", "--send", "--date", day.isoformat(), "--json"],
        cwd=fleet.root, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        out, err = cli.communicate(timeout=120)
    finally:
        stop(cli)
    assert cli.returncode == 0, err[-3000:]
    cli_status = {d["user"]: d["status"] for d in json.loads(out)["digests"]}
    assert set(cli_status) == set(REPS.values()), cli_status

    def results(replica: Replica) -> dict[str, str]:
        return {x["user"]: x["message"].removeprefix("digest ") for x in replica.logs()
                if x["message"].startswith("digest ") and x.get("day") == day.isoformat()}  # fmt: skip

    # Both schedulers fired at DIGEST_TIME and went through every rep.
    for replica in (a, b):
        assert eventually(lambda r=replica: len(results(r)) == len(REPS), 60), replica.tail()
    assert fleet.slack.wait_for(lambda: len(digest_posts(fleet.slack)) >= len(REPS), 30)
    time.sleep(1.0)  # room for a duplicate to arrive

    posts = digest_posts(fleet.slack)
    assert Counter(p.params["channel"] for p in posts) == dict.fromkeys(DIGEST_CHANNELS, 1), [
        (p.params["channel"], p.params.get("text")) for p in posts
    ]
    for post in posts:
        assert "Your deals" in post.params["text"] or "Your team's deals" in post.params["text"]
    # Exactly one sender per rep, and every other one saw the claim.
    outcomes = {who: [cli_status[who], results(a)[who], results(b)[who]] for who in REPS.values()}
    for who, seen in outcomes.items():
        assert seen.count("sent") == 1, (who, seen)
        assert set(seen) <= {"sent", "already_sent", "in_progress"}, (who, seen)
    rows = query(
        fleet.state_url, "SELECT user_email, status, attempts FROM digests_sent WHERE digest_date = %s", day
    )
    assert sorted(rows) == [(who, "sent", 1) for who in sorted(REPS.values())]


# --- a. one event, two replicas, one answer ---------------------------------------------------------------


def test_the_same_event_sent_to_both_replicas_is_answered_once(fleet: Fleet) -> None:
    a, b = fleet.replicas
    marker = "(fleet-dm-7c2e)"
    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel_type": "im", "channel": "D0FLEET", "user": "UALICE",
             "text": f"What discount did Acme ask for? {marker}", "ts": ts, "event_ts": ts}  # fmt: skip
    before = sum(r.metric("closer_deduplicated_events_total", kind="event") for r in fleet.replicas)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    drivers = [fleet.driver(a), fleet.driver(b)]
    try:
        with ThreadPoolExecutor(4) as pool:  # both deliveries at once, then Slack's retries to both
            first = [pool.submit(d.event, event, event_id="EvFLEET0001") for d in drivers]
            codes = [f.result().status_code for f in first]
            again = [pool.submit(d.event, event, event_id="EvFLEET0001", headers=retry) for d in drivers]
            codes += [f.result().status_code for f in again]
    finally:
        for d in drivers:
            d.close()
    assert codes == [200, 200, 200, 200]

    def answers() -> list[Any]:
        return [c for c in fleet.slack.calls_to("chat.startStream", "chat.postMessage")
                if c.params.get("thread_ts") == ts]  # fmt: skip

    def finished() -> bool:  # streamed, then replaced by the checked answer (or posted whole)
        got = answers()
        if got and got[0].method == "chat.startStream":
            return any(c.params.get("channel") == "D0FLEET" for c in fleet.slack.calls_to("chat.update"))
        return bool(got)

    assert fleet.slack.wait_for(finished, 30), [c.method for c in fleet.slack.calls]

    # All four deliveries were handled: three of them were recognised as duplicates.
    def deduped() -> float:
        return sum(r.metric("closer_deduplicated_events_total", kind="event") for r in fleet.replicas)

    assert eventually(lambda: deduped() == before + 3, 20), (before, deduped(), a.tail(), b.tail())
    time.sleep(1.0)  # a duplicate answer would be on its way by now
    assert len(answers()) == 1, [(c.method, c.params) for c in answers()]
    assert len(fleet.chats(marker)) == 1


# --- c. ingest with one replica's settings, found by the other --------------------------------------------

NEW_NOTE = {
    "note_id": "N5", "account_id": "A2", "deal_id": "D3", "author_email": CAROL,
    "created_at": "2026-11-24T09:00:00Z", "kind": "call", "subject": "Procurement call",
    "body": "Procurement flagged the Quillfeather indemnity clause; legal signs it off under code VELLUM-3390.",
}  # fmt: skip
NEW_NOTE_MARKER = "VELLUM-3390"  # only in the note's body, never in the question


def test_a_note_ingested_through_one_replica_is_found_by_the_other(fleet: Fleet) -> None:
    a, b = fleet.replicas
    question = "What did procurement say about the Quillfeather indemnity clause?"
    driver = fleet.driver(b)
    try:
        # Replica B answers once before the ingest: its index is loaded and lacks the note.
        r, name = driver.command(question, user="UCAROL")
        assert r.status_code == 200
        fleet.slack.wait_responses(name, timeout=30)  # the ack said "working on it"; then the answer
        (prompt,) = fleet.chats("Quillfeather indemnity")
        assert NEW_NOTE_MARKER not in prompt

        export = fleet.root / "crm-with-new-note"
        shutil.copytree(fleet.crm, export)
        with (export / "notes.csv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        write_csv(export, "notes", [*rows, NEW_NOTE])
        cli_env = {k: v for k, v in a.env.items() if k != "PORT"}  # replica A's settings
        done = run_closer("ingest", "crm", str(export), cwd=fleet.root, env=cli_env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"CRM: 1 added, 0 updated, {SMALL_EXPORT_RECORDS} unchanged, 0 removed" in done.stdout

        time.sleep(INDEX_REFRESH_SECONDS)  # the promise: picked up within INDEX_REFRESH_SECONDS
        r, name = driver.command(question, user="UCAROL")
        assert r.status_code == 200
        (answer,) = fleet.slack.wait_responses(name, timeout=30)
    finally:
        driver.close()
    prompts = fleet.chats("Quillfeather indemnity")
    assert len(prompts) == 2 and NEW_NOTE_MARKER in prompts[1], prompts[-1][-1500:]
    assert "Procurement call" in json.dumps(answer.params, ensure_ascii=False)  # cited as a source
