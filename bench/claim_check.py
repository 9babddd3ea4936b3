"""The claim check on the sample company: how often a true sentence is flagged (false positives) and
how often an invented value passes (misses), for the checker and for the digit-matching one it
replaced.

    .venv/bin/python -m bench.claim_check [--baseline REV]

Sources are the sample's real chunks (CRM deals and notes, product docs), each cited on its own.
- True sentences restate a value the chunk holds, in another common format: "30 %" -> "30 percent"
  and "30%", "$48,000" -> "48,000 USD" / "$48k", "Dec 5" -> "5 December", a code as written.
- Invented sentences give a bare number of the chunk another role ("30/40/30" -> "a 30% rebate",
  "12 robots" -> "$12") or shift a stated percentage or amount to a value the chunk does not state.
A second, hand-written set does not depend on the checker's own parsing: sentences a rep or a model
could write about one named note or doc section, labelled true or invented by reading the source.
The baseline checker is read from git (``REV:bot/drafting/claims.py``, by default the commit before
the kind-aware check) and run on the same sentences.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.drafting import claims
from bot.knowledge.base import SAMPLE_DIR
from bot.knowledge.crm import read_crm
from bot.knowledge.docs import read_docs

BASELINE = "6d5fde9"  # main before issue 9: any bare number in the cited text verified a claim
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]  # fmt: skip
Checker = Callable[[str, Sequence[str]], list[claims.Claim]]


@dataclass(frozen=True)
class Case:
    kind: str
    sentence: str
    source: str
    true: bool


def sample_chunks() -> list[str]:
    export = read_crm(SAMPLE_DIR / "crm")
    docs, _ = read_docs(SAMPLE_DIR / "docs")
    records = [r for r in export.records if r.source_type in ("deal", "note")] + docs
    return [chunk.text for record in records for chunk in record.chunks]


def _money(value: float) -> list[str]:
    whole = f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    forms = [f"${whole}", f"{whole} USD"]
    if value >= 1000 and value % 1000 == 0:
        forms.append(f"${value / 1000:g}k")
    return forms


def true_cases(text: str) -> Iterator[Case]:
    for value in sorted(claims._percents_in(text)):
        shown = f"{value:g}"
        for form in (f"{shown}%", f"{shown} percent"):
            yield Case("percent", f"The terms give {form} here [1].", text, True)
    for value in sorted(claims._amounts_in(text)):
        for form in _money(value):
            yield Case("amount", f"That comes to {form} [1].", text, True)
    for _, (year, month, day) in claims._dates(text):
        name = MONTHS[month - 1]
        forms = [f"{name[:3]} {day}", f"{day} {name}"] + ([f"{year}-{month:02d}-{day:02d}"] if year else [])
        for form in forms:
            yield Case("date", f"It is due on {form} [1].", text, True)
    for code in claims._codes(text):
        yield Case("code", f"Quote {code} for this [1].", text, True)


def invented_cases(text: str) -> Iterator[Case]:
    percents, amounts = claims._percents_in(text), claims._amounts_in(text)
    bare = {
        float(n.replace(",", ""))
        for n in re.findall(r"(?<![\w.,-])\d{1,3}(?:,\d{3})+(?![\w,])|(?<![\w.,-])\d+(?![\w.,%])", text)
    }
    for value in sorted(bare):
        if value not in percents and 0 < value <= 100:
            yield Case("percent (role swap)", f"We can offer a {value:g}% rebate [1].", text, False)
        if value not in amounts:
            yield Case("amount (role swap)", f"The fee is ${value:,.0f} [1].", text, False)
    for value in sorted(percents):
        shifted = value + 3
        if shifted not in percents:
            yield Case("percent (shifted)", f"They get {shifted:g}% off [1].", text, False)
    for value in sorted(amounts):
        shifted = round(value * 1.1, 2)
        if shifted not in amounts:
            shown = f"{shifted:,.0f}" if shifted.is_integer() else f"{shifted:,.2f}"
            yield Case("amount (shifted)", f"The price is ${shown} [1].", text, False)


# (text found in the cited chunk, the sentence, true?) — written by reading the sample, not generated.
HANDWRITTEN = [
    ("PO 4500098812 from Lumen", "Lumen's Dallas order (PO 4500098812) came to $234,315 [1].", True),
    ("PO 4500098812 from Lumen", "It covered 12x AX-LITE-1 and 3x DCK-C1 [1].", True),
    ("Current spend is about $11k", "Halvorsen spends about $11,000 a year on Brindle Sense [1].", True),
    ("Current spend is about $11k", "The Edison fleet is worth around $1M [1].", True),
    ("renting 10 AX-LITE-1", "We quoted 38,000 USD for a 3-month agreement [1].", True),
    (
        "96% of sensors report daily",
        "96 percent of sensors report daily and the contract ends 31 October [1].",
        True,
    ),
    ("99.7% availability", "The Reno fleet runs at 99.7% availability [1].", True),
    ("Dallas went live on Sept 8", "Dallas went live on 8 September after five weeks [1].", True),
    ("81% utilization", "The AX-PRO-2 units run at 81% utilization during peak [1].", True),
    ("renews on June 30, 2027", "The subscription renews on 2027-06-30 [1].", True),
    ("Total $28,950", "Sensors were quoted at 10% off, $28,950 in total [1].", True),
    ("committed minimum of $300,000", "Lumen would commit to a minimum of USD 300,000 [1].", True),
    ("6.5% grade", "The dock 14 ramp is a 6.5% grade, above the 5% limit [1].", True),
    ("| AX-PRO-2 | robot | 38,500", "AX-PRO-2 lists at $38,500, or £31,200 in the GBP book [1].", True),
    ("| 10 – 24 | 7 %", "Orders of 10 to 24 robots get 7% off automatically [1].", True),
    ("30 % at order", "Milestone billing is 30% at order and 40% at delivery [1].", True),
    (
        "HUB-M2 to HUB-M4 migration credit",
        "The HUB-M2 migration credit is $1,000 until 2027-03-31 [1].",
        True,
    ),
    (
        "Authorized resellers buy at 25 %",
        "Resellers buy at 25% off hardware, with a $500 per robot rebate [1].",
        True,
    ),
    ("$410k a year", "Forklift overtime costs about $410k a year [1].", True),
    ("30/40/30 milestone schedule", "Finance approved a 30% rebate [1].", False),
    ("30/40/30 milestone billing", "We proposed a 40% discount [1].", False),
    ("30/40/30 milestone schedule", "A $30 signing fee applies [1].", False),
    ("PO 4500098812 from Lumen", "Lumen got a 12% partner discount [1].", False),
    ("6.5% grade", "We offered 14% off for dock 14 [1].", False),
    ("Dallas went live on Sept 8", "The 12 robots cost $12 each [1].", False),
    ("96% of sensors report daily", "A 3% price hold was agreed [1].", False),
    ("81% utilization", "They asked for 8% off the 8 AX-LITE-1 [1].", False),
    ("Total $28,950", "The gateways cost $2 each [1].", False),
    ("renews on June 30, 2027", "Oakhurst gets 30% off at renewal [1].", False),
    ("| 10 – 24 | 7 %", "Orders of 24 robots get a $24,000 credit [1].", False),
    ("committed minimum of $300,000", "Lumen grows to 5 sites with a 5% rebate [1].", False),
]


def handwritten_cases(chunks: Sequence[str]) -> list[Case]:
    cases = []
    for anchor, sentence, true in HANDWRITTEN:
        (source,) = [c for c in chunks if anchor in c][:1] or [""]
        if not source:
            raise SystemExit(f"bench.claim_check: no sample chunk holds {anchor!r}")
        cases.append(Case("hand-written", sentence, source, true))
    return cases


def baseline_checker(rev: str) -> Checker | None:
    try:
        source = subprocess.run(["git", "show", f"{rev}:bot/drafting/claims.py"], capture_output=True,
                                text=True, check=True, cwd=Path(__file__).resolve().parents[1]).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("baseline_claims")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:bot/drafting/claims.py", "exec"), module.__dict__)
    checker: Checker = module.check_claims
    return checker


CRASHES: Counter[str] = Counter()


def passes(check: Checker, case: Case) -> bool:
    """The sentence's claims all verified (for a true sentence: not flagged). A crash passes nothing."""
    try:
        found = check(case.sentence, [case.source])
    except Exception:
        CRASHES[check.__module__] += 1
        return False
    return bool(found) and all(c.verified for c in found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the checker to compare with")
    args = parser.parse_args(argv)
    chunks = sample_chunks()
    cases = [c for text in chunks for c in (*true_cases(text), *invented_cases(text))]
    checkers: dict[str, Checker] = {"kind-aware (now)": claims.check_claims}
    old = baseline_checker(args.baseline)
    if old is not None:
        checkers[f"digits ({args.baseline})"] = old
    print(f"{len(chunks)} sample chunks, {sum(c.true for c in cases)} true and "
          f"{sum(not c.true for c in cases)} invented sentences\n")  # fmt: skip
    print("| sentences | kind | n | " + " | ".join(checkers) + " |")
    print("|---|---|---|" + "---|" * len(checkers))
    totals: dict[tuple[bool, str], Counter[str]] = {}
    for true in (True, False):
        for kind in sorted({c.kind for c in cases if c.true == true}):
            group = [c for c in cases if c.true == true and c.kind == kind]
            cells = []
            for name, check in checkers.items():
                wrong = sum(passes(check, c) != true for c in group)
                totals.setdefault((true, name), Counter()).update(wrong=wrong, n=len(group))
                cells.append(f"{wrong / len(group):.1%} ({wrong})")
            label = "true: flagged (false positive)" if true else "invented: passed (miss)"
            print(f"| {label} | {kind} | {len(group)} | " + " | ".join(cells) + " |")
    for true in (True, False):
        cells = [f"**{totals[(true, n)]['wrong'] / totals[(true, n)]['n']:.1%}**" for n in checkers]
        label = (
            "**all generated true: false-positive rate**" if true else "**all generated invented: miss rate**"
        )
        print(f"| {label} | | {totals[(true, next(iter(checkers)))]['n']} | " + " | ".join(cells) + " |")
    hand = handwritten_cases(chunks)
    for true in (True, False):
        group = [c for c in hand if c.true == true]
        cells = []
        for check in checkers.values():
            wrong = [c.sentence for c in group if passes(check, c) != true]
            cells.append(f"{len(wrong) / len(group):.1%} ({len(wrong)})")
        label = "hand-written true: flagged" if true else "hand-written invented: passed"
        print(f"| {label} | mixed | {len(group)} | " + " | ".join(cells) + " |")
    for name, check in checkers.items():
        if CRASHES[check.__module__]:
            print(
                f"\n{name} raised on {CRASHES[check.__module__] // 1} checks (counted as flagged / not passed)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
