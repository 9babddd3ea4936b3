"""Conversation history (a thread's earlier turns) as prompt text, capped by tokens.

Tokens are estimated at four characters each: close enough for English with the models Closer
targets, and needs no tokenizer download. The newest turns are kept; older ones are dropped whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    text: str


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def render_history(turns: Sequence[Turn], *, limit: int) -> str:
    kept: list[str] = []
    used = 0
    for turn in reversed(turns):
        line = f"{'Rep' if turn.role == 'user' else 'Closer'}: {turn.text.strip()}"
        cost = estimate_tokens(line)
        if used + cost > limit:
            break
        kept.append(line)
        used += cost
    return "\n".join(reversed(kept)) if kept else "(none)"
