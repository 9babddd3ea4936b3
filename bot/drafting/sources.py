"""Numbered sources for a prompt, and the citations that may point back at them.

The model sees sources as ``[1] …``, ``[2] …`` and cites them with the same markers. Only markers
that name a source retrieved for *this* user survive (:func:`keep_valid_citations`); the rest are
removed from the text, so a citation can never point at something the rep may not see.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.knowledge.search import Hit

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
MAX_SOURCE_CHARS = 1500


@dataclass(frozen=True)
class Citation:
    number: int
    source_id: str
    source_type: str
    title: str

    def as_json(self) -> dict[str, str]:
        return {"source_id": self.source_id, "source_type": self.source_type, "title": self.title}


def render_sources(hits: Sequence[Hit]) -> str:
    """The sources block of a prompt: number, kind, title, then the chunk text (trimmed)."""
    blocks = []
    for n, hit in enumerate(hits, start=1):
        text = hit.text if len(hit.text) <= MAX_SOURCE_CHARS else hit.text[:MAX_SOURCE_CHARS] + " …"
        blocks.append(f"[{n}] ({hit.source_type}) {hit.title}\n{text}")
    return "\n\n".join(blocks) if blocks else "(no sources found)"


def keep_valid_citations(text: str, hits: Sequence[Hit]) -> tuple[str, list[Citation]]:
    """Drop markers that point at no retrieved source; return the text and the sources it cites,
    in order of first citation."""
    cited: dict[int, Citation] = {}

    def fix(match: re.Match[str]) -> str:
        valid = []
        for part in match.group(1).split(","):
            n = int(part)
            if 1 <= n <= len(hits):
                valid.append(n)
                if n not in cited:
                    h = hits[n - 1]
                    cited[n] = Citation(n, h.source_id, h.source_type, h.title)
        return "".join(f"[{n}]" for n in valid)

    cleaned = _MARKER.sub(fix, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)  # no orphan space where a marker was
    return cleaned, list(cited.values())


def cited_text(citations: Sequence[Citation], hits: Sequence[Hit]) -> list[str]:
    """The text of every cited source (what claims are checked against)."""
    return [hits[c.number - 1].text for c in citations]
