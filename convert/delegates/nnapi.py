"""NNAPI rules: ``nnapi_delegate.cc`` ``Validate`` at feature level 30, no accelerator named."""

from __future__ import annotations

from collections.abc import Iterable

from convert.delegates.graph import (
    INT8,
    LOGICAL,
    Graph,
    Node,
    custom_op_reason,
    dtype_of,
    rank_over,
)
from convert.flatbuffer import Tensor

_F32_Q8 = frozenset({"float32"}) | INT8
_NNAPI_MAX_VERSION: dict[str, int | None] = {
    "ADD": 2,
    "MUL": 2,
    "SUB": 3,
    "DIV": 1,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "CONV_2D": 5,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 5,
    "SOFTMAX": 2,
    "RESHAPE": 1,
    "RESIZE_BILINEAR": 3,
    "RESIZE_NEAREST_NEIGHBOR": 3,
    "CONCATENATION": 2,
    "DEQUANTIZE": 2,
    "RELU": 2,
    "RELU_N1_TO_1": 2,
    "RELU6": 2,
    "LOGISTIC": 2,
    "TANH": 2,
    "PAD": 2,
    "PADV2": 2,
    "STRIDED_SLICE": 2,
    "TRANSPOSE": 2,
    "EXP": 1,
    "LOG": 1,
    "ABS": 1,
    "POW": 1,
    "SQRT": 1,
    "RSQRT": 2,
    "TRANSPOSE_CONV": 4,
    "MEAN": 2,
    "MAXIMUM": 3,
    "MINIMUM": 3,
    "CAST": 1,
    "LEAKY_RELU": 1,
    "PRELU": 1,
    "EQUAL": 2,
    "NOT_EQUAL": 2,
    "LESS": 2,
    "LESS_EQUAL": 2,
    "GREATER": 2,
    "GREATER_EQUAL": 2,
    "SELECT": 2,
    "QUANTIZE": 2,
    "DEPTH_TO_SPACE": None,
    "SPACE_TO_DEPTH": 2,
    "HARD_SWISH": None,
    "PACK": 2,
    "SLICE": 2,
}


def _nnapi_op(node: Node) -> str | None:
    name, opts = node.name, node.options
    first = node.input(0)
    kind = dtype_of(first)
    out = node.outputs[0] if node.outputs else None

    def need(
        types: Iterable[str], tensor: Tensor | None = first, what: str = "input"
    ) -> str | None:
        """None when ``tensor``'s type is one of ``types``, else the reason."""
        if dtype_of(tensor) in types:
            return None
        return f"{what} {dtype_of(tensor)} not in NNAPI's types"

    if name in {"ADD", "MUL", "SUB"}:
        if kind not in _F32_Q8 | {"int32"}:
            return need(_F32_Q8 | {"int32"})
        if kind == "int32" and node.op.fused_activation != "NONE":
            return "int32 with a fused activation"
        if rank_over(node, 4):
            return "rank above 4"
    elif name == "DIV":
        return need({"float32"}) or ("rank above 4" if rank_over(node, 4) else None)
    elif name in {"AVERAGE_POOL_2D", "MAX_POOL_2D"}:
        if kind not in _F32_Q8:
            return need(_F32_Q8)
        area = opts.get("filterWidth", 1) * opts.get("filterHeight", 1)
        if name == "AVERAGE_POOL_2D" and kind in INT8 and area > 256:
            return "quantized average pool over more than 256 elements"
    elif name == "CONV_2D" and len(node.inputs) != 3:
        return "CONV_2D without bias"
    elif name == "FULLY_CONNECTED" and dtype_of(out) == "int16":
        return "int16 output"
    elif name == "SOFTMAX":
        return (
            need(_F32_Q8)
            or need(_F32_Q8, out, "output")
            or ("rank above 4" if rank_over(node, 4) else None)
        )
    elif name == "RESHAPE":
        if kind not in _F32_Q8:
            return need(_F32_Q8)
        if rank_over(node, 4):
            return "rank above 4"
        shape = node.input(1)
        if shape is not None and not shape.constant:
            return "shape input is not constant"
    elif name in {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"}:
        size = node.input(1)
        if kind not in _F32_Q8:
            return need(_F32_Q8)
        if first is not None and len(first.shape) != 4:
            return "input rank must be 4"
        if size is None or not size.constant:
            return "size input is not constant"
    elif name == "CONCATENATION":
        if node.op.fused_activation != "NONE":
            return "fused activation"
        if rank_over(node, 4):
            return "rank above 4"
        return need(_F32_Q8 | {"float16"})
    elif name == "DEQUANTIZE":
        return need(INT8)
    elif name in {"RELU", "RELU_N1_TO_1", "RELU6", "LOGISTIC", "TANH", "HARD_SWISH"}:
        return need(_F32_Q8)
    elif name in {"PAD", "PADV2"}:
        if first is not None and 0 in first.shape:
            return "empty input"
        return need(_F32_Q8)
    elif name in {"STRIDED_SLICE", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "LEAKY_RELU", "PRELU"}:
        return need(_F32_Q8)
    elif name == "TRANSPOSE":
        perm = node.input(1)
        return None if perm is not None and perm.constant else "permutation is not constant"
    elif name in {"EXP", "LOG", "ABS", "POW", "SQRT", "RSQRT"}:
        return need({"float32"})
    elif name == "TRANSPOSE_CONV":
        shape, weights = node.input(0), node.input(1)
        if shape is None or weights is None or not (shape.constant and weights.constant):
            return "output_shape or weights not constant (dynamically-sized tensors)"
    elif name == "MEAN":
        if out is not None and not out.shape:
            return "scalar output"
        return need(_F32_Q8) or ("rank above 4" if rank_over(node, 4) else None)
    elif name in {"MAXIMUM", "MINIMUM"}:
        return need(_F32_Q8 | {"int32"})
    elif name == "CAST":
        return need(_F32_Q8 | {"int32"}) or need(_F32_Q8 | {"int32"}, out, "output")
    elif name in LOGICAL - {"LOGICAL_AND", "LOGICAL_OR"}:
        return need(_F32_Q8 | {"bool", "int32"})
    elif name == "SELECT":
        values = node.input(1)
        if first is not None and values is not None and first.shape != values.shape:
            return "condition and values differ in shape"
        return need(_F32_Q8 | {"int32"}, values, "values")
    elif name == "QUANTIZE":
        return need({"float32"} | INT8) or need(INT8, out, "output")
    elif name == "PACK":
        axis = opts.get("axis", 0)
        rank = len(first.shape) if first is not None else 0
        if axis in {-1, rank}:
            return "PACK along the last axis"
        return need({"float32", "int8"})
    elif name == "SLICE":
        return need(_F32_Q8 | {"int32"})
    return None


def nnapi_rule(node: Node, graph: Graph) -> str | None:
    name = node.name
    if node.op.custom:
        return custom_op_reason(node)
    first = node.input(0)
    if graph.fp16_weights(node) or (name == "DEQUANTIZE" and dtype_of(first) == "float16"):
        return None  # constant: FP16GraphPartitionHelper; runtime: accepted at level 30
    if name not in _NNAPI_MAX_VERSION:
        return f"{name} is not mapped to NNAPI"
    limit = _NNAPI_MAX_VERSION[name]
    if limit is not None and node.op.version > limit:
        return f"version {node.op.version} > {limit}"
    reason = _nnapi_op(node)
    if reason:
        return reason
    # nnapi_delegate.cc IsQuantized: "kTfLiteInt16 isn't supported as quantized type yet".
    if any(t.dtype == "int16" for t in node.runtime_tensors):
        return "int16 activations"
    return None
