"""Closer's deal stages, and how a CRM's stage labels map onto them.

One table per CRM, shared by the CSV-export reader (``closer ingest crm --format``) and the live sync
(``closer sync``): the ``[stages]`` table of the built-in mappings in ``bot/knowledge/crm_maps/``.
Labels are compared by :func:`stage_key` — case, spaces and punctuation do not matter — so the label a
user sees in an export (``Closed Won``, ``Decision Maker Bought-In``) and the internal value an API
returns (``closedwon``, ``decisionmakerboughtin``) find the same entry. Closer's own stage names always
map to themselves.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

STAGES = ("prospecting", "qualification", "discovery", "proposal", "negotiation", "closed_won", "closed_lost")
BUILTIN_MAPS = Path(__file__).resolve().parent / "crm_maps"
StageTable = Mapping[str, str]  # stage_key(label) -> Closer stage


_PUNCTUATION = re.compile(r"[\W_]+")


def stage_key(label: str) -> str:
    """``"Closed Won"``, ``"closed-won"``, ``"closedwon"`` and ``"closed_won"`` all give ``closedwon``."""
    return _PUNCTUATION.sub("", label.casefold())


def stage_table(labels: Mapping[str, str]) -> dict[str, str]:
    """A lookup table from ``{CRM label: Closer stage}``; raises ``ValueError`` on an unknown stage."""
    table = {stage_key(s): s for s in STAGES}
    for label, stage in labels.items():
        if stage not in STAGES:
            raise ValueError(f"stage {label!r} maps to {stage!r}, which is not one of {', '.join(STAGES)}")
        table[stage_key(label)] = stage
    return table


@cache
def builtin_stage_table(crm: str) -> dict[str, str]:
    """The stage table of a built-in mapping: ``"hubspot"`` or ``"salesforce"``."""
    path = BUILTIN_MAPS / f"{crm}.toml"
    if not path.is_file():
        raise ValueError(f"no built-in CRM mapping named {crm!r}")
    with path.open("rb") as f:
        return stage_table(tomllib.load(f).get("stages", {}))


def closer_stage(label: str, table: StageTable) -> str | None:
    """The Closer stage for a CRM stage label or value, or None when the table does not know it."""
    return table.get(stage_key(label))


__all__ = ["STAGES", "StageTable", "builtin_stage_table", "closer_stage", "stage_key", "stage_table"]
