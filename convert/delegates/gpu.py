"""GPU delegate rules: ``gpu_compatibility.cc`` + ``model_builder.cc``."""

from __future__ import annotations

from convert.delegates.graph import (
    BINARY,
    FLOATS,
    INT8,
    LOGICAL,
    UNARY,
    Graph,
    Node,
    custom_op_reason,
    dtype_of,
    op_names,
    rank_over,
)


def _broadcast_ok(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """The GPU delegate's standard (not enhanced) broadcast cases for ADD and MUL."""
    if len(a) <= 1 or len(b) <= 1 or len(a) == len(b):
        return True
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if len(longer) != 4:
        return False
    if len(shorter) == 3:
        return longer[0] == 1
    if len(shorter) == 2:
        return (longer[0] == 1 and shorter == (1, 1)) or (
            longer[0] == shorter[0] and longer[3] == shorter[1]
        )
    return False


# model_builder.cc: CheckMaxSupportedOpVersion of each op's parser (None: no version check).
GPU_MAX_VERSION: dict[str, int | None] = {
    **dict.fromkeys(
        op_names(
            "ABS ADD ADD_N COS DIV EQUAL ELU EXP FLOOR FLOOR_DIV FLOOR_MOD GELU GREATER "
            "GREATER_EQUAL LESS LESS_EQUAL LOGISTIC LOG LOGICAL_AND MAXIMUM MINIMUM NEG NOT_EQUAL "
            "POW RSQRT SIGN SIN SQRT SQUARE SQUARED_DIFFERENCE SUB TANH"
        ),
        2,
    ),  # ElementwiseOperationParser
    "MUL": 3,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "BATCH_MATMUL": None,
    "CAST": None,
    "CONCATENATION": 2,
    "CONV_2D": 6,
    "CUMSUM": 1,
    "DENSIFY": 1,
    "DEPTHWISE_CONV_2D": 6,
    "DEPTH_TO_SPACE": None,
    "DEQUANTIZE": 3,
    "FULLY_CONNECTED": 9,
    "GATHER": 1,
    "HARD_SWISH": None,
    "LSTM": 4,
    "MEAN": None,
    "SUM": None,
    "REDUCE_MAX": None,
    "REDUCE_MIN": None,
    "REDUCE_PROD": None,
    "ONE_HOT": 1,
    "PACK": None,
    "UNPACK": None,
    "PAD": 2,
    "PADV2": 2,
    "MIRROR_PAD": 2,
    "PRELU": 1,
    "QUANTIZE": 2,
    "RELU": 2,
    "RELU6": 2,
    "RELU_N1_TO_1": 2,
    "RELU_0_TO_1": 2,
    "LEAKY_RELU": 2,
    "RESHAPE": 1,
    "RESIZE_BILINEAR": 3,
    "RESIZE_NEAREST_NEIGHBOR": 3,
    "SELECT": 1,
    "SELECT_V2": 1,
    "SLICE": 2,
    "SOFTMAX": 2,
    "SPACE_TO_DEPTH": 2,
    "SPLIT": None,
    "SPLIT_V": None,
    "STRIDED_SLICE": 4,
    "TILE": None,
    "TRANSPOSE": 4,
    "TRANSPOSE_CONV": 3,
}
GPU_CUSTOM = {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"}


def _gpu_op(node: Node, graph: Graph) -> str | None:
    """gpu_compatibility.cc's per-op checks (and the logical-op rule of model_builder.cc)."""
    name, opts = node.name, node.options
    runtime, consts = len(node.runtime_inputs), len(node.const_inputs)
    if node.op.fused_activation == "SIGN_BIT":
        return "fused activation SIGN_BIT"
    if name in {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"}:
        if runtime > 2 or len(node.outputs) != 1:
            return f"{runtime} runtime inputs (at most 2)"
        if min(opts.get("strideH", 1), opts.get("strideW", 1)) <= 0:
            return "stride <= 0"
        if name == "DEPTHWISE_CONV_2D":
            first = node.input(0)
            channels = first.shape[-1] if first is not None and first.shape else 1
            if opts.get("depthMultiplier", 1) != 1 and channels != 1:
                return "depth_multiplier != 1 with more than one input channel"
    elif name in {"ADD", "MUL"}:
        if len(node.inputs) != 2:
            return f"{name} needs two inputs"
        a, b = (t.shape for t in node.present_inputs)
        if name == "MUL" and len(a) == len(b):
            if any(x < y for x, y in zip(a, b, strict=True)) and any(
                y < x for x, y in zip(a, b, strict=True)
            ):
                return "MUL where neither input covers the other"
        elif not _broadcast_ok(a, b):
            return f"broadcast {list(a)} with {list(b)}"
    elif name in UNARY:
        if (runtime, consts) != (1, 0):
            return f"{runtime} runtime and {consts} constant inputs (needs 1 and 0)"
    elif name in BINARY:
        if (runtime, consts) not in {(2, 0), (1, 1)}:
            return "needs 1 or 2 runtime operands"
    elif name == "CAST":
        src, dst = dtype_of(node.input(0)), dtype_of(node.outputs[0] if node.outputs else None)
        ok = (src == "bool" and dst in {"float16", "float32"}) or (
            src in {"float16", "float32"} and dst == "bool"
        )
        ok = ok or (src in {"float32", "int32"} and dst in {"float32", "int32"})
        if not ok:
            return f"CAST {src} -> {dst}"
        if src == "bool":  # model_builder.cc CastOperationParser: logical_op -> CAST -> float
            first, out = node.input(0), node.outputs[0]
            if (
                first is None
                or first.index not in graph.producer
                or len(graph.consumers.get(first.index, [])) != 1
                or len(graph.consumers.get(out.index, [])) != 1
            ):
                return "CAST from bool needs one producer and one consumer on each side"
    elif name == "DEPTH_TO_SPACE" and opts.get("blockSize", 2) <= 1:
        return "block_size <= 1"
    elif name == "DEQUANTIZE" and dtype_of(node.input(0)) == "int16":
        return "DEQUANTIZE of int16"
    elif name == "FULLY_CONNECTED":
        first = node.input(0)
        if opts.get("weightsFormat", 0) != 0:
            return "non-default weights format"
        if runtime > 2:
            return "more than 2 runtime inputs"
        if first is not None and first.constant:
            return "constant input"
        ranks = {len(t.shape) for t in (first, *node.outputs[:1]) if t is not None}
        if opts.get("keepNumDims") and len(ranks) > 1:
            return "keep_num_dims with different input and output ranks"
    elif name in {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}:
        axes = node.input(1)
        if runtime != 1 or axes is None or not axes.constant or axes.dtype != "int32":
            return "axes must be a constant int32 tensor beside one runtime input"
    elif name in {"PAD", "PADV2", "MIRROR_PAD"}:
        pads = node.input(1)
        if name == "MIRROR_PAD" and opts.get("mode", 0) != 0:
            return "MIRROR_PAD mode other than REFLECT"
        if runtime != 1 or pads is None or pads.shape not in {(4, 2), (3, 2)}:
            return "needs one runtime input and a 4x2 or 3x2 paddings tensor"
    elif name in {"RESHAPE", "QUANTIZE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"}:
        if runtime != 1:
            return f"{runtime} runtime inputs (needs exactly 1)"
        if name == "RESIZE_BILINEAR" and opts.get("alignCorners") and opts.get("halfPixelCenters"):
            return "align_corners together with half_pixel_centers"
    elif name in {"AVERAGE_POOL_2D", "MAX_POOL_2D"}:
        if runtime != 1:
            return f"{runtime} runtime inputs (needs exactly 1)"
    elif name == "SOFTMAX" and opts.get("beta", 1.0) != 1.0:
        return "beta != 1"
    elif name in {"SELECT", "SELECT_V2"}:
        cond, yes, no = (node.input(i) for i in range(3))
        if len(node.inputs) != 3:
            return "needs 3 inputs"
        if dtype_of(cond) not in {"bool", "float16", "float32"} or not (
            {dtype_of(yes), dtype_of(no)} <= {"float16", "float32"}
        ):
            return "condition must be bool/float and both branches float"
    elif name == "STRIDED_SLICE":
        for mask in ("ellipsisMask", "newAxisMask", "shrinkAxisMask"):
            if opts.get(mask):
                return f"{mask} is set"
        first = node.input(0)
        if first is None or len(first.shape) not in {3, 4}:
            return "input rank must be 3 or 4"
    if name in LOGICAL:
        out = node.outputs[0].index if node.outputs else -1
        users = [graph.by_index[i] for i in graph.consumers.get(out, [])]
        if (
            len(users) != 1
            or users[0].name not in {"CAST", "SELECT", "SELECT_V2"}
            or not any(t.dtype in FLOATS for t in users[0].outputs)
        ):
            return "logical op must feed exactly one CAST/SELECT producing float"
    return None


def gpu_rule(node: Node, graph: Graph) -> str | None:
    name = node.name
    if node.op.custom:
        return custom_op_reason(node, GPU_CUSTOM)
    if graph.fp16_weights(node):
        return None
    if name not in GPU_MAX_VERSION:
        return f"{name} is not in the GPU op set"
    limit = GPU_MAX_VERSION[name]
    if limit is not None and node.op.version > limit:
        return f"version {node.op.version} > {limit}"
    reason = _gpu_op(node, graph)
    if reason:
        return reason
    if rank_over(node, 4):
        return "tensor of rank 5 or more"
    # GetOpsToReplace: runtime tensors must be float (or 8-bit: quantized models allowed).
    allowed_in = set(FLOATS - {"float64"}) | INT8
    allowed_out = set(allowed_in)
    if name in LOGICAL:
        allowed_out.add("bool")
    if name == "CAST":
        allowed_in |= {"bool", "int32"}
        allowed_out |= {"bool", "int32"}
    if name in {"SELECT", "SELECT_V2"}:
        allowed_in.add("bool")
    if name in {"GATHER", "ONE_HOT"}:
        allowed_in.add("int32")
    for tensor in node.runtime_inputs:
        if tensor.dtype not in allowed_in:
            return f"runtime input of type {tensor.dtype}"
    for tensor in node.outputs:
        if not tensor.constant and tensor.dtype not in allowed_out:
            return f"output of type {tensor.dtype}"
    return None
