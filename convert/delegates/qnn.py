"""QNN rules: the Qualcomm compiler plugin's legalization table."""

from __future__ import annotations

from convert.delegates.graph import Graph, Node, custom_op_reason, op_names

QNN_OPS = op_names(
    "ABS ADD ARG_MAX ARG_MIN AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND BROADCAST_TO CAST "
    "CEIL CONCATENATION CONV_2D CONV_3D COS CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE "
    "DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD "
    "FULLY_CONNECTED GATHER GATHER_ND GELU GREATER GREATER_EQUAL HARD_SWISH L2_NORMALIZATION "
    "L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC "
    "MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2 POW "
    "PRELU QUANTIZE REDUCE_ALL REDUCE_ANY REDUCE_MAX REDUCE_MIN RELU RELU_0_TO_1 RELU6 "
    "RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT SELECT "
    "SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQUARE "
    "SQUARED_DIFFERENCE SQRT STRIDED_SLICE SUB SUM TANH TILE TOPK_V2 TRANSPOSE TRANSPOSE_CONV "
    "UNPACK"
)


def qnn_rule(node: Node, graph: Graph) -> str | None:
    if node.op.custom:
        return custom_op_reason(node)
    if node.name not in QNN_OPS:
        return f"{node.name} is not legalized by the QNN plugin"
    for tensor in node.runtime_tensors:
        if tensor.dtype in {"int64", "float64", "string", "complex64"}:
            return f"runtime tensor of type {tensor.dtype}"
    return None
