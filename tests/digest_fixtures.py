"""Shared by the digest tests: a hand-made CRM export around one frozen day, and a digest service
built on real local parts (embedded Chroma in tmp, a hash embedder, a SQLite state database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from bot.assistant import Assistant
from bot.config import Settings, load_settings
from bot.digest.service import DigestService
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.embedder import Embedder
from bot.llm.router import LLMRouter
from bot.state.store import StateStore
from tests.conftest import HashEmbedder
from tests.crm_fixtures import write_csv

TODAY = date(2026, 11, 25)  # a Wednesday, the sample company's "today"
ALICE, BOB, CAROL, DAVE = "alice@x.example", "bob@x.example", "carol@x.example", "dave@x.example"


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def at(offset: int) -> str:
    return f"{day(offset)}T09:30:00Z"


def _deal(deal_id: str, name: str, close: int | None, *, owner: str = ALICE, team: str = "",
          stage: str = "proposal", amount: str = "1000", currency: str = "USD", account: str = "A1",
          visibility: str = "private") -> dict[str, str]:  # fmt: skip
    return {"deal_id": deal_id, "account_id": account, "name": name, "owner_email": owner, "team": team,
            "stage": stage, "amount": amount, "currency": currency,
            "close_date": day(close) if close is not None else "", "next_step": f"next step of {deal_id}",
            "updated_at": at(-1), "visibility": visibility}  # fmt: skip


def boundary_deals(stages: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Alice's deals sit on each flag boundary; Carol's are on other people's teams."""
    s = stages or {}
    return [
        _deal("B0", "Closes today", 0, amount="500"),
        _deal("B14", "Closes in fourteen days", 14, team=BOB, stage=s.get("B14", "proposal"), amount="2000"),
        _deal("B15", "Closes in fifteen days", 15, amount="3000"),
        _deal("BY", "Closed yesterday", -1, amount="4000", currency="EUR"),
        _deal("S14", "Note fourteen days ago", 60, amount="5000"),
        _deal("S15", "Note fifteen days ago", 60, amount="6000"),
        _deal("SN", "No notes at all", 60, amount=""),
        _deal("W", "Won already", 3, stage="closed_won"),
        _deal("L", "Lost already", -3, stage="closed_lost"),
        # Carol's private deal with Bob and Dave on its team: never in Alice's digest.
        _deal(
            "C1", "Carol secret expansion", 5, owner=CAROL, team=f"{BOB};{DAVE}", account="A2", amount="9000"
        ),
        # Carol's public deal: Alice may read it, but it is neither hers nor her team's.
        _deal("C2", "Carol public pilot", -2, owner=CAROL, account="A2", visibility="public"),
    ]


def boundary_notes() -> list[dict[str, str]]:
    rows = [(d, -1) for d in ("B0", "B14", "B15", "BY", "C1", "C2")]
    rows += [("S14", -14), ("S14", -40), ("S15", -15), ("S15", -30), ("S15", 2)]  # a note "from the future"
    return [
        {"note_id": f"N{n}", "account_id": "A2" if deal.startswith("C") else "A1", "deal_id": deal,
         "author_email": ALICE, "created_at": at(offset), "kind": "call", "subject": f"Call on {deal}",
         "body": f"Talked about {deal}; they want a call back."}
        for n, (deal, offset) in enumerate(rows)
    ]  # fmt: skip


def boundary_export(folder: Path, *, stages: dict[str, str] | None = None) -> Path:
    write_csv(folder, "accounts", [
        {"account_id": "A1", "name": "Acme", "owner_email": ALICE, "visibility": "private"},
        {"account_id": "A2", "name": "Globex", "owner_email": CAROL, "visibility": "private"},
    ])  # fmt: skip
    write_csv(folder, "deals", boundary_deals(stages))
    write_csv(folder, "notes", boundary_notes())
    return folder


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(chroma_path=tmp_path / "chroma", state_url=f"sqlite:///{tmp_path / 'state.db'}",
                         cache_dir=tmp_path / "cache", index_refresh_seconds=0, admin_emails="admin@x.example",
                         llm_retry_seconds=0, llm_timeout_seconds=5, **overrides)  # fmt: skip


def service_for(
    tmp_path: Path, crm: Path | Sequence[Path], *, embedder: Embedder | None = None, **overrides: object
) -> DigestService:
    settings = settings_for(tmp_path, **overrides)
    kb = KnowledgeBase.open(settings, embedder or HashEmbedder())
    for folder in [crm] if isinstance(crm, Path) else crm:
        kb.ingest_crm(folder)
    assistant = Assistant(settings, kb, LLMRouter(settings), StateStore.open(settings.state_url),
                          today=lambda: TODAY)  # fmt: skip
    return DigestService(assistant)
