"""The one way Closer prints JSON: always valid JSON, so a non-finite number becomes ``null``.

``json.dumps`` writes ``NaN`` and ``Infinity`` by default, which no JSON parser accepts; every
``--json`` output goes through :func:`to_json`, which maps them to ``null`` and then dumps with
``allow_nan=False`` so nothing non-finite can slip through.
"""

from __future__ import annotations

import json
import math


def finite(value: object) -> object:
    """``value`` with every non-finite float (in dicts, lists and tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def to_json(value: object, *, indent: int | None = 2) -> str:
    return json.dumps(finite(value), ensure_ascii=False, indent=indent, allow_nan=False)


__all__ = ["finite", "to_json"]
