"""int8 × int8 dot products for the dense candidate pass, on onnxruntime's ``MatMulInteger``.

numpy has no int8 matrix kernel: scoring the 20–30k rows one rep may see at a million chunks meant
converting 10M int8 codes to float32 first, most of a search's dense time. onnxruntime (already the
embedder's runtime) multiplies the int8 codes directly, several times faster
(docs/benchmarks.md). The product must be exact — the candidate bound in ``SearchIndex.dense_top``
relies on it — and some CPUs' int8 kernels saturate intermediate sums, so the kernel is checked on
extreme values at first use; if it is not exact, :func:`int8_dot` returns None and the float path
is used.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

Int8Dot = Callable[[np.ndarray, np.ndarray], np.ndarray]
log = logging.getLogger(__name__)
_lock = threading.Lock()
_kernel: list[Int8Dot | None] = []  # empty until the first call decides


def _build() -> Int8Dot:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("codes", TensorProto.INT8, ["rows", "dim"])
    b = helper.make_tensor_value_info("query", TensorProto.INT8, ["dim", 1])
    y = helper.make_tensor_value_info("dots", TensorProto.INT32, ["rows", 1])
    node = helper.make_node("MatMulInteger", ["codes", "query"], ["dots"])
    model = helper.make_model(helper.make_graph([node], "int8_dot", [a, b], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a search runs on its request's thread
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def dot(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
        out = session.run(None, {"codes": np.ascontiguousarray(codes, np.int8),
                                 "query": np.ascontiguousarray(query, np.int8).reshape(-1, 1)})  # fmt: skip
        return np.asarray(out[0], np.int32).reshape(-1)

    return dot


def _exact(dot: Int8Dot) -> bool:
    """Whether ``dot`` equals int64 arithmetic on the values that saturate 16-bit pair sums."""
    rng = np.random.default_rng(0)
    for fill in (127, -127, None):
        codes = (
            rng.integers(-127, 128, (64, 384)).astype(np.int8)
            if fill is None
            else np.full((64, 384), fill, np.int8)
        )
        for query in (np.full(384, 127, np.int8), np.where(rng.random(384) < 0.5, 127, -127).astype(np.int8),
                      rng.integers(-127, 128, 384).astype(np.int8)):  # fmt: skip
            if not np.array_equal(dot(codes, query), codes.astype(np.int64) @ query.astype(np.int64)):
                return False
    return True


def int8_dot() -> Int8Dot | None:
    """The exact int8 kernel, or None where onnxruntime's is not exact on this CPU."""
    if not _kernel:
        with _lock:
            if not _kernel:
                try:
                    dot = _build()
                    exact = _exact(dot)
                except Exception as exc:  # noqa: BLE001 - any fault here means: use the float path
                    log.warning("int8 search kernel unavailable (%s); vectors are scored in float32", exc)
                    dot, exact = None, False
                if dot is not None and not exact:
                    log.info(
                        "onnxruntime's int8 product is not exact on this CPU; vectors are scored in float32"
                    )
                _kernel.append(dot if exact else None)
    return _kernel[0]
