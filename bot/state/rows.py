"""The values the state database stores and returns: plain frozen dataclasses, no SQL.

An :class:`AuditRow` says who asked what kind of thing, on which route, at which endpoint and model,
at what cost and with what outcome. By design it has no field for prompt or answer text, so private
requests leave no content here (docs: architecture, "Privacy").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

__all__ = ["AuditRow", "DigestStatus", "FeedbackRow", "Outcome", "Route", "utc_now"]

Route = Literal["standard", "private"]
Outcome = Literal["ok", "degraded", "refused", "error"]
DigestStatus = Literal["claimed", "sent", "failed"]

ROUTES: tuple[str, ...] = get_args(Route)
OUTCOMES: tuple[str, ...] = get_args(Outcome)
DIGEST_STATUSES: tuple[str, ...] = get_args(DigestStatus)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _utc(name: str, at: datetime | None) -> datetime:
    if at is None:  # tolerated at run time (typed as required): "now"
        return utc_now()
    if at.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditRow:
    """One request's audit record: who, when, which route and endpoint, cost and outcome — no content.

    ``at`` defaults to now and is kept in UTC; ``user_email`` is lower-cased; ``detail`` is cut to the
    column's length when stored.
    """

    request_id: str
    user_email: str
    surface: str  # "cli", "slack", ...
    action: str  # "ask", "reply", "followup", "digest", ...
    route: Route
    reason: str  # why this route, e.g. "user preference"
    outcome: Outcome
    at: datetime = field(default_factory=utc_now)
    endpoint_host: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    detail: str | None = None  # short, non-content text: an error class, "no private endpoint", ...

    def __post_init__(self) -> None:
        _one_of("route", self.route, ROUTES)
        _one_of("outcome", self.outcome, OUTCOMES)
        if self.prompt_tokens < 0 or self.completion_tokens < 0 or self.latency_ms < 0:
            raise ValueError("token counts and latency must not be negative")
        object.__setattr__(self, "at", _utc("at", self.at))
        object.__setattr__(self, "user_email", self.user_email.strip().lower())


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedbackRow:
    """A rep's thumbs up (+1) or down (-1) on one answer, with the sources it cited (``"type:id"``)."""

    user_email: str
    request_id: str
    rating: Literal[1, -1]
    route: Route
    sources: tuple[str, ...] = ()
    at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.rating not in (1, -1):
            raise ValueError(f"rating must be 1 or -1, got {self.rating!r}")
        _one_of("route", self.route, ROUTES)
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "at", _utc("at", self.at))
        object.__setattr__(self, "user_email", self.user_email.strip().lower())
