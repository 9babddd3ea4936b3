"""Thread history at Slack's real limits (issue 10, point 2): the recent turns of threads Closer
takes part in are kept in memory (bounded, with a TTL, never a private turn); otherwise the thread is
read from Slack newest first, page by page; a rate limit means an answer without history, a line
saying so, and a metric — never a crash or a minute's wait.
"""

from __future__ import annotations

import json
import time

import pytest

from bot.drafting.history import Turn
from bot.slack.history import HISTORY_UNREAD, RecentTurns, Said
from tests.fake_slack import BOT_ID, BOT_USER, Failure
from tests.slack_fixtures import MARKER, Harness, eventually, metric
from tests.slack_fixtures import crm_fixture as crm_fixture  # the crm fixture
from tests.slack_fixtures import harness_fixture as harness_fixture  # the h fixture
from tests.test_slack_private_threads import app_mention, im

# --- the memory ----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def said(n: int, role: str = "user") -> Said:
    return Said(f"17000000{n:02d}.000100", Turn("user" if role == "user" else "assistant", f"turn {n}"))


def test_memory_is_bounded_per_thread_and_in_threads() -> None:
    recent = RecentTurns(60, max_threads=3, max_turns=4)
    recent.keep("C:1", [said(i) for i in range(10)], start=True)
    assert [s.turn.text for s in recent.get("C:1") or []] == ["turn 6", "turn 7", "turn 8", "turn 9"]
    for key in ("C:2", "C:3", "C:4"):
        recent.keep(key, [said(1)], start=True)
    assert recent.get("C:1") is None and len(recent) == 3  # the least recently used thread went first


def test_memory_forgets_after_its_ttl_and_never_starts_a_thread_half_way() -> None:
    clock = Clock()
    recent = RecentTurns(60, clock=clock)
    recent.keep("C:1", [said(5)])  # not known yet, and not from its start: not kept
    assert recent.get("C:1") is None
    recent.keep("C:1", [said(1)], start=True)
    clock.now += 50
    recent.keep("C:1", [said(2, "bot")])  # each turn renews the TTL
    clock.now += 50
    assert [s.turn.role for s in recent.get("C:1") or []] == ["user", "assistant"]
    clock.now += 61
    assert recent.get("C:1") is None
    off = RecentTurns(0)
    off.keep("C:1", [said(1)], start=True)
    assert off.get("C:1") is None  # SLACK_HISTORY_SECONDS=0 keeps nothing


# --- through the app -----------------------------------------------------------------------------------


def kept(h: Harness, key: str, n: int) -> bool:
    """Wait until memory holds ``n`` turns of the thread (kept just after the answer is shown)."""
    return eventually(lambda: len(h.svc.history.recent.get(key) or []) >= n)


def _long_thread(h: Harness, now: float, n: int) -> str:
    """A DM thread already in Slack (say, from before a restart): ``n`` messages before ``now``, an
    hour apart, but the last ten a minute apart."""
    stamps = [
        now - 600 - (n - 10 - i) * 3600 if i < n - 10 else now - 600 + (i - n + 10) * 60 for i in range(n)
    ]
    root = f"{stamps[0]:.6f}"
    h.fake.threads[root] = [
        {"type": "message", "user": BOT_USER if i % 2 else "UALICE", "text": f"message number {i:03d}",
         "ts": f"{at:.6f}", "thread_ts": root, **({"bot_id": BOT_ID} if i % 2 else {})}
        for i, at in enumerate(stamps)
    ]  # fmt: skip
    return root


def test_a_long_thread_gives_its_newest_turns(h: Harness) -> None:
    now = time.time()
    root = _long_thread(h, now, 60)
    h.driver.event(im("And what did we agree last?", at=f"{now:.6f}", thread_ts=root))
    h.fake.wait_calls("chat.update")
    prompt = h.prompt(h.std)
    assert "message number 059" in prompt and "message number 058" in prompt  # the newest turns
    assert "message number 000" not in prompt  # …not the first page of the thread
    calls = h.fake.calls_to("conversations.replies")
    assert all(int(c.params["limit"]) <= 15 for c in calls) and len(calls) <= 4


def test_follow_ups_use_memory_not_slack(h: Harness) -> None:
    root = f"{time.time():.6f}"
    h.driver.event(im("What discount did Acme ask for?", at=root))
    assert kept(h, f"D100:{root}", 2)
    h.driver.event(im("Which PO was that?", at=f"{float(root) + 5:.6f}", thread_ts=root))
    assert kept(h, f"D100:{root}", 4)
    h.driver.event(im("And the contract length?", at=f"{float(root) + 10:.6f}", thread_ts=root))
    h.fake.wait_calls("chat.update", 3)
    assert h.fake.calls_to("conversations.replies") == []
    last = h.prompt(h.std)
    assert "What discount did Acme ask for?" in last and "Which PO was that?" in last


