"""Hexagon rules: ``hexagon/utils.cc`` ``IsNodeSupportedByHexagon`` + ``CheckOpVersion``."""

from __future__ import annotations

from collections.abc import Iterable

from convert.delegates.graph import (
    ACTIVATIONS_RELU,
    INT8,
    Graph,
    Node,
    custom_op_reason,
    dtype_of,
    op_names,
    rank_over,
)


def _types(node: Node, allowed: Iterable[frozenset[str] | set[str]]) -> str | None:
    """Inputs must match ``allowed`` one by one (same count; omitted optional inputs pass)."""
    allowed = list(allowed)
    if len(node.inputs) != len(allowed):
        return f"expects {len(allowed)} inputs, has {len(node.inputs)}"
    for i, (tensor, types) in enumerate(zip(node.inputs, allowed, strict=True)):
        if tensor is not None and tensor.dtype not in types:
            return f"input {i} is {tensor.dtype}, needs {'/'.join(sorted(types))}"
    return None


_HEXAGON_MAX_VERSION = {
    **dict.fromkeys(
        op_names(
            "ADD ARG_MAX ARG_MIN AVERAGE_POOL_2D CONCATENATION L2_NORMALIZATION LOGISTIC MAXIMUM "
            "MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL PACK PAD QUANTIZE RELU6 SLICE SOFTMAX "
            "SPACE_TO_DEPTH DEPTH_TO_SPACE SPLIT STRIDED_SLICE SUB TANH TRANSPOSE"
        ),
        2,
    ),
    **dict.fromkeys(
        op_names(
            "CONV_2D DEPTHWISE_CONV_2D RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR TRANSPOSE_CONV"
        ),
        3,
    ),
    "FULLY_CONNECTED": 4,
    "RESHAPE": 1,
    "HARD_SWISH": 1,
    "NEG": 1,
    "SUM": 1,
}
_HEXAGON_EXACT_VERSION = {"RELU": 2, "SQUARED_DIFFERENCE": 2, "RSQRT": 2}
_I32 = frozenset({"int32"})


def _hexagon_op(node: Node) -> str | None:
    name, opts = node.name, node.options
    act = node.op.fused_activation
    strides_ok = opts.get("strideH", 1) <= 3 and opts.get("strideW", 1) <= 3
    if name in {"ADD", "MUL", "SUB", "MINIMUM", "MAXIMUM"}:
        reason = _types(node, [INT8, INT8])
        return reason or (None if act in ACTIVATIONS_RELU else f"fused activation {act}")
    if name == "SUM":
        return "SUM is disabled in the Hexagon delegate"
    if name in {"MEAN", "PAD", "MIRROR_PAD", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"}:
        second = node.input(1)
        reason = _types(node, [INT8, _I32])
        if not reason and (second is None or not second.constant):
            reason = "second input is not constant"
        return reason
    if name == "FULLY_CONNECTED":
        reason = _types(node, [INT8, INT8, frozenset({"int32"})])
        weights, bias = node.input(1), node.input(2)
        if reason:
            return reason
        if weights is not None and weights.per_channel:
            return "per-channel weights"
        if bias is not None and not bias.constant:
            return "bias is not constant"
        if act not in ACTIVATIONS_RELU or opts.get("keepNumDims") or opts.get("weightsFormat"):
            return "activation, keep_num_dims or weights format"
        return None
    if name in {"CONCATENATION", "PACK"}:
        bad = [t.dtype for t in node.present_inputs if t.dtype not in INT8]
        return f"input of type {bad[0]}" if bad else None
    if name in {"MAX_POOL_2D", "AVERAGE_POOL_2D"}:
        reason = _types(node, [INT8])
        big = opts.get("filterHeight", 1) >= 13 or opts.get("filterWidth", 1) >= 13
        if not reason and name == "MAX_POOL_2D" and opts.get("padding") == "SAME" and big:
            reason = "SAME max pool with a filter of 13 or more"
        return reason or (None if act == "NONE" else "fused activation")
    if name == "TRANSPOSE_CONV":
        if len(node.inputs) == 3:
            reason = _types(node, [_I32, INT8, INT8])
        else:
            reason = _types(node, [_I32, INT8, INT8, _I32])
        if reason:
            return reason
        if not strides_ok or opts.get("padding") not in {"SAME", "VALID"}:
            return "stride above 3"
        return None
    if name in {"CONV_2D", "DEPTHWISE_CONV_2D"}:
        reason = _types(node, [INT8, INT8, _I32])
        if reason:
            return reason
        if act not in ACTIVATIONS_RELU or not strides_ok:
            return "fused activation or stride above 3"
        dilated = opts.get("dilationHFactor", 1) != 1 or opts.get("dilationWFactor", 1) != 1
        if name == "CONV_2D":
            return "dilation" if dilated else None
        first, weights = node.input(0), node.input(1)
        if dilated and (opts.get("strideH", 1) != 1 or opts.get("strideW", 1) != 1):
            return "dilation with stride"
        channels = first.shape[-1] if first is not None and len(first.shape) == 4 else 0
        if opts.get("depthMultiplier", 1) != 1 and (dilated or channels != 1):
            return "depth_multiplier != 1"
        if weights is not None and len(weights.shape) >= 2 and weights.shape[1] < 2:
            return "filter height below 2"
        return None
    if name == "RESHAPE":
        if len(node.inputs) > 2 or dtype_of(node.input(0)) not in INT8:
            return "RESHAPE of non-8-bit data"
        return None
    if name in {"SOFTMAX", "HARD_SWISH", "RELU", "RELU6", "TANH", "LOGISTIC", "NEG", "QUANTIZE"}:
        return _types(node, [INT8])
    if name in {"SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "L2_NORMALIZATION"}:
        return _types(node, [INT8])
    if name in {"ARG_MAX", "ARG_MIN", "TRANSPOSE"}:
        return _types(node, [INT8, _I32])
    if name == "SPLIT":
        axis = node.input(0)
        return _types(node, [_I32, INT8]) or (
            None if axis is not None and axis.constant else "split axis is not constant"
        )
    if name in {"SLICE", "STRIDED_SLICE"}:
        if any(not t.constant for t in node.present_inputs[1:]):
            return "begin/size/strides are not constant"
        types = [INT8, *[frozenset({"int32", "int64"})] * (len(node.inputs) - 1)]
        if opts.get("ellipsisMask") or opts.get("newAxisMask"):
            return "ellipsis or new-axis mask"
        return _types(node, types)
    if name in {"SQUARED_DIFFERENCE", "RSQRT"}:
        int8 = frozenset({"int8"})
        return _types(node, [int8] * len(node.inputs))
    return f"{name} is not supported by the Hexagon delegate"


def hexagon_rule(node: Node, graph: Graph) -> str | None:
    name = node.name
    if node.op.custom:
        return custom_op_reason(node)
    if name not in _HEXAGON_MAX_VERSION and name not in _HEXAGON_EXACT_VERSION:
        return f"{name} is not supported by the Hexagon delegate"
    if rank_over(node, 4):
        return "tensor of rank above 4"
    if name in _HEXAGON_EXACT_VERSION:
        if node.op.version != _HEXAGON_EXACT_VERSION[name]:
            return f"version {node.op.version} (needs {_HEXAGON_EXACT_VERSION[name]})"
    elif node.op.version > _HEXAGON_MAX_VERSION[name]:
        return f"version {node.op.version} > {_HEXAGON_MAX_VERSION[name]}"
    return _hexagon_op(node)
