"""``closer sync hubspot|salesforce [--full]``: the command-line door of the CRM sync."""

from __future__ import annotations

import argparse
import sys

from bot.config import Settings
from bot.errors import CrmError

from .engine import SyncReport, SyncRun
from .http import CallCounter
from .source import CrmSource

CRMS = ("hubspot", "salesforce")
SHOWN_PROBLEMS = 20


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sync = sub.add_parser("sync", help="read HubSpot or Salesforce through their APIs (incremental)")
    sync.add_argument("crm", choices=CRMS, help="which CRM to read (its HUBSPOT_* settings: .env.example)")
    sync.add_argument("--full", action="store_true",
                      help="re-read everything and remove what the CRM no longer has")  # fmt: skip


def make_source(crm: str, settings: Settings, counter: CallCounter) -> CrmSource:
    """The configured CRM's source; needs the ``crm`` extra (hubspot-api-client, simple-salesforce)."""
    try:
        if crm == "hubspot":
            from .hubspot import HubSpotSource

            return HubSpotSource(settings, counter)
        from .salesforce import SalesforceSource

        return SalesforceSource(settings, counter)
    except ImportError as exc:
        raise CrmError(
            f"`closer sync {crm}` needs the crm extra: pip install 'closer[crm]' ({exc.name})"
        ) from None


def configured(settings: Settings) -> list[str]:
    """The CRMs whose credentials are set."""
    out = []
    if settings.hubspot_access_token:
        out.append("hubspot")
    if settings.salesforce_client_id:
        out.append("salesforce")
    return out


def sync_once(crm: str, settings: Settings, *, full: bool = False, progress: bool = False) -> SyncReport:
    from bot.knowledge.base import KnowledgeBase
    from bot.state.store import StateStore

    counter = CallCounter()
    source = make_source(crm, settings, counter)
    kb = KnowledgeBase.open(settings)
    with StateStore.open(settings.state_url) as state:
        return SyncRun(source, kb, state, counter, full=full, progress=progress).run()


def print_report(report: SyncReport) -> None:
    for problem in report.problems[:SHOWN_PROBLEMS]:
        print(f"closer: {problem}", file=sys.stderr)
    if len(report.problems) > SHOWN_PROBLEMS:
        print(
            f"closer: … and {len(report.problems) - SHOWN_PROBLEMS} more skipped record(s)", file=sys.stderr
        )
    for notice in report.notices:
        print(f"closer: {notice}", file=sys.stderr)
    print(report.summary())


def run(args: argparse.Namespace, settings: Settings) -> int:
    report = sync_once(args.crm, settings, full=args.full, progress=sys.stderr.isatty())
    print_report(report)
    return 0
