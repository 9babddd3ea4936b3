"""The scheduled CRM sync of ``closer serve``: every CRM_SYNC_MINUTES, each configured CRM.

Off by default (0). A fleet runs the ``closer-crm-sync`` CronJob instead (deploy/k8s/crm-sync-
cronjob.yaml); the lease in the state database lets one sync of a CRM run at a time either way.
"""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bot.config import Settings
from bot.errors import CloserError

from .command import configured, sync_once

log = logging.getLogger(__name__)


def sync_job(settings: Settings, crm: str) -> None:
    try:
        report = sync_once(crm, settings)
    except CloserError as exc:
        log.warning("CRM sync failed", extra={"crm": crm, "error": str(exc)})
        return
    log.info("CRM sync done", extra={"crm": crm, "summary": report.summary()})


def start_sync_scheduler(settings: Settings) -> Any | None:
    """A started scheduler with one interval job per configured CRM, or None when off."""
    crms = configured(settings)
    if settings.crm_sync_minutes <= 0 or not crms:
        return None
    scheduler = BackgroundScheduler(timezone="UTC")
    for crm in crms:
        scheduler.add_job(sync_job, "interval", minutes=settings.crm_sync_minutes, args=[settings, crm],
                          id=f"crm-sync-{crm}", coalesce=True, max_instances=1)  # fmt: skip
    scheduler.start()
    return scheduler
