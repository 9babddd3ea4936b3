"""The local embedder: agreement with the sentence-transformers reference, pinning, and no torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.errors import EmbedderError
from bot.knowledge.embedder import CachedEmbedder, LocalEmbedder, default_model_dir

SENTENCES = [
    "Can you send the revised quote for 40 units of AX-PRO-2 before Friday?",
    "PO 7700012345 was approved by procurement this morning.",
    "Their CISO needs SOC 2 Type II and EU data residency before signing.",
    "We agreed to a 12% multi-year discount, subject to VP approval.",
    "Ticket TKT-2291: the hub drops offline after firmware 4.2.",
    "Clause 9.4 covers service credits for missed uptime targets.",
    "The warehouse manager was worried about installation downtime.",
    "Follow up with Dana about the pilot results next Tuesday.",
    "Pricing for the enterprise tier starts at $48,000 per year.",
    "They are evaluating a competitor that offers cheaper sensors.",
    "Budget is frozen until the new fiscal year starts in April.",
    "Integration with SAP EWM is a hard requirement for go-live.",
    "hello",
    "",
    "a",
    "Données hébergées dans l'UE, conformité RGPD.",
    "数据驻留在欧盟",
    "🚀 launch day!",
    "The quick brown fox jumps over the lazy dog.",
    "What did we promise Harbor Freight about delivery dates?",
    "catch me up on the Northwind account",
    "Renewal risk: champion left the company last month.",
    "Net 60 payment terms were rejected by finance.",
    "Onboarding checklist: site survey, network audit, staff training.",
    "Release 3.8 adds predictive maintenance alerts.",
    "Returns accepted within 30 days if the seal is unbroken.",
    "Battery life of the handheld scanner is about 12 hours.",
    "Please loop in the solutions engineer for the technical deep dive.",
    "Signed! Closed won at 210k ARR.",
    "Legal wants to cap liability at 12 months of fees.",
    "How many robots does the starter bundle include?",
    "word " * 400,  # longer than the 256-token window: both sides must truncate alike
    "Line one\nLine two\n\nParagraph two with tabs\tand   spaces.",
    "UPPER CASE SHOUTING ABOUT THE DEADLINE",
    "email: dana.ruiz@harbor.example, phone +1 (555) 010-2299",
    "1234567890 0987654321",
]


def test_vectors_agree_with_sentence_transformers(embedder: LocalEmbedder) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(default_model_dir()), device="cpu")
    want = reference.encode(SENTENCES, normalize_embeddings=True, batch_size=8)
    got = embedder.embed(SENTENCES)
    cosines = (np.asarray(want) * got).sum(axis=1)
    assert got.shape == (len(SENTENCES), 384)
    assert cosines.min() >= 0.999, f"worst cosine {cosines.min():.5f} on {SENTENCES[int(cosines.argmin())]!r}"


def test_batching_does_not_change_vectors(embedder: LocalEmbedder) -> None:
    one_by_one = np.stack([embedder.embed([s])[0] for s in SENTENCES[:8]])
    together = embedder.embed(SENTENCES[:8])
    assert np.allclose(one_by_one, together, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_a_tampered_weight_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(default_model_dir(), copy)
    with (copy / "model.safetensors").open("r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(EmbedderError, match="sha256"):
        LocalEmbedder(copy).embed(["any text"])


def test_missing_model_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="missing"):
        LocalEmbedder(tmp_path)


def test_runtime_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from bot.knowledge.embedder import LocalEmbedder\n"
        "LocalEmbedder().embed(['hi'])\n"
        "import bot.knowledge.base, bot.cli\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_cache_returns_the_same_vectors_without_recomputing(embedder: LocalEmbedder, tmp_path: Path) -> None:
    class Counting:
        model_id, dimension, texts = embedder.model_id, embedder.dimension, 0

        def embed(self, texts: list[str]) -> np.ndarray:
            Counting.texts += len(texts)
            return embedder.embed(texts)

    cache = CachedEmbedder(Counting(), tmp_path / "cache.sqlite")
    first = cache.embed(SENTENCES[:5])
    again = CachedEmbedder(Counting(), tmp_path / "cache.sqlite").embed(SENTENCES[:5])
    assert Counting.texts == 5
    assert np.array_equal(first, again)
