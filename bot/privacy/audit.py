"""The audit row of one request: who, when, which route and endpoint, cost, outcome — never content."""

from __future__ import annotations

import time

from bot.llm.client import LLMClient, Usage
from bot.privacy.route import RouteDecision
from bot.state.rows import AuditRow, Outcome


def audit_row(
    *,
    request_id: str,
    user: str,
    surface: str,
    action: str,
    decision: RouteDecision,
    outcome: Outcome,
    client: LLMClient | None,
    usage: Usage,
    started: float,
    detail: str | None = None,
) -> AuditRow:
    """``client`` is the route's client (None when no LLM is configured); ``started`` a
    ``time.perf_counter()`` reading taken when the request began."""
    endpoint = client.endpoint if client else None
    return AuditRow(
        request_id=request_id,
        user_email=user,
        surface=surface,
        action=action,
        route=decision.route,
        reason=decision.reason,
        outcome=outcome,
        endpoint_host=endpoint.host if endpoint else None,
        model=usage.model or (endpoint.model if endpoint else None),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        latency_ms=(time.perf_counter() - started) * 1000,
        detail=detail,
    )
