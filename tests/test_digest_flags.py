"""Flag boundaries on a frozen day: pure rules first, then the same through a real store."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.digest.flags import flags_of, totals, urgency
from bot.digest.model import Deal, DigestLine
from tests.digest_fixtures import ALICE, TODAY, boundary_export, service_for


def flags(close: int | None = 30, note: int | None = -1, stage: str = "proposal", before: str | None = None,
          **kw: int) -> tuple[str, ...]:  # fmt: skip
    return flags_of(
        today=TODAY,
        close_date=TODAY + timedelta(days=close) if close is not None else None,
        last_note=TODAY + timedelta(days=note) if note is not None else None,
        stage=stage,
        previous_stage=before,
        **kw,
    )


@pytest.mark.parametrize(
    ("close", "expected"),
    [(-30, ("overdue",)), (-1, ("overdue",)), (0, ("closing_soon",)), (1, ("closing_soon",)),
     (14, ("closing_soon",)), (15, ()), (None, ())],
)  # fmt: skip
def test_close_date_boundaries(close: int | None, expected: tuple[str, ...]) -> None:
    assert flags(close=close) == expected


@pytest.mark.parametrize(
    ("note", "stale"), [(0, False), (-13, False), (-14, False), (-15, True), (-200, True), (None, True)]
)
def test_stale_boundary_a_note_exactly_fourteen_days_ago_is_fresh(note: int | None, stale: bool) -> None:
    assert ("stale" in flags(note=note)) is stale


def test_windows_follow_the_settings() -> None:
    assert flags(close=20, closing_days=30) == ("closing_soon",)
    assert flags(close=0, closing_days=0) == ("closing_soon",)
    assert flags(note=-20, stale_days=30) == ()


def test_stage_changed_only_against_a_different_previous_stage() -> None:
    assert flags(before="discovery") == ("stage_changed",)
    assert flags(before="proposal") == ()
    assert flags(before=None) == ()  # new to the digest is not "changed"


def test_flags_are_listed_most_urgent_first() -> None:
    assert flags(close=-3, note=-40, before="discovery") == ("overdue", "stale", "stage_changed")
    assert flags(close=2, note=None) == ("closing_soon", "stale")


def _line(name: str, flags: tuple[str, ...], close: int | None, amount: float | None) -> DigestLine:
    deal = Deal(name, name, ALICE, "proposal", amount=amount, currency="USD",
                close_date=TODAY + timedelta(days=close) if close is not None else None)  # fmt: skip
    return DigestLine(deal, flags)  # type: ignore[arg-type]


def test_urgency_order_then_close_date_then_amount() -> None:
    lines = [
        _line("plain-late", (), 90, 10),
        _line("plain-none", (), None, 10),
        _line("changed", ("stage_changed",), 50, 10),
        _line("stale", ("stale",), 50, 10),
        _line("soon-small", ("closing_soon",), 5, 10),
        _line("soon-big", ("closing_soon",), 5, 99),
        _line("soon-first", ("closing_soon", "stale"), 2, 1),
        _line("overdue", ("overdue", "stale"), -1, 1),
        _line("plain-early", (), 30, 10),
    ]
    ordered = [x.deal.name for x in sorted(lines, key=urgency)]
    assert ordered == ["overdue", "soon-first", "soon-big", "soon-small", "stale", "changed",
                       "plain-early", "plain-late", "plain-none"]  # fmt: skip


def test_totals_per_currency_skip_unknown_amounts() -> None:
    lines = [_line("a", (), 1, 100), _line("b", (), 1, 50.5), _line("c", (), 1, None)]
    assert totals(lines) == {"USD": 150.5}


# --- the same boundaries through a real store -------------------------------------------------------


def test_boundaries_end_to_end(tmp_path: Path) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    digest = service.build(ALICE, TODAY)
    got = {line.deal.deal_id: line.flags for line in digest.lines}
    assert got == {
        "BY": ("overdue",),
        "B0": ("closing_soon",),
        "B14": ("closing_soon",),
        "S15": ("stale",),  # its note two days in the future is not seen from today
        "SN": ("stale",),
        "B15": (),
        "S14": (),
    }
    assert [line.deal.deal_id for line in digest.lines] == ["BY", "B0", "B14", "S15", "SN", "B15", "S14"]
    assert digest.scope == "own" and digest.totals == {"USD": 16500.0, "EUR": 4000.0}
    s15 = next(line for line in digest.lines if line.deal.deal_id == "S15")
    assert s15.last_note == date(2026, 11, 10) and s15.days_since_note == 15
    sn = next(line for line in digest.lines if line.deal.deal_id == "SN")
    assert sn.last_note is None and sn.deal.amount is None


def test_a_later_date_moves_every_boundary_by_one_day(tmp_path: Path) -> None:
    service = service_for(tmp_path, boundary_export(tmp_path / "crm"))
    got = {line.deal.deal_id: line.flags for line in service.build(ALICE, TODAY + timedelta(days=1)).lines}
    assert got["B0"] == ("overdue",)  # closing "today" yesterday
    assert got["B15"] == ("closing_soon",)  # 14 days away now
    assert got["S14"] == ("stale",)  # its last note is 15 days old now
    assert got["BY"] == ("overdue",)
