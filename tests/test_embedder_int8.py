"""The int8 local embedder (EMBEDDING_PRECISION=int8): close to fp32 on real texts, built from the
pinned weights and kept in CACHE_DIR, and never mixed with an fp32 store."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import bot.knowledge.minilm_onnx as minilm_onnx
from bot.config import load_settings
from bot.errors import StoreError
from bot.knowledge.base import SAMPLE_DIR, KnowledgeBase, make_embedder
from bot.knowledge.crm import read_crm
from bot.knowledge.docs import read_docs
from bot.knowledge.embedder import LocalEmbedder
from tests.test_embedder import SENTENCES


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def int8(cache: Path) -> LocalEmbedder:
    return LocalEmbedder(precision="int8", cache_dir=cache)


def test_int8_vectors_stay_within_cosine_0_99_of_fp32_on_real_texts(
    int8: LocalEmbedder, embedder: LocalEmbedder
) -> None:
    records = read_crm(SAMPLE_DIR / "crm").records + read_docs(SAMPLE_DIR / "docs")[0]
    # Sentences and passages: strings of one to three tokens ("", "hello", "a") agree less (0.98-0.99,
    # docs/benchmarks.md), as the bar is set on real texts.
    texts = [s for s in SENTENCES if len(s.split()) >= 4] + [c.text for r in records for c in r.chunks]
    cosines = (int8.embed(texts) * embedder.embed(texts)).sum(axis=1)
    worst = int(cosines.argmin())
    assert cosines.min() >= 0.99, f"worst cosine {cosines[worst]:.4f} on {texts[worst][:80]!r}"
    assert not np.allclose(cosines, 1.0, atol=1e-6)  # it is another graph, not the fp32 one again
    assert int8.model_id != embedder.model_id and "int8" in int8.model_id


def test_the_quantized_graph_is_kept_and_a_damaged_copy_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The graph's bytes themselves (this test process shares one model build per embedder setup).
    built = LocalEmbedder(precision="int8", cache_dir=tmp_path)._int8_graph()
    (kept,) = (tmp_path / "models").glob("*.onnx")
    assert kept.read_bytes() == built and "53aa51172d14" in kept.name  # named by the weights' hash

    def no_quantizing(*_: object) -> bytes:
        raise AssertionError("the kept graph should have been used")

    with monkeypatch.context() as m:
        m.setattr(minilm_onnx, "quantize_minilm", no_quantizing)
        assert LocalEmbedder(precision="int8", cache_dir=tmp_path)._int8_graph() == built
    kept.write_bytes(built[:1000])  # a copy cut short (a full disk, a killed process)
    assert LocalEmbedder(precision="int8", cache_dir=tmp_path)._int8_graph() == built  # the same bytes again
    assert kept.read_bytes() == built


def test_a_store_built_with_fp32_refuses_int8_and_says_which_setting(tmp_path: Path) -> None:
    fp32 = load_settings(chroma_path=tmp_path / "chroma", cache_dir=tmp_path / "cache")
    KnowledgeBase.open(fp32)  # the default: fp32
    int8 = load_settings(
        chroma_path=tmp_path / "chroma", cache_dir=tmp_path / "cache", embedding_precision="int8"
    )
    assert make_embedder(int8).model_id != make_embedder(fp32).model_id
    with pytest.raises(StoreError, match="EMBEDDING_PRECISION"):
        KnowledgeBase.open(int8)
    KnowledgeBase.open(fp32)  # and it still opens as it was built


def test_building_the_int8_graph_prints_no_quantizer_advice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # onnxruntime's quantizer logs "Please consider to run pre-processing …" on the root logger (and,
    # with no root handler yet, sets one up as a side effect): neither may reach a user's terminal.
    root = logging.getLogger()
    handlers, filters = list(root.handlers), list(root.filters)
    with caplog.at_level(logging.DEBUG):
        LocalEmbedder(precision="int8", cache_dir=tmp_path)._int8_graph()
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]
    assert root.handlers == handlers and root.filters == filters
