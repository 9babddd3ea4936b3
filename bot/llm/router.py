"""Clients per route, and the rule that a private request never reaches the standard endpoint.

There is no code path from a private decision to the standard client: :meth:`LLMRouter.client`
returns the private client or raises :class:`PrivacyError`; the same goes for remote embeddings.
"""

from __future__ import annotations

from bot.config import Settings
from bot.errors import PrivacyError
from bot.knowledge.embedder import Embedder, OpenAIEmbedder
from bot.llm.client import Endpoint, LLMClient
from bot.privacy.route import RouteDecision
from bot.privacy.secrets import secrets_of

DEFAULT_LLM_URL = "https://api.openai.com/v1"


def standard_endpoint(settings: Settings) -> Endpoint | None:
    """The standard endpoint, or None when none is configured (no key for OpenAI's API)."""
    base = settings.llm_base_url or DEFAULT_LLM_URL
    if base == DEFAULT_LLM_URL and not settings.llm_api_key:
        return None
    return Endpoint("standard", base, settings.llm_api_key, settings.llm_model)


def private_endpoint(settings: Settings) -> Endpoint | None:
    if not settings.private_llm_base_url:
        return None
    model = settings.private_llm_model or settings.llm_model
    return Endpoint("private", settings.private_llm_base_url, settings.private_llm_api_key, model)


class LLMRouter:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        std, priv = standard_endpoint(settings), private_endpoint(settings)
        self.standard = self._client(std) if std else None
        self.private = self._client(priv) if priv else None
        self._embedders: dict[str, Embedder] = {}

    def _client(self, endpoint: Endpoint) -> LLMClient:
        s = self._settings
        return LLMClient(endpoint, timeout=s.llm_timeout_seconds, max_retry_seconds=s.llm_retry_seconds,
                         secrets=secrets_of(s))  # fmt: skip

    def client(self, decision: RouteDecision) -> LLMClient | None:
        """The route's client. None means "no standard LLM configured" (the caller degrades);
        a private route without a private endpoint raises instead — it must never fall back."""
        if decision.private:
            if self.private is None:
                raise PrivacyError(
                    f"this request must stay private ({decision.reason}), but no private endpoint is "
                    "configured (PRIVATE_LLM_BASE_URL); nothing was sent"
                )
            return self.private
        return self.standard

    def query_embedder(self, decision: RouteDecision, default: Embedder) -> Embedder:
        """The embedder for this request's question: the local model, or the route's endpoint."""
        if self._settings.embedding_provider != "openai":
            return default
        if not decision.private:
            return default  # the knowledge base's own embedder is the standard endpoint's
        endpoint = private_endpoint(self._settings)
        if endpoint is None:
            raise PrivacyError(
                "private mode needs the private endpoint for embeddings too, and none is configured "
                "(PRIVATE_LLM_BASE_URL); nothing was sent"
            )
        if "private" not in self._embedders:
            self._embedders["private"] = OpenAIEmbedder(
                base_url=endpoint.base_url, api_key=endpoint.api_key, model=self._settings.embedding_model
            )
        return self._embedders["private"]
