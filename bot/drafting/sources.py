"""Numbered sources for a prompt, and the citations that may point back at them.

The model sees each source framed as data, ``<source n="1" kind="note" title="…">…</source>``, and
cites it as ``[1]``. Text from outside — notes, docs, a customer's message, earlier turns — may
contain instructions meant for the model; the prompts say that framed text is data, never
instructions, and :func:`as_data` makes sure such text cannot close its frame or open a new one
(no ``<``/``>`` survive inside, so neither a fake ``</source>`` nor a chat template's special tokens
such as ``<|im_end|>`` reach the model intact). Only markers that name a source retrieved for *this*
user survive (:func:`keep_valid_citations`); the rest are removed from the text, so a citation can
never point at something the rep may not see.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.knowledge.search import Hit

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
MAX_SOURCE_CHARS = 1500
_NEUTRAL = str.maketrans({"<": "‹", ">": "›"})


@dataclass(frozen=True)
class Citation:
    number: int
    source_id: str
    source_type: str
    title: str

    def as_json(self) -> dict[str, str]:
        return {"source_id": self.source_id, "source_type": self.source_type, "title": self.title}


def as_data(text: str) -> str:
    """Untrusted text made safe to put inside a frame of the prompt: angle brackets become look-alike
    quotes, so the text can neither close its frame nor pass for the prompt's own markup."""
    return text.translate(_NEUTRAL)


def framed(tag: str, text: str) -> str:
    """``text`` as data inside ``<tag>…</tag>``."""
    return f"<{tag}>\n{as_data(text)}\n</{tag}>"


def render_sources(hits: Sequence[Hit]) -> str:
    """The sources block of a prompt: each source framed as data with its number, kind and title."""
    blocks = []
    for n, hit in enumerate(hits, start=1):
        text = hit.text if len(hit.text) <= MAX_SOURCE_CHARS else hit.text[:MAX_SOURCE_CHARS] + " …"
        title = as_data(hit.title).replace('"', "'")
        blocks.append(
            f'<source n="{n}" kind="{hit.source_type}" title="{title}">\n{as_data(text)}\n</source>'
        )
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
