"""Query-side expansion from a small sales vocabulary that ships with the product.

Reps ask in their own words ("did they pick a cheaper vendor?") while notes are written in the CRM's
("lost to Vantrix on price"). Each group below is one sales concept with the words reps and notes use
for it: deal stages, objections, pricing, competitors, approvals, legal, security, delivery, support
and the industries a B2B seller meets. A query word from a group brings in the group's other words as
a second, lower-weighted BM25 query; the question itself is never changed.

The map is generic sales vocabulary, not a list of any customer's terms. Words are compared after the
same stemming BM25 uses, so "discounts", "discounted" and "discount" are one word.
"""

from __future__ import annotations

import functools
import re

from bot.knowledge.lexical import tokenize

# One concept a line. Multi-word entries ("works council") match as phrases in the question.
CONCEPTS: tuple[tuple[str, ...], ...] = (
    # deal stages and outcomes
    ("closed won", "won", "signed", "order", "purchase order", "po", "booked"),
    ("closed lost", "lost", "went with", "chose", "picked", "selected"),
    ("pilot", "trial", "proof of concept", "poc", "demo", "evaluation", "test run"),
    ("proposal", "quote", "quotation", "offer", "bid", "pricing"),
    ("negotiation", "negotiate", "counter", "counteroffer", "pushback", "push back", "haggle"),
    ("stalled", "on hold", "parked", "delayed", "slipped", "postponed", "paused", "freeze"),
    ("renewal", "renew", "extend", "extension", "expires", "expiry"),
    ("expansion", "upsell", "grow", "additional", "more units", "second site"),
    # money
    ("discount", "percent off", "off list", "reduction", "markdown", "concession", "price cut", "rebate"),
    ("price", "pricing", "cost", "costs", "expensive", "cheaper", "cheap", "budget", "spend", "fee", "fees"),
    ("margin", "cut", "commission", "markup", "partner pricing", "channel"),
    ("payment terms", "net 30", "net 45", "net 60", "pay later", "installments", "installment",
     "milestone billing", "invoice", "invoicing", "billing"),
    ("lease", "leasing", "financing", "finance", "monthly payments", "over time", "operating expense",
     "opex", "capex", "capital", "upfront", "outright", "raas", "subscription"),
    # people and approvals
    ("approve", "approval", "sign off", "sign-off", "authorize", "authorise", "decision maker",
     "economic buyer", "board", "signs", "signature"),
    ("champion", "sponsor", "executive sponsor", "advocate"),
    ("procurement", "purchasing", "buyer", "supplier onboarding", "vendor onboarding", "three-bid"),
    ("cfo", "finance chief", "chief financial officer", "controller"),
    ("union", "works council", "employee representatives", "staff council", "labor", "labour", "unions",
     "headcount", "workforce"),
    # competition and objections
    ("competitor", "competitors", "competing", "competition", "rival", "alternative", "vendor", "undercut",
     "undercutting", "battlecard"),
    ("objection", "concern", "concerns", "worried", "worry", "pushback", "hesitant", "skeptical"),
    ("unhappy", "frustrated", "angry", "complaint", "complaining", "escalated", "escalation", "walk away",
     "under review", "churn", "at risk", "threatened", "save"),
    ("reference", "references", "reference call", "vouch", "testimonial", "case study", "referral"),
    # legal
    ("contract", "msa", "agreement", "terms", "redline", "redlines", "clause", "counsel", "lawyer",
     "lawyers", "legal"),
    ("liability", "liable", "indemnity", "cap", "damages"),
    # security, data and compliance
    ("security", "infosec", "it security", "questionnaire", "soc 2", "iso 27001", "pen test", "penetration"),
    ("data residency", "hosting", "hosted", "host", "servers", "server", "cloud", "region", "data center",
     "datacenter", "tenant", "stay inside", "gdpr", "where data lives"),
    ("validation", "validate", "validated", "qualification", "iq/oq", "quality", "qa", "compliance",
     "audit", "auditor", "inspection", "inspector", "certified", "calibration", "certificate"),
    ("sso", "single sign-on", "saml", "okta"),
    # delivery and operations
    ("delivery", "deliver", "ship", "shipping", "shipment", "arrive", "arrival", "lead time", "timeline",
     "install", "installation", "go-live", "go live", "rollout"),
    ("outage", "fault", "faults", "failure", "failures", "failing", "broken", "breakdown", "glitch", "bug",
     "issue", "problem", "error", "malfunction", "lockup", "lockups", "freeze", "down", "stoppage"),
    ("battery", "batteries", "charge", "charging", "recharge", "juice", "runtime", "power"),
    ("support", "ticket", "sla", "response time", "service level", "warranty", "rma", "repair",
     "replacement"),
    ("safety", "injury", "injuries", "accident", "accidents", "near miss", "hurt", "incident"),
    ("training", "trained", "onboarding", "operators", "super-users"),
    ("network", "wi-fi", "wifi", "wireless", "access point", "access points", "signal", "coverage"),
    ("localization", "lost", "navigation", "lidar", "reflections", "mapping"),
    ("sensor", "sensors", "monitoring", "monitor", "telemetry", "alerts", "alert"),
    ("temperature", "cold", "chilled", "fridge", "refrigerated", "freezer", "frozen", "cold chain",
     "cold-chain", "cold storage", "excursion"),
    # industries a B2B seller meets
    ("pharma", "pharmaceutical", "drug", "drugs", "medicine", "medicines", "vaccines", "life sciences"),
    ("grocery", "grocer", "grocers", "supermarket", "supermarkets", "food retail", "food retailer"),
    ("automotive", "auto", "car", "cars", "vehicle", "aftermarket", "auto parts", "car parts"),
    ("medical", "hospital", "hospitals", "healthcare", "health care", "surgical", "clinical"),
    ("parcel", "parcels", "package", "packages", "courier", "3pl", "logistics", "fulfillment",
     "fulfilment", "sortation", "sorting", "hub"),
    ("e-commerce", "ecommerce", "online retail", "online retailer", "web shop", "retailer", "retail",
     "orders"),
    ("reseller", "partner", "channel partner", "distributor", "var", "authorized reseller"),
    # places
    ("uk", "british", "britain", "england", "united kingdom"),
    ("eu", "europe", "european", "emea"),
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _phrase_index() -> tuple[dict[tuple[str, ...], frozenset[int]], int]:
    """Stemmed token tuple of every entry -> the concepts it belongs to; and the longest entry."""
    index: dict[tuple[str, ...], set[int]] = {}
    longest = 1
    for concept, words in enumerate(CONCEPTS):
        for word in words:
            key = tuple(tokenize(word))
            if key:
                index.setdefault(key, set()).add(concept)
                longest = max(longest, len(key))
    return {k: frozenset(v) for k, v in index.items()}, longest


@functools.lru_cache(maxsize=1)
def _concept_tokens() -> tuple[tuple[str, ...], ...]:
    out = []
    for words in CONCEPTS:
        seen: dict[str, None] = {}
        for word in words:
            for tok in tokenize(word):
                seen.setdefault(tok, None)
        out.append(tuple(seen))
    return tuple(out)


_SPACES = re.compile(r"\s+")


def concepts_of(query: str) -> list[int]:
    """The concepts ``query`` mentions, in order of first mention."""
    index, longest = _phrase_index()
    tokens = tokenize(_SPACES.sub(" ", query))
    found: dict[int, None] = {}
    for start in range(len(tokens)):
        for n in range(min(longest, len(tokens) - start), 0, -1):
            for concept in sorted(index.get(tuple(tokens[start : start + n]), ())):
                found.setdefault(concept, None)
    return list(found)


def expansion_tokens(query: str) -> list[str]:
    """BM25 tokens the query's concepts add: every word of each concept it mentions, minus its own."""
    own = set(tokenize(query))
    table = _concept_tokens()
    out: dict[str, None] = {}
    for concept in concepts_of(query):
        for tok in table[concept]:
            if tok not in own:
                out.setdefault(tok, None)
    return list(out)
