"""Property: search never returns a record the viewer may not read, and never starves them.

Random records (owners, teams, visibility) and random viewers; the index is the real one, the
embedder a deterministic in-memory fake so hypothesis can run hundreds of cases quickly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_settings
from bot.identity.viewer import Viewer
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.index import ChunkMeta, SearchIndex
from bot.knowledge.search import HybridSearcher, SearchTuning
from tests.conftest import HashEmbedder
from tests.crm_fixtures import write_csv

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


# --- access follows the parent across partial exports, through the real ingest and store -------------


@st.composite
def access_specs(draw: st.DrawFn) -> dict[str, str]:
    team = sorted(set(draw(st.lists(st.sampled_from(PEOPLE), max_size=2))))
    return {"owner_email": draw(st.sampled_from(PEOPLE)), "team": ";".join(team),
            "visibility": draw(st.sampled_from(["public", "private"]))}  # fmt: skip


@st.composite
def crm_histories(
    draw: st.DrawFn,
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]], list[dict[str, dict[str, str]]]]:
    """Accounts and deals with their access, then partial exports re-granting some of them."""
    accounts = {f"A{i}": draw(access_specs()) for i in range(draw(st.integers(1, 3)))}
    deals = {f"D{i}": {"account_id": draw(st.sampled_from(sorted(accounts))), **draw(access_specs())}
             for i in range(draw(st.integers(0, 3)))}  # fmt: skip
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        keys = draw(
            st.lists(st.sampled_from(sorted(accounts) + sorted(deals)), min_size=1, max_size=3, unique=True)
        )
        changes.append({key: draw(access_specs()) for key in keys})
    return accounts, deals, changes


def _write_parents(
    folder: Path, accounts: dict[str, dict[str, str]], deals: dict[str, dict[str, str]]
) -> None:
    if accounts:
        write_csv(folder, "accounts", [{"account_id": a, "name": f"Account {a}", **spec}
                                       for a, spec in accounts.items()])  # fmt: skip
    if deals:
        write_csv(folder, "deals", [{"deal_id": d, "name": f"Deal {d}", "stage": "proposal", **spec}
                                    for d, spec in deals.items()])  # fmt: skip


def _expected(viewer: str, spec: dict[str, str]) -> bool:
    return spec["visibility"] == "public" or viewer in (spec["owner_email"], *spec["team"].split(";"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=crm_histories())
def test_children_follow_their_parent_through_partial_exports(
    history: tuple[dict[str, dict[str, str]], dict[str, dict[str, str]], list[dict[str, dict[str, str]]]],
) -> None:
    accounts, deals, changes = history
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kb = KnowledgeBase.open(load_settings(chroma_path=root / "chroma", index_refresh_seconds=0), EMBEDDER)
        full = root / "full"
        _write_parents(full, accounts, deals)
        write_csv(
            full, "contacts", [{"contact_id": f"C{a}", "account_id": a, "name": "Pat"} for a in accounts]
        )
        write_csv(full, "notes", [{"note_id": f"NA{a}", "account_id": a, "deal_id": "", "body": "account note"}
                                  for a in accounts] +
                                 [{"note_id": f"ND{d}", "account_id": "", "deal_id": d, "body": "deal note"}
                                  for d in deals])  # fmt: skip
        assert not kb.ingest_crm(full).problems
        for n, change in enumerate(changes):
            for key, spec in change.items():
                if key in accounts:
                    accounts[key] = spec
                else:
                    deals[key] = {"account_id": deals[key]["account_id"], **spec}
            partial = root / f"partial{n}"
            _write_parents(partial, {a: accounts[a] for a in change if a in accounts},
                           {d: deals[d] for d in change if d in deals})  # fmt: skip
            assert not kb.ingest_crm(partial).problems
            index = kb.index()
            for who in [*PEOPLE, "stranger@x.example"]:
                mask = index.visible(Viewer(who))
                seen = {m.source_key for m, ok in zip(index.metas, mask, strict=True) if ok}
                want = {f"account:{a}" for a, s in accounts.items() if _expected(who, s)}
                want |= {f"contact:C{a}" for a, s in accounts.items() if _expected(who, s)}
                want |= {f"note:NA{a}" for a, s in accounts.items() if _expected(who, s)}
                want |= {f"deal:{d}" for d, s in deals.items() if _expected(who, s)}
                want |= {f"note:ND{d}" for d, s in deals.items() if _expected(who, s)}
                assert seen == want, who
