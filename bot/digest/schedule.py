"""The in-process digest schedule of ``closer serve``: DIGEST_TIME on DIGEST_DAYS in each rep's zone.

One APScheduler 3 ``CronTrigger`` per distinct IANA time zone among the reps (their Slack profile's
``tz``, never a fixed offset, so 08:00 stays 08:00 across DST changes), plus an hourly retry trigger
for DIGEST_RETRY_HOURS after it, which sends only what is not sent yet: a failed digest, or one
missed while the server was down. "Today" is computed in that zone when the job runs. Jobs coalesce
and tolerate being late (``misfire_grace_time``); a zone sync job picks up reps in new zones.

Several replicas may each run this: the claim in the state database lets one digest per rep and day
through. Off with ``DIGEST_SCHEDULER=false`` (then a CronJob runs ``closer digest --send``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.config import Settings

log = logging.getLogger(__name__)

Users = Callable[[], list[tuple[str, str]]]
"""``[(email, IANA time zone)]`` of every rep who may get a digest; a blank zone means unknown."""
DeliverDay = Callable[[str, date], None]
"""Send ``email``'s digest for that (local) day if it was not sent yet."""

MISFIRE_GRACE_SECONDS = 3600  # a run delayed this long (a busy or paused process) still goes out
ZONE_SYNC_MINUTES = 30
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def default_zone(settings: Settings) -> str:
    """DIGEST_TIMEZONE, else this machine's zone, else UTC."""
    if settings.digest_timezone:
        return settings.digest_timezone
    try:
        return zone_of(tzlocal.get_localzone_name(), "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # tzlocal's complaints about odd set-ups
        return "UTC"


def zone_of(tz: str | None, default: str) -> str:
    """A valid IANA zone name: ``tz`` if it is one, else ``default``."""
    if tz:
        try:
            ZoneInfo(tz)
            return tz
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r; using %s", tz, default)
    return default


def today_in(zone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()


def _cron(settings: Settings, zone: str, hour: str) -> Any:
    days = ",".join(_DAY_NAMES[d] for d in sorted(settings.weekdays))
    minute = int(settings.digest_time.split(":")[1])
    return CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=ZoneInfo(zone))


def digest_trigger(settings: Settings, zone: str) -> Any:
    """Fires at DIGEST_TIME local time on DIGEST_DAYS in ``zone``."""
    return _cron(settings, zone, str(int(settings.digest_time.split(":")[0])))


def retry_trigger(settings: Settings, zone: str) -> Any | None:
    """Fires hourly for DIGEST_RETRY_HOURS after DIGEST_TIME (same day, same minute), or None."""
    hour = int(settings.digest_time.split(":")[0])
    last = min(23, hour + settings.digest_retry_hours)
    return _cron(settings, zone, f"{hour + 1}-{last}") if last > hour else None


class ZoneRun:
    """One zone's job: every rep in ``zone`` gets ``deliver(email, today in zone)``."""

    def __init__(
        self, zone: str, deliver: DeliverDay, users: Users, *, default: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self.zone, self._deliver, self._users, self._default, self._now = zone, deliver, users, default, now

    def __call__(self) -> None:
        today = today_in(self.zone, self._now())
        for email, tz in self._users():
            if zone_of(tz, self._default) != self.zone:
                continue
            try:
                self._deliver(email, today)
            except Exception:  # a background job's outermost boundary: log it and go on
                log.exception("digest run failed for one rep", extra={"zone": self.zone})


def sync_zones(scheduler: Any, settings: Settings, deliver: DeliverDay, users: Users) -> list[str]:
    """(Re)create one job per zone the reps are in (and its retry job); drop zones nobody is in."""
    default = default_zone(settings)
    zones = sorted({zone_of(tz, default) for _, tz in users()})
    wanted: set[str] = set()
    for zone in zones:
        run = ZoneRun(zone, deliver, users, default=default)
        for job_id, trigger in ((f"digest:{zone}", digest_trigger(settings, zone)),
                                (f"digest-retry:{zone}", retry_trigger(settings, zone))):  # fmt: skip
            if trigger is None:
                continue
            wanted.add(job_id)
            if scheduler.get_job(job_id) is None:
                scheduler.add_job(run, trigger, id=job_id, name=job_id)
    for job in scheduler.get_jobs():
        if job.id.startswith("digest") and job.id != "digest-zones" and job.id not in wanted:
            job.remove()
    return zones


def start_scheduler(settings: Settings, deliver: DeliverDay, users: Users) -> BackgroundScheduler | None:
    """Start the digest schedule in a background thread; None when DIGEST_SCHEDULER=false.

    ``users`` is called at start (in the background), every ZONE_SYNC_MINUTES and at each run, so
    it should be cheap (cache Slack look-ups). Call ``scheduler.shutdown()`` when the server stops.
    """
    if not settings.digest_scheduler:
        log.info("digest scheduler off (DIGEST_SCHEDULER=false)")
        return None
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS, "max_instances": 1},
    )

    def sync() -> None:
        sync_zones(scheduler, settings, deliver, users)

    scheduler.add_job(sync, "interval", minutes=ZONE_SYNC_MINUTES, id="digest-zones",
                      next_run_time=datetime.now(UTC))  # fmt: skip
    scheduler.start()
    return scheduler
