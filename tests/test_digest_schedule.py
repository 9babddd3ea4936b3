"""The in-process schedule: 08:00 local in each rep's zone on both sides of DST changes, "today" in
that zone, one job per zone, and off with DIGEST_SCHEDULER=false."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_settings
from bot.digest.schedule import (
    ZoneRun,
    digest_trigger,
    retry_trigger,
    start_scheduler,
    sync_zones,
    today_in,
    zone_of,
)


def fire_times(trigger: Any, start: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    previous, now = None, start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(previous, now)
        out.append(nxt)
        previous, now = nxt, nxt + timedelta(seconds=1)
    return out


@pytest.mark.parametrize(
    ("zone", "start", "utc_hours"),
    [
        # US DST starts Sunday 2026-03-08 at 02:00: 08:00 is 13:00 UTC before, 12:00 UTC after.
        ("America/New_York", datetime(2026, 3, 6, 14, tzinfo=UTC), [13, 12, 12]),
        # EU summer time starts Sunday 2026-03-29 at 02:00 CET: 07:00 UTC before, 06:00 UTC after.
        ("Europe/Berlin", datetime(2026, 3, 27, 8, tzinfo=UTC), [7, 6, 6]),
        # And back: US DST ends Sunday 2026-11-01, EU summer time ends Sunday 2026-10-25.
        ("America/New_York", datetime(2026, 10, 30, 14, tzinfo=UTC), [12, 13, 13]),
        ("Europe/Berlin", datetime(2026, 10, 23, 8, tzinfo=UTC), [6, 7, 7]),
    ],
)
def test_the_digest_fires_at_eight_local_on_both_sides_of_a_dst_change(
    zone: str, start: datetime, utc_hours: list[int]
) -> None:
    settings = load_settings(digest_time="08:00", digest_days="mon-sun")
    times = fire_times(digest_trigger(settings, zone), start, 3)
    assert [(t.astimezone(ZoneInfo(zone)).hour, t.astimezone(ZoneInfo(zone)).minute) for t in times] == [
        (8, 0)
    ] * 3
    assert [t.astimezone(UTC).hour for t in times] == utc_hours
    days = [t.astimezone(ZoneInfo(zone)).date() for t in times]
    assert days == [days[0] + timedelta(days=i) for i in range(3)]  # one a day, none skipped or doubled


def test_only_on_digest_days() -> None:
    settings = load_settings(digest_time="07:45", digest_days="mon-fri")
    times = fire_times(digest_trigger(settings, "America/New_York"), datetime(2026, 3, 6, 0, tzinfo=UTC), 3)
    local = [t.astimezone(ZoneInfo("America/New_York")) for t in times]
    assert [t.date() for t in local] == [
        date(2026, 3, 6),
        date(2026, 3, 9),
        date(2026, 3, 10),
    ]  # Fri, Mon, Tue
    assert {(t.hour, t.minute) for t in local} == {(7, 45)}


def test_failed_digests_are_retried_hourly_after_the_digest_time() -> None:
    settings = load_settings(digest_time="08:15", digest_days="mon-sun", digest_retry_hours=3)
    times = fire_times(retry_trigger(settings, "Europe/Berlin"), datetime(2026, 3, 29, 0, tzinfo=UTC), 4)
    assert [t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%d %H:%M") for t in times] == [
        "29 09:15", "29 10:15", "29 11:15", "30 09:15"]  # fmt: skip
    assert retry_trigger(load_settings(digest_retry_hours=0), "UTC") is None
    assert retry_trigger(load_settings(digest_time="23:00"), "UTC") is None


def test_today_is_the_date_in_the_reps_zone() -> None:
    late_sunday_utc = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    assert today_in("Asia/Tokyo", late_sunday_utc) == date(2026, 3, 9)
    assert today_in("America/Los_Angeles", late_sunday_utc) == date(2026, 3, 8)
    assert zone_of("Mars/Olympus", "UTC") == "UTC" and zone_of("", "Europe/Berlin") == "Europe/Berlin"


def test_a_zone_run_sends_its_reps_with_their_local_date_and_survives_one_failure() -> None:
    users = [("a@x", "Asia/Tokyo"), ("b@x", "America/New_York"), ("c@x", ""), ("d@x", "Mars/Olympus"),
             ("e@x", "Asia/Tokyo")]  # fmt: skip
    calls: list[tuple[str, date]] = []

    def deliver(email: str, day: date) -> None:
        calls.append((email, day))
        if email == "a@x":
            raise RuntimeError("boom")

    now = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    ZoneRun("Asia/Tokyo", deliver, lambda: users, default="UTC", now=lambda: now)()
    assert calls == [("a@x", date(2026, 3, 9)), ("e@x", date(2026, 3, 9))]
    calls.clear()
    ZoneRun("UTC", deliver, lambda: users, default="UTC", now=lambda: now)()
    assert calls == [("c@x", date(2026, 3, 8)), ("d@x", date(2026, 3, 8))]


class _Scheduler:
    """Just enough of APScheduler's job store API for sync_zones."""

    def __init__(self) -> None:
        self.jobs: dict[str, Any] = {}

    def get_job(self, job_id: str) -> Any:
        return self.jobs.get(job_id)

    def get_jobs(self) -> list[Any]:
        return list(self.jobs.values())

    def add_job(self, func: Any, trigger: Any, *, id: str, name: str) -> None:
        jobs = self.jobs

        class Job:
            def remove(self) -> None:
                del jobs[id]

        job = Job()
        job.id, job.trigger = id, trigger  # type: ignore[attr-defined]
        jobs[id] = job


def test_one_job_per_zone_and_zones_nobody_is_in_are_dropped() -> None:
    settings = load_settings(digest_timezone="Europe/Berlin", digest_retry_hours=2)
    scheduler = _Scheduler()
    users = [("a@x", "America/New_York"), ("b@x", "America/New_York"), ("c@x", "")]
    zones = sync_zones(scheduler, settings, lambda e, d: None, lambda: users)
    assert zones == ["America/New_York", "Europe/Berlin"]
    assert sorted(scheduler.jobs) == ["digest-retry:America/New_York", "digest-retry:Europe/Berlin",
                                      "digest:America/New_York", "digest:Europe/Berlin"]  # fmt: skip
    users = [("a@x", "Asia/Tokyo")]
    sync_zones(scheduler, settings, lambda e, d: None, lambda: users)
    assert sorted(scheduler.jobs) == ["digest-retry:Asia/Tokyo", "digest:Asia/Tokyo"]


def test_the_scheduler_is_off_with_digest_scheduler_false() -> None:
    settings = load_settings(digest_scheduler=False)
    assert start_scheduler(settings, lambda e, d: None, lambda: [("a@x", "UTC")]) is None


def test_the_scheduler_runs_in_the_background_with_a_job_per_zone() -> None:
    settings = load_settings(digest_time="08:00", digest_days="mon-sun")
    users = [("a@x", "America/New_York"), ("b@x", "Europe/Berlin")]
    scheduler = start_scheduler(settings, lambda e, d: None, lambda: users)
    assert scheduler is not None
    try:
        deadline = time.monotonic() + 10
        while scheduler.get_job("digest:Europe/Berlin") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        for zone in ("America/New_York", "Europe/Berlin"):
            job = scheduler.get_job(f"digest:{zone}")
            local = job.next_run_time.astimezone(ZoneInfo(zone))
            assert (local.hour, local.minute) == (8, 0)
            assert job.coalesce is True and job.misfire_grace_time >= 60
    finally:
        scheduler.shutdown(wait=False)
