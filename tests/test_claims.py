"""The claim check verifies a value only against a value of the same kind in a cited source."""

from __future__ import annotations

import pytest

from bot.drafting.claims import check_claims

PRICE_TABLE = """Pricing › List prices
| SKU | Unit | USD | EUR |
|---|---|---|---|
| AX-PRO-2 | robot | 38,500 | 35,900 |
| HUB-M4 | gateway | 4,200 | 3,900 |"""
DEAL = "Deal: Acme Expansion — Acme Corp\nStage: negotiation · Amount: 1,044,450 USD · Close date: 2026-12-05"
DEAL_NO_CURRENCY = "Deal: Acme Expansion\nStage: negotiation · Amount: 120,000 · Close date: 2026-12-05"


def verdicts(draft: str, *sources: str) -> dict[str, bool]:
    return {c.text: c.verified for c in check_claims(draft, list(sources))}


@pytest.mark.parametrize(
    ("draft", "source"),
    [
        ("We can offer a 30% rebate [1].", "Payment follows the 30/40/30 milestone schedule."),
        ("A $30 setup fee applies [1].", "Standard terms are Net 30 days."),
        ("They get 12% off [1].", "Dallas uses 12 AX-LITE-1 robots."),
        ("The order is worth $12 [1].", "Received 12x AX-LITE-1 for the Dallas site."),
        ("Support costs 2026 USD [1].", "The contract starts in 2026."),
        ("Close by Dec 12 [1].", "We ordered 12 docks in December."),
        ("A 5% discount applies [1].", "Quote valid for 5 business days; $5,000 deposit."),
        ("They pay $250 per robot [1].", "Milestone billing applies to orders above 250 robots."),
    ],
)
def test_a_bare_number_in_another_role_does_not_verify_a_claim(draft: str, source: str) -> None:
    assert not any(verdicts(draft, source).values()), verdicts(draft, source)


@pytest.mark.parametrize(
    ("draft", "source"),
    [
        ("A 30% deposit is due at order [1].", "Milestone billing: 30 % at order, 40 % at delivery."),
        ("Up to 15% off [1].", "They asked for 15 percent off the bundle."),
        ("Up to 15% off [1].", "Discounts of fifteen per cent need approval."),
        ("They asked for thirty-five percent [1].", "A 35% discount was requested."),
        ("10% needs no approval [1].", "| 0 – 10 % | Account executive |"),
        ("5% for 2 years [1].", "Multi-year prepay: 5-10 % depending on term."),
        ("AX-PRO-2 lists at $38,500 [1].", PRICE_TABLE),
        ("HUB-M4 is 4,200 USD [1].", PRICE_TABLE),
        ("The deal is worth $1,044,450 [1].", DEAL),
        ("The deal is worth USD 1.04445M [1].", DEAL),
        ("The deal is worth $120k [1].", DEAL_NO_CURRENCY),
        ("Budget is 48,000 USD [1].", "They mentioned a budget of $48k."),
        ("A $1.1M program [1].", "Total program value $1,100,000."),
        ("Closing on 5 December [1].", DEAL),
        ("Quote AX-PRO-2 [1].", PRICE_TABLE),
    ],
)
def test_a_value_of_the_same_kind_verifies_a_claim(draft: str, source: str) -> None:
    found = verdicts(draft, source)
    assert found and all(found.values()), found


def test_quantities_with_units_are_not_product_codes() -> None:
    found = verdicts("A 36-month lease of 12x robots, about $4.2M in 2nd quarter [1].", "Lease: $4,200,000.")
    assert set(found) == {"$4.2M"} and found["$4.2M"]


def test_the_issue_example_flags_the_invented_rebate_only() -> None:
    note = "Agreed the 30/40/30 milestone schedule; list price of AX-PRO-2 is $38,500 per robot."
    found = verdicts("Acme gets a 30% rebate on AX-PRO-2 at $38,500 [1].", note)
    assert found == {"30%": False, "$38,500": True, "AX-PRO-2": True}
