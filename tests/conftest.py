"""Shared fixtures: an isolated environment, real local parts (embedder, embedded Chroma in tmp)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.config import Settings, load_settings
from bot.knowledge.embedder import MINILM_SHA256, LocalEmbedder
from tests.fake_openai import FakeOpenAI
from tests.helpers_chroma import ENV_PREFIXES, child_env, run_closer

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "bot" / "sample_data"
SCIFACT = REPO.parent / "shared" / "data" / "scifact"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No setting leaks in from the developer's shell or a .env file: run in an empty folder."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work


@pytest.fixture(scope="session", autouse=True)
def one_model_build_per_process() -> Iterator[None]:
    """Every ``LocalEmbedder`` made in this test process on the same, unchanged model files shares one
    build of the model (about a second each, and the in-process console makes a new embedder per
    command). Other files — a tampered or missing copy — are built, and so checked, as usual."""
    original = LocalEmbedder._build
    built: dict[tuple[object, ...], tuple[Any, dict[str, Any]]] = {}
    runtime = {"_model", "_load_lock"}  # what a build sets or guards, not how it builds
    lock = threading.Lock()

    def build(self: LocalEmbedder) -> Any:
        try:
            files = [(self._folder / name).resolve().stat() for name in sorted(MINILM_SHA256)]
        except OSError:
            return original(self)  # a missing file: the real build says which
        before = dict(vars(self))
        how = tuple(sorted((k, repr(v)) for k, v in before.items() if k not in runtime))
        key = (how, *((f.st_dev, f.st_ino, f.st_size, f.st_mtime_ns) for f in files))
        with lock:
            if key not in built:
                model = original(self)
                kept = {k: v for k, v in vars(self).items() if k not in before}  # e.g. the weights it reads
                built[key] = (model, kept)
            model, kept = built[key]
            vars(self).update(kept)
        return model

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalEmbedder, "_build", build)
        yield


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The real default embedder, loaded once per test session (about 1.5 s)."""
    return LocalEmbedder()


@dataclass(frozen=True)
class SampleStore:
    """A store (``chroma/``, ``cache/``, ``state.db`` under ``root``) that ``closer ingest sample`` filled
    in a child process, and what that run printed. Tests read copies of it, never the store itself."""

    root: Path
    ingest: subprocess.CompletedProcess[str]

    def copy_to(self, folder: Path) -> Path:
        shutil.copytree(self.root, folder, dirs_exist_ok=True)
        return folder


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> SampleStore:
    """The bundled sample, ingested once for the whole run (one pytest-xdist worker makes it, under a
    lock, and the others read what it saved): the sample's embeddings take most of a minute."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one folder for this run
    done = shared / "sample-store"
    with (shared / "sample-store.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (done / "ingest.json").is_file():
            root = done / "store"
            root.mkdir(parents=True, exist_ok=True)
            env = child_env(CHROMA_PATH=str(root / "chroma"), CACHE_DIR=str(root / "cache"),
                            STATE_URL=f"sqlite:///{root / 'state.db'}")  # fmt: skip
            proc = run_closer("ingest", "sample", cwd=root, env=env, timeout=600)
            run = {
                "args": proc.args,
                "returncode": proc.returncode,
                "stdout": proc.stdout,
                "stderr": proc.stderr,
            }
            (done / "ingest.json").write_text(json.dumps(run), encoding="utf-8")
    run = json.loads((done / "ingest.json").read_text(encoding="utf-8"))
    return SampleStore(done / "store", subprocess.CompletedProcess(**run))


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
