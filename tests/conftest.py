"""Shared fixtures: an isolated environment, real local parts (embedder, embedded Chroma in tmp)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings, load_settings
from bot.knowledge.embedder import LocalEmbedder
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "bot" / "sample_data"
SCIFACT = REPO.parent / "shared" / "data" / "scifact"

# Every setting the program reads, plus the ones Slack's and Chroma's libraries read on their own.
_ENV_PREFIXES = ("SLACK_", "LLM_", "PRIVATE_LLM_", "PRIVACY_", "EMBEDDING_", "CHROMA_", "STATE_", "ADMIN_",
                 "DIGEST_", "SEARCH_", "INDEX_", "CACHE_", "HOST", "PORT", "HUBSPOT_", "SALESFORCE_",
                 "CRM_")  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No setting leaks in from the developer's shell or a .env file: run in an empty folder."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The real default embedder, loaded once per test session (about 1.5 s)."""
    return LocalEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        chroma_path=tmp_path / "chroma",
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        cache_dir=tmp_path / "cache",
        admin_emails="admin@x.example",
        index_refresh_seconds=0,
    )


class HashEmbedder:
    """A deterministic in-memory embedder for property tests: bag of hashed words, unit length."""

    dimension = 64
    model_id = "hash-64"

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dimension), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dimension] += 1.0
            out[i, 0] += 1e-3  # never all zeros
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class CountingEmbedder:
    """Wraps a real embedder and counts texts, to prove what an ingest did (or did not) embed."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.texts = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture
def standard() -> Iterator[FakeOpenAI]:
    """A fake standard (logging) OpenAI-compatible endpoint on 127.0.0.1."""
    with FakeOpenAI(model="std-model") as api:
        yield api


@pytest.fixture
def private() -> Iterator[FakeOpenAI]:
    """A fake private (no-log) OpenAI-compatible endpoint on 127.0.0.1."""
    with FakeOpenAI(model="priv-model") as api:
        yield api
