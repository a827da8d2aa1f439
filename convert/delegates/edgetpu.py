"""Edge TPU rules: the coral.ai supported-operations table."""

from __future__ import annotations

from convert.delegates.graph import INT8, Graph, Node, custom_op_reason, op_names

EDGETPU_OPS = op_names(
    "ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D EXPAND_DIMS FULLY_CONNECTED "
    "HARD_SWISH L2_NORMALIZATION LOGISTIC LSTM UNIDIRECTIONAL_SEQUENCE_LSTM MAXIMUM MAX_POOL_2D "
    "MEAN MINIMUM MUL PACK PAD PRELU QUANTIZE REDUCE_MAX REDUCE_MIN RELU RELU6 RELU_N1_TO_1 "
    "RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SLICE SOFTMAX SPACE_TO_DEPTH SPLIT "
    "SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM TANH TRANSPOSE TRANSPOSE_CONV"
)


def _non_unit_dims(shape: tuple[int, ...]) -> int:
    """Edge TPU: past 3 dimensions, only the 3 innermost may exceed 1."""
    return sum(1 for d in shape[:-3] if d != 1)


def edgetpu_rule(node: Node, graph: Graph) -> str | None:
    name, opts = node.name, node.options
    if node.op.custom:
        return custom_op_reason(node)
    if name not in EDGETPU_OPS:
        return f"{name} is not in the Edge TPU op table"
    for tensor in node.runtime_tensors:
        if tensor.dtype not in INT8:
            return f"runtime tensor of type {tensor.dtype} (8-bit only)"
        if _non_unit_dims(tensor.shape):
            return f"tensor {list(tensor.shape)}: only the 3 innermost dims may exceed 1"
    if name in {"AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION"}:
        if node.op.fused_activation != "NONE":
            return "fused activation"
    elif name in {"CONV_2D", "DEPTHWISE_CONV_2D"}:
        if opts.get("dilationHFactor", 1) != opts.get("dilationWFactor", 1):
            return "different x and y dilation"
    elif name == "FULLY_CONNECTED" and opts.get("weightsFormat", 0) != 0:
        return "non-default weights format"
    elif name == "SOFTMAX":
        first = node.input(0)
        shape = first.shape if first is not None else ()
        if any(d != 1 for d in shape[:-1]) or (shape and shape[-1] > 16000):
            return f"input {list(shape)}: only 1-D inputs of at most 16000 elements"
    elif name == "STRIDED_SLICE":
        strides = node.input(3)
        if opts.get("ellipsisMask") or opts.get("newAxisMask"):
            return "ellipsis or new-axis mask"
        if strides is None or not strides.constant:
            return "strides are not constant"
    return None
