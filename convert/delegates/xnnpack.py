"""XNNPACK rules: the static op list of ``xnnpack_delegate.cc`` ``VisitNode``."""

from __future__ import annotations

from convert.delegates.graph import ACTIVATIONS_RELU, INT8, Graph, Node, custom_op_reason, op_names

XNNPACK_OPS = op_names(
    "ABS CEIL COS DEQUANTIZE ELU EXP FLOOR GELU HARD_SWISH LEAKY_RELU LOGISTIC LOG NEG QUANTIZE "
    "RELU RELU6 RELU_N1_TO_1 ROUND RSQRT SIN SQRT SQUARE TANH ADD DIV MAXIMUM MINIMUM MUL PRELU "
    "SQUARED_DIFFERENCE SUB AVERAGE_POOL_2D BATCH_MATMUL CONCATENATION CONV_2D DEPTHWISE_CONV_2D "
    "DEPTH_TO_SPACE EXPAND_DIMS FULLY_CONNECTED MAX_POOL_2D REDUCE_MIN REDUCE_MAX SUM MEAN PAD "
    "RESHAPE RESIZE_BILINEAR SLICE SOFTMAX SPACE_TO_DEPTH SPLIT STRIDED_SLICE TRANSPOSE "
    "TRANSPOSE_CONV DENSIFY VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE"
)
XNNPACK_CUSTOM = {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D"}
# Visit*Node with CheckTensorFloatType only (no 8-bit kernel): unary, some binary, pooling.
XNNPACK_FLOAT_ONLY = op_names(
    "ABS CEIL COS EXP FLOOR GELU HARD_SWISH LOG NEG RELU_N1_TO_1 RELU RELU6 ROUND RSQRT SIN SQRT "
    "SQUARE DIV MAXIMUM MINIMUM PRELU SQUARED_DIFFERENCE AVERAGE_POOL_2D SOFTMAX"
)


def xnnpack_rule(node: Node, graph: Graph) -> str | None:
    name = node.name
    if node.op.custom:
        return custom_op_reason(node, XNNPACK_CUSTOM)
    if name not in XNNPACK_OPS:
        return f"{name} is not in XNNPACK's op list"
    if node.op.fused_activation not in ACTIVATIONS_RELU:
        return f"fused activation {node.op.fused_activation}"
    if graph.fp16_weights(node):
        return None
    allowed = (
        {"float32", "float16"} if name in XNNPACK_FLOAT_ONLY else {"float32", "float16"} | INT8
    )
    for tensor in node.runtime_tensors:
        if tensor.dtype not in allowed:
            return f"runtime tensor of type {tensor.dtype} ({'/'.join(sorted(allowed))} only)"
    return None
