"""The command grammar shared by the slash command and direct messages.

``/sales <question>`` or ``ask <question>``; ``followup <deal name or id>``; ``reply <customer
message>``; ``digest``; ``private on|off|status``; ``help``. ``--private`` anywhere makes that one
request private.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.errors import InputError

Verb = Literal["ask", "followup", "reply", "digest", "private", "help"]
_FLAG = re.compile(r"(?<!\S)--private(?!\S)", re.IGNORECASE)
_VERBS: dict[str, Verb] = {"ask": "ask", "followup": "followup", "follow-up": "followup", "reply": "reply",
                           "digest": "digest", "private": "private", "help": "help"}  # fmt: skip
PRIVACY_MODES = ("on", "off", "status")


@dataclass(frozen=True)
class Command:
    verb: Verb
    arg: str = ""
    private: bool = False  # --private: this request only


def help_text(command: str) -> str:
    c = command
    return (
        f"*{c} <question>* (or *{c} ask <question>*) — an answer from your CRM notes and product docs, "
        "with sources\n"
        f"*{c} followup <deal name or id>* — a follow-up email draft for a deal\n"
        f"*{c} reply <customer message>* — a draft reply to a customer\n"
        f"*{c} digest* — your deals that need attention\n"
        f"*{c} private on|off|status* — 🔒 private mode: your requests go only to the no-log endpoint\n"
        f"Add *--private* to any of them for one private request. You can also message me directly, "
        "or mention me in a channel (I answer there from docs and public records only)."
    )


def parse(text: str, *, default: Verb = "ask") -> Command:
    """Raises :class:`InputError` with a usage hint when a verb is missing its argument."""
    private = bool(_FLAG.search(text))
    rest = " ".join(_FLAG.sub(" ", text).split())
    if not rest:
        return Command("help", "", private)
    first, _, arg = rest.partition(" ")
    verb = _VERBS.get(first.lower())
    if verb is None:
        return Command(default, rest, private)
    arg = arg.strip()
    if verb == "private":
        mode = arg.lower() or "status"
        if mode not in PRIVACY_MODES:
            raise InputError("use `private on`, `private off` or `private status`")
        return Command("private", mode, private)
    if verb in ("ask", "followup", "reply") and not arg:
        what = {"ask": "a question", "followup": "a deal name or id", "reply": "the customer's message"}[verb]
        raise InputError(f"`{first.lower()}` needs {what} after it")
    return Command(verb, arg, private)
