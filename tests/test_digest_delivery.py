"""Digest delivery against the fake Slack Web API of :mod:`tests.fake_slack`, over real HTTP on
127.0.0.1: Block Kit limits, the DM flow, exactly once per rep and day (threads, processes, the CLI),
failures and retries."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.digest.model import Deal, Digest, DigestLine
from bot.digest.service import DigestService
from bot.knowledge.embedder import LocalEmbedder
from bot.slack.digest import SlackDigestSender, render, slash_digest
from tests.digest_fixtures import ALICE, BOB, CAROL, DAVE, TODAY, boundary_export, service_for
from tests.fake_slack import Call, Failure, FakeSlack
from tests.helpers_chroma import child_env

# Every rep of the export has a Slack account; Alice's profile says Berlin, the others New York.
REPS = {"UALICE": ALICE, "UBOB": BOB, "UCAROL": CAROL, "UDAVE": DAVE}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    users = {uid: {"email": email, "tz": "America/New_York"} for uid, email in REPS.items()}
    users["UALICE"]["tz"] = "Europe/Berlin"
    with FakeSlack(users=users) as fake:
        yield fake


def client_for(fake: FakeSlack) -> WebClient:
    from bot.slack.clients import web_client

    return web_client("xoxb-test", fake.api_url)


def posts(fake: FakeSlack) -> list[Call]:
    return fake.calls_to("chat.postMessage")


def blocks_of(call: Call) -> list[dict[str, Any]]:
    blocks = call.params["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


# --- Block Kit -----------------------------------------------------------------------------------------


def _digest(n: int, *, scope: str = "own", name: str = "Deal") -> Digest:
    lines = tuple(
        DigestLine(Deal(f"D-{i}", f"{name} {i} <&>", "owner@x.example", "proposal", amount=1000.0 * i,
                        currency="USD", close_date=TODAY + timedelta(days=i - 3), next_step="Call them " * 20),
                   ("overdue",) if i < 3 else ("closing_soon", "stale"), days_to_close=i - 3, days_since_note=20,
                   suggestion="Ask for the PO " * 8)
        for i in range(n)
    )  # fmt: skip
    return Digest("rep@x.example", TODAY, scope, lines, totals={"USD": 1.0e6}, note="a note")  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 1, 5, 23, 24, 60, 200])
def test_blocks_stay_within_slacks_limits_and_roll_up_the_rest(n: int) -> None:
    text, blocks = render(_digest(n))
    assert len(blocks) <= 50 and len(json.dumps(blocks)) < 13_000 and text
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    sections = [b for b in blocks if b["type"] == "section"]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    actions = [b for b in blocks if b["type"] == "actions"]
    shown = len(actions)
    assert all(
        [e["action_id"] for e in b["elements"]] == ["digest_followup", "digest_snooze"] for b in actions
    )
    assert [b["elements"][0]["value"] for b in actions] == [f"D-{i}" for i in range(shown)]
    assert [b["elements"][1]["value"] for b in actions] == [f"D-{i}" for i in range(shown)]
    rolled = [b for b in sections if "more:*" in b["text"]["text"]]
    if shown < n:
        assert len(rolled) == 1 and f"…and {n - shown} more" in rolled[0]["text"]["text"]
    else:
        assert rolled == []
    if n == 0:
        assert any("No open deals" in b["text"]["text"] for b in sections)
    assert len({b["block_id"] for b in blocks if "block_id" in b}) == len(
        [b for b in blocks if "block_id" in b]
    )


def test_a_deal_shows_name_amount_stage_close_date_flags_and_suggestion() -> None:
    _, blocks = render(_digest(4, scope="team"))
    first = blocks[2]["text"]["text"]
    assert first.startswith("*Deal 0 &lt;&amp;&gt;*")  # bold, escaped
    assert "0 USD · proposal · closes 2026-11-22 · owner owner@x.example" in first
    assert "🔴 Overdue by 3 days" in first and "💡 _Ask for the PO" in first
    fourth = blocks[8]["text"]["text"]
    assert "⏰ Closes today · 💤 No notes for 20 days" in fourth
    assert (
        blocks[1]["type"] == "context"
        and "4 open deals · pipeline 1,000,000 USD" in blocks[1]["elements"][0]["text"]
    )


# --- the DM flow, exactly once -------------------------------------------------------------------------


def test_a_digest_goes_out_as_one_dm_and_not_twice(tmp_path: Path, slack: FakeSlack) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    sender = SlackDigestSender(client_for(slack))
    assert service.send(ALICE, TODAY, sender).status == "sent"
    assert [c.method for c in slack.calls] == [
        "users.lookupByEmail",
        "auth.test",  # once per process: is that account one of the installation's own members?
        "conversations.open",
        "chat.postMessage",
    ]
    (post,) = posts(slack)
    assert post.params["channel"] == "DALICE" and "Your deals" in post.params["text"]
    assert "Closed yesterday" in json.dumps(blocks_of(post)) and "Carol" not in json.dumps(blocks_of(post))
    again = service.send(ALICE, TODAY, sender)
    assert again.status == "already_sent" and len(posts(slack)) == 1
    assert service.state.last_snapshot(ALICE, before=TODAY + timedelta(days=1))["B14"] == "proposal"


def test_a_failed_send_is_marked_failed_and_retried_later_that_day(tmp_path: Path, slack: FakeSlack) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    sender = SlackDigestSender(client_for(slack))
    slack.fail_next("chat.postMessage", Failure.error("channel_not_found"))
    failed = service.send(ALICE, TODAY, sender)
    assert failed.status == "failed" and "channel_not_found" in failed.error
    assert service.state.digest_status(ALICE, TODAY) == "failed"
    assert service.send(ALICE, TODAY, sender).status == "sent"
    assert service.send(ALICE, TODAY, sender).status == "already_sent"
    assert len(posts(slack)) == 2 and service.state.digest_status(ALICE, TODAY) == "sent"


def test_a_rate_limited_post_is_retried_by_the_client(tmp_path: Path, slack: FakeSlack) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    slack.fail_next("chat.postMessage", Failure(429, retry_after="0"))
    assert service.send(ALICE, TODAY, SlackDigestSender(client_for(slack))).status == "sent"
    assert len(posts(slack)) == 2


def test_a_rep_without_a_slack_account_is_a_clear_failure(tmp_path: Path, slack: FakeSlack) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    del slack.users["UALICE"]  # no Slack user has Alice's email
    result = service.send(ALICE, TODAY, SlackDigestSender(client_for(slack)))
    assert result.status == "failed" and "no Slack user has the email alice@x.example" in result.error
    assert posts(slack) == []


def test_threads_racing_send_one_digest_per_rep(tmp_path: Path, slack: FakeSlack) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    sender = SlackDigestSender(client_for(slack))
    slack.delays["chat.postMessage"] = 0.05
    run = service.deliverer(sender)  # what the scheduler calls
    threads = [threading.Thread(target=run, args=(who, TODAY)) for who in [ALICE, BOB, CAROL, DAVE] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Counter(p.params["channel"] for p in posts(slack)) == {
        "DALICE": 1,
        "DBOB": 1,
        "DCAROL": 1,
        "DDAVE": 1,
    }
    results = service.send_all(TODAY, sender)  # a CronJob after the scheduler: nothing left
    assert {r.status for r in results} == {"already_sent"} and len(posts(slack)) == 4


def test_slash_digest_sends_now_even_after_the_scheduled_one(tmp_path: Path, slack: FakeSlack) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    client = client_for(slack)
    reply = slash_digest(service.assistant, email=ALICE, user_id="UALICE", client=client)
    assert reply["text"].startswith("📬 Sent your digest") and reply["blocks"][0]["type"] == "section"
    assert len(posts(slack)) == 1
    # the first digest of the day (today in Alice's zone, as the command reads it) counted as the
    # scheduled one ...
    from bot.digest.schedule import today_in

    alices_today = today_in(slack.users["UALICE"]["tz"])
    assert service.send(ALICE, alices_today, SlackDigestSender(client)).status == "already_sent"
    # ... and asking again sends again
    slash_digest(service.assistant, email=ALICE, client=client)
    assert len(posts(slack)) == 2
    assert "no open deals" in slash_digest(service.assistant, email="nobody@x.example", client=client)["text"]


def test_slash_digest_uses_today_in_the_askers_zone(tmp_path: Path, slack: FakeSlack) -> None:
    service: DigestService = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    slack.users["UALICE"]["tz"] = "Pacific/Kiritimati"  # UTC+14: already "tomorrow" for most of the day
    slash_digest(service.assistant, email=ALICE, client=client_for(slack))
    from bot.digest.schedule import today_in

    assert service.state.digest_status(ALICE, today_in("Pacific/Kiritimati")) == "sent"


# --- the CLI: `closer digest --send`, run twice and run concurrently -----------------------------------


def _workspace(tmp_path: Path, embedder: LocalEmbedder, slack: FakeSlack) -> dict[str, str]:
    service_for(tmp_path, boundary_export(tmp_path / "crm"), embedder=embedder)  # ingest, real embedder
    return child_env(CHROMA_PATH=str(tmp_path / "chroma"), STATE_URL=f"sqlite:///{tmp_path / 'state.db'}",
                     CACHE_DIR=str(tmp_path / "cache"), SLACK_BOT_TOKEN="xoxb-test",
                     SLACK_API_URL=slack.api_url)  # fmt: skip


def _closer(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


@pytest.mark.slow
def test_cli_send_twice_sends_nothing_the_second_time(
    tmp_path: Path, embedder: LocalEmbedder, slack: FakeSlack
) -> None:
    env = _workspace(tmp_path, embedder, slack)
    first = _closer(tmp_path, env, "digest", "--send", "--date", TODAY.isoformat())
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "4 sent, 0 failed, 0 already sent." in out and "alice@x.example: sent (7 deals" in out
    second = _closer(tmp_path, env, "digest", "--send", "--date", TODAY.isoformat(), "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    digests = json.loads(out)["digests"]
    assert [(d["user"], d["sent"], d["status"]) for d in digests] == [
        (who, False, "already_sent") for who in sorted([ALICE, BOB, CAROL, DAVE])]  # fmt: skip
    assert len(posts(slack)) == 4
    text = _closer(tmp_path, env, "digest", "--send", "--date", TODAY.isoformat())
    assert "Nothing sent: every digest for 2026-11-25 was already sent." in text.communicate(timeout=120)[0]


@pytest.mark.slow
def test_two_concurrent_cli_runs_send_one_digest_per_rep(
    tmp_path: Path, embedder: LocalEmbedder, slack: FakeSlack
) -> None:
    env = _workspace(tmp_path, embedder, slack)
    slack.delays["chat.postMessage"] = 0.2  # keep both runs inside the sending window together
    day = date(2026, 11, 26).isoformat()
    runs = [_closer(tmp_path, env, "digest", "--send", "--date", day, "--json") for _ in range(2)]
    outputs = [r.communicate(timeout=180) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [e for _, e in outputs]
    statuses = Counter((d["user"], d["status"]) for out, _ in outputs for d in json.loads(out)["digests"])
    for who in (ALICE, BOB, CAROL, DAVE):
        assert statuses[(who, "sent")] == 1
        assert statuses[(who, "already_sent")] + statuses[(who, "in_progress")] == 1
    assert Counter(p.params["channel"] for p in posts(slack)) == {
        "DALICE": 1,
        "DBOB": 1,
        "DCAROL": 1,
        "DDAVE": 1,
    }


def test_cli_without_send_only_prints_the_contract_json(
    tmp_path: Path, embedder: LocalEmbedder, slack: FakeSlack
) -> None:
    env = _workspace(tmp_path, embedder, slack)
    proc = _closer(tmp_path, env, "digest", "--user", "BOB@x.example", "--date", TODAY.isoformat(), "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    (bob,) = json.loads(out)["digests"]
    assert (bob["user"], bob["date"], bob["sent"], bob["scope"]) == (BOB, "2026-11-25", False, "team")
    assert [(d["deal_id"], d["flags"]) for d in bob["deals"]] == [
        ("C1", ["closing_soon"]),
        ("B14", ["closing_soon"]),
    ]
    assert slack.calls == []


def test_cli_send_without_a_bot_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = child_env(STATE_URL=f"sqlite:///{tmp_path / 'state.db'}", CHROMA_PATH=str(tmp_path / "chroma"))
    proc = _closer(tmp_path, env, "digest", "--send")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.strip() == "closer: setting SLACK_BOT_TOKEN: required to send digests"
    assert not (tmp_path / "state.db").exists()  # nothing claimed
