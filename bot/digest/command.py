"""``closer digest [--user EMAIL] [--date YYYY-MM-DD] [--send] [--json]``, behind ``bot/cli.py``.

Without ``--send`` it only prints (text, or the contract's JSON). With it, each rep's digest is
claimed in the state database and handed to ``deliver`` (the CLI passes the Slack sender), so a
second run the same day sends nothing and says so. Exit status 1 when a digest could not be sent
(it is retried by the next run that day).
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import date
from typing import TextIO

from bot.digest.model import Digest
from bot.digest.schedule import default_zone, today_in
from bot.digest.service import Deliver, DigestService, SendResult
from bot.digest.text import render_text
from bot.json_output import to_json

EXIT_OK, EXIT_FAILED = 0, 1

_SAID = {
    "sent": "sent",
    "already_sent": "already sent today, not sent again",
    "in_progress": "being sent by another process, not sent again",
    "empty": "no open deals, nothing to send",
}


def run_digest(
    service: DigestService,
    *,
    user: str | None,
    day: date | None,
    deliver: Deliver | None,
    as_json: bool,
    out: TextIO = sys.stdout,
) -> int:
    day = day or today_in(default_zone(service.settings))
    users = [user.strip().lower()] if user else None
    if deliver is None:
        pipe = service.pipeline()
        digests = [service.build(u, day, pipeline=pipe) for u in (users or pipe.recipients())]
        _print(digests, as_json, out)
        return EXIT_OK
    results = service.send_all(day, deliver, users=users)
    _print([r.digest for r in results], as_json, out, results=results)
    return EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK


def _print(
    digests: list[Digest], as_json: bool, out: TextIO, *, results: list[SendResult] | None = None
) -> None:
    if as_json:
        print(to_json({"digests": [d.as_json() for d in digests]}), file=out)
        return
    if not digests:
        print("No open deals with an owner or team in the CRM: no digests.", file=out)
        return
    if results is None:
        print("\n\n".join(render_text(d) for d in digests), file=out)
        return
    for r in results:
        said = (
            f"failed: {r.error} (retried by the next run today)" if r.status == "failed" else _SAID[r.status]
        )
        count = f" ({len(r.digest.lines)} deals, {r.digest.flagged} flagged)" if r.status == "sent" else ""
        print(f"{r.user}: {said}{count}", file=out)
    counts = Counter(r.status for r in results)
    already = counts["already_sent"] + counts["in_progress"]
    if not counts["sent"] and not counts["failed"]:
        why = "was already sent" if already else "had no open deals"
        print(f"Nothing sent: every digest for {results[0].day.isoformat()} {why}.", file=out)
    else:
        print(f"{counts['sent']} sent, {counts['failed']} failed, "
              f"{already} already sent.", file=out)  # fmt: skip
