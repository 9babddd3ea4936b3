"""`closer doctor`'s CRM check: sign in and make one cheap read, when a CRM is configured."""

from __future__ import annotations

from typing import Literal

from bot.config import Settings
from bot.errors import CrmError

from .command import configured, make_source
from .http import CallCounter

Status = Literal["ok", "fail", "skip"]


def crm_health(settings: Settings, crm: str) -> tuple[Status, str, str]:
    """(status, what was found, how to fix it) for ``crm``."""
    if crm not in configured(settings):
        return "skip", "not configured", ""
    counter = CallCounter()
    try:
        return "ok", make_source(crm, settings, counter).check(), ""
    except CrmError as exc:
        return "fail", str(exc), 'see README "Connect your CRM" for the token, scopes and permissions'
