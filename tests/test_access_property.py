"""Property: search never returns a record the viewer may not read, and never starves them.

Random records (owners, teams, visibility) and random viewers; the index is the real one, the
embedder a deterministic in-memory fake so hypothesis can run hundreds of cases quickly.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.identity.viewer import Viewer
from bot.knowledge.index import ChunkMeta, SearchIndex
from bot.knowledge.search import HybridSearcher, SearchTuning
from tests.conftest import HashEmbedder

PEOPLE = [f"rep{i}@x.example" for i in range(6)]
WORDS = [
    "pricing",
    "renewal",
    "robots",
    "AX-PRO-2",
    "TKT-2291",
    "security",
    "discount",
    "pilot",
    "Acme",
    "Globex",
]
EMBEDDER = HashEmbedder()


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[ChunkMeta], list[str]]:
    n_sources = draw(st.integers(1, 40))
    metas: list[ChunkMeta] = []
    texts: list[str] = []
    for s in range(n_sources):
        kind = draw(st.sampled_from(["note", "deal", "account", "contact", "doc"]))
        public = kind == "doc" or draw(st.booleans())
        readers = tuple(sorted(set(draw(st.lists(st.sampled_from(PEOPLE), max_size=3)))))
        for c in range(draw(st.integers(1, 3))):  # several chunks per source: dedup must hold too
            metas.append(ChunkMeta(f"{kind}:S{s}#{c}", kind, f"S{s}", f"Source {s}",
                                   visibility="public" if public else "private", readers=readers))  # fmt: skip
            texts.append(" ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))))
    return metas, texts


def may_read(viewer: Viewer, meta: ChunkMeta) -> bool:
    return viewer.is_admin or meta.visibility == "public" or viewer.email in meta.readers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=corpora(),
    who=st.sampled_from([*PEOPLE, "stranger@x.example"]),
    admin=st.booleans(),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    k=st.integers(1, 12),
    fusion=st.sampled_from(["convex", "rrf", "bm25", "dense"]),
    candidates=st.integers(10, 30),
)
def test_no_forbidden_record_and_no_starvation(
    corpus: tuple[list[ChunkMeta], list[str]], who: str, admin: bool, query: str, k: int, fusion: str,
    candidates: int,
) -> None:  # fmt: skip
    metas, texts = corpus
    index = SearchIndex(metas, texts, EMBEDDER.embed(texts))
    viewer = Viewer(who, is_admin=admin)
    tuning = SearchTuning(fusion=fusion, candidates=candidates)  # type: ignore[arg-type]
    hits = HybridSearcher(lambda: index, EMBEDDER, tuning=tuning).search(query, viewer=viewer, k=k)

    readable = {m.source_key for m in metas if may_read(viewer, m)}
    returned = [f"{h.source_type}:{h.source_id}" for h in hits]
    assert set(returned) <= readable, "a forbidden record was returned"
    assert len(returned) == len(set(returned)), "a source appeared twice"
    if fusion != "bm25":  # dense ranks every visible row, so the viewer always gets k of theirs
        assert len(returned) == min(k, len(readable)), "visible records were crowded out"
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_forbidden_rows_do_not_take_top_k_slots() -> None:
    """Many forbidden near-duplicates of the query must not push out the one readable record."""
    texts = ["AX-PRO-2 discount pricing"] * 50 + ["pricing sheet for robots"]
    metas = [ChunkMeta(f"note:F{i}#0", "note", f"F{i}", "x", readers=("other@x.example",)) for i in range(50)]
    metas.append(ChunkMeta("doc:ok#0", "doc", "ok", "Pricing", visibility="public"))
    index = SearchIndex(metas, texts, EMBEDDER.embed(texts))
    for fusion in ("convex", "rrf", "bm25", "dense"):
        tuning = SearchTuning(fusion=fusion, candidates=10)  # type: ignore[arg-type]
        hits = HybridSearcher(lambda: index, EMBEDDER, tuning=tuning).search(
            "AX-PRO-2 discount pricing", viewer=Viewer("me@x.example"), k=5
        )
        assert [h.source_id for h in hits] == ["ok"], fusion
    assert np.count_nonzero(index.visible(Viewer("other@x.example"))) == 51