def test_after_a_restart_the_thread_is_read_once_then_kept(h: Harness) -> None:
    now = time.time()
    root = _long_thread(h, now, 12)
    h.driver.event(im("Summarise the thread", at=f"{now:.6f}", thread_ts=root))
    h.fake.wait_calls("chat.update")
    fetched = len(h.fake.calls_to("conversations.replies"))
    assert fetched >= 1 and kept(h, f"D100:{root}", 14)
    h.driver.event(im("Shorter", at=f"{now + 5:.6f}", thread_ts=root))
    h.fake.wait_calls("chat.update", 2)
    assert len(h.fake.calls_to("conversations.replies")) == fetched  # from memory now
    last = h.prompt(h.std)
    assert "message number 011" in last and "Summarise the thread" in last


@pytest.mark.parametrize("error", [Failure(429, "60"), Failure.error("ratelimited")])
def test_a_rate_limit_means_an_answer_without_history(h: Harness, error: Failure) -> None:
    now = time.time()
    root = _long_thread(h, now, 12)
    before = metric("closer_thread_history_total", source="rate_limited")
    h.fake.fail_next("conversations.replies", error)
    h.driver.event(im(f"What's next? {MARKER}", at=f"{now:.6f}", thread_ts=root))
    (update,) = h.fake.wait_calls("chat.update", timeout=10)  # no minute-long wait for Retry-After
    assert HISTORY_UNREAD in json.dumps(update.params, ensure_ascii=False)
    assert "message number" not in h.prompt(h.std) and MARKER in h.prompt(h.std)
    assert len(h.fake.calls_to("conversations.replies")) == 1  # not retried
    assert metric("closer_thread_history_total", source="rate_limited") == before + 1


def test_a_refused_history_read_is_not_a_failed_answer(h: Harness) -> None:
    now = time.time()
    root = _long_thread(h, now, 4)
    h.fake.fail_next("conversations.replies", Failure.error("missing_scope"))
    h.driver.event(im("What's next?", at=f"{now:.6f}", thread_ts=root))
    (update,) = h.fake.wait_calls("chat.update")
    assert HISTORY_UNREAD in json.dumps(update.params, ensure_ascii=False) and len(h.chats(h.std)) == 1


def test_private_turns_are_never_kept_in_memory(h: Harness) -> None:
    root = f"{time.time():.6f}"
    h.driver.event(im("What discount did Acme ask for?", at=root))
    h.fake.wait_calls("chat.update")
    key = f"D100:{root}"
    assert kept(h, key, 2)  # a standard exchange is kept…
    h.driver.event(im(f"--private and {MARKER}?", at=f"{float(root) + 5:.6f}", thread_ts=root))
    h.fake.wait_calls("chat.update", 2)
    assert eventually(lambda: h.svc.history.recent.get(key) is None)  # …forgotten when it goes private
    h.driver.event(im("and then?", at=f"{float(root) + 10:.6f}", thread_ts=root))
    h.fake.wait_calls("chat.update", 3)
    assert eventually(lambda: len(h.chats(h.priv)) == 2) and h.svc.history.recent.get(key) is None
    assert len(h.fake.calls_to("conversations.replies")) == 1
    assert MARKER in h.prompt(h.priv)  # the private follow-up still has its thread (read from Slack)


def test_a_mention_thread_has_its_earlier_mentions_without_reading_the_channel(h: Harness) -> None:
    root = f"{time.time():.6f}"
    h.driver.event(app_mention("What discount did Acme ask for?", at=root))
    assert kept(h, f"C200:{root}", 2)
    h.driver.event(app_mention("and for how long?", at=f"{float(root) + 5:.6f}", thread_ts=root, user="UBOB"))
    h.fake.wait_calls("chat.update", 2)
    assert "What discount did Acme ask for?" in h.prompt(h.std)
    assert h.fake.calls_to("conversations.replies") == []


@pytest.mark.parametrize("h", [{"slack_history_seconds": 0}], indirect=True)
def test_with_no_memory_every_follow_up_reads_slack(h: Harness) -> None:
    root = f"{time.time():.6f}"
    h.driver.event(im("What discount did Acme ask for?", at=root))
    h.fake.wait_calls("chat.update")
    h.driver.event(im("Which PO was that?", at=f"{float(root) + 5:.6f}", thread_ts=root))
    h.fake.wait_calls("chat.update", 2)
    assert len(h.fake.calls_to("conversations.replies")) == 1
    assert "What discount did Acme ask for?" in h.prompt(h.std)
