"""Entity scoping finds the same accounts with its quick first-word lookup as by trying every
visible account's every pattern, and never an account the viewer cannot see."""

from __future__ import annotations

import re

import numpy as np

from bot.identity.viewer import Viewer
from bot.knowledge.index import ChunkMeta, SearchIndex
from bot.knowledge.search import _SUFFIXES, HybridSearcher

FIRST = ["Acme", "Acme Rocket", "Borealis", "Cobalt", "Delta", "Ridgeback", "Nordlicht", "São", "Öresund"]
SECOND = ["Logistics", "Foods", "Outdoor Supply", "Paulo Metals", "Pharma", "Bridge"]
SUFFIX = ["", " Inc.", " GmbH", " Corp", " & Co"]


def _every_pattern(accounts: list[tuple[str, str]], query: str) -> list[str]:
    """The scoping rule written out plainly: each account's patterns tried in turn, in order."""
    firsts: dict[str, int] = {}
    cores = {}
    for account_id, name in accounts:
        words = name.split()
        cores[account_id] = [w for w in words if w.lower().strip(",.") not in _SUFFIXES] or words
        for n in range(1, len(cores[account_id])):
            firsts[" ".join(cores[account_id][:n])] = firsts.get(" ".join(cores[account_id][:n]), 0) + 1
    remaining, named = query, []
    for account_id, name in accounts:
        core = cores[account_id]
        patterns = [re.compile(rf"(?<!\w){re.escape(v)}(?:'s)?(?!\w)", re.IGNORECASE)
                    for v in sorted({name, " ".join(core)}, key=len, reverse=True) if len(v) >= 3]  # fmt: skip
        for n in range(len(core) - 1, 0, -1):
            prefix = " ".join(core[:n])
            if firsts.get(prefix) == 1 and len(prefix) >= 4 and prefix[0].isupper():
                patterns.append(re.compile(rf"(?<!\w){re.escape(prefix)}(?:'s)?(?!\w)"))
        for pattern in patterns:
            if pattern.search(remaining):
                named.append(account_id)
                remaining = pattern.sub(" ", remaining)
                break
    return named


def test_the_first_word_lookup_names_what_every_pattern_names() -> None:
    rng = np.random.default_rng(4)
    names = sorted({f"{a} {b}{c}" for a in FIRST for b in SECOND for c in SUFFIX})
    metas = [ChunkMeta(f"account:A{i}#0", "account", f"A{i}", name, account_id=f"A{i}",
                       readers=(f"rep{i % 3}@x",)) for i, name in enumerate(names)]  # fmt: skip
    index = SearchIndex(metas, ["x"] * len(metas), np.ones((len(metas), 2), np.float32))
    searcher = HybridSearcher(lambda: index, None)  # type: ignore[arg-type]
    for viewer in (Viewer("rep1@x"), Viewer("boss@x", is_admin=True)):
        mask = index.visible(viewer)
        visible = [(m.account_id, m.title) for m, seen in zip(metas, mask, strict=True) if seen]
        for _ in range(150):
            picked = [names[int(i)] for i in rng.integers(len(names), size=int(rng.integers(0, 3)))]
            cased = [
                p.lower() if rng.random() < 0.3 else p.split()[0] if rng.random() < 0.3 else p for p in picked
            ]
            query = "what did " + " and ".join(f"{p}'s team" for p in cased) + " ask for?"
            _, _, named = searcher._scope(index, query, mask)
            assert named == _every_pattern(visible, query), query
            assert all(index.meta(index.rows_of_source(f"account:{a}")[0]).readers in ((viewer.email,),)
                       or viewer.is_admin for a in named)  # fmt: skip
