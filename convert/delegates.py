"""Which phone delegates take a .tflite file whole, read from the flatbuffer (no interpreter).

``tf.lite.experimental.Analyzer(gpu_compatibility=True)`` always answers "compatible", so the
zoo checks files against the delegates' own rules, re-expressed here from their sources:

- ``gpu``: the GPU delegate (OpenCL, OpenGL ES and Metal share one op parser).
  ``tflite/tools/versioning/gpu_compatibility.cc`` (per-op checks) and
  ``tflite/delegates/gpu/common/model_builder.cc`` (``CheckMaxSupportedOpVersion`` per parser,
  the runtime tensor types of ``GetOpsToReplace``), with the float16-weights handling of
  ``FP16GraphPartitionHelper`` in ``tflite/delegates/utils.cc``. Defaults of
  ``TfLiteGpuDelegateOptionsV2Default``: quantized models allowed, one delegated partition.
- ``xnnpack``: LiteRT's CPU accelerator, measured with
  ``CompiledModel.from_buffer(..).is_fully_accelerated()`` (the verdict); a static op-level view
  names the ops, from ``tflite/delegates/xnnpack/xnnpack_delegate.cc``: the ops ``VisitNode``
  takes and the ones whose ``Visit*Node`` accepts float only (standalone RELU/RELU6, MINIMUM,
  MAXIMUM, PRELU, SOFTMAX, AVERAGE_POOL_2D, ...: no int8 kernel).
- ``nnapi``: ``NNAPIDelegateKernel::Validate`` in ``tflite/delegates/nnapi/nnapi_delegate.cc``,
  evaluated for NNAPI feature level 30 (Android 11) with no accelerator named; at most 3
  partitions (``max_number_delegated_partitions``).
- ``hexagon``: ``IsNodeSupportedByHexagon`` and ``CheckOpVersion`` in
  ``tflite/delegates/hexagon/utils.cc``; at most 4 graphs of at least 2 nodes
  (``hexagon_delegate.cc``).
- ``qnn``: the ops the Qualcomm AI Engine Direct compiler plugin legalizes
  (``litert/vendors/qualcomm/compiler/Qualcomm_QNN_Compiler.md``); op level only.
- ``edgetpu``: the supported-operations table of coral.ai "TensorFlow models on the Edge TPU"
  (Edge TPU compiler 16): 8-bit tensors only, static shapes, at most 3 non-unit dimensions,
  and one mapped segment: the first op it cannot map and every op after it run on the CPU.

All LiteRT files were read at google-ai-edge/LiteRT tag v2.2.0 (where ``tensorflow/lite`` now
lives; its GPU and NNAPI files are unchanged on the main branch; the installed runtime
is ai-edge-litert 2.3.0). The tensorflow/tensorflow copies of ``gpu_compatibility.cc`` and
``hexagon/utils.cc`` were compared: the TF copy of the Hexagon rules caps TRANSPOSE_CONV at
version 2 (three inputs only), LiteRT v2.2.0 at version 3 (bias allowed).

Whole-graph rule (``tflite/core/subgraph.cc``, ``ModifyGraphWithDelegate``): a delegate without
``kTfLiteDelegateFlagsAllowDynamicTensors`` (GPU; NNAPI and Hexagon by default) is refused
outright when the graph has a dynamic-sized tensor: an op whose output size comes from a tensor
computed at run time (TRANSPOSE_CONV with a computed ``output_shape``, RESHAPE, RESIZE_* or PAD
with computed sizes; a dynamic batch makes the converter emit SHAPE/STRIDED_SLICE/PACK for
exactly that). The Edge TPU and QNN compilers also need every shape static.

Partitions are counted as TFLite's ``PartitionGraphIntoIndependentNodeSubsets`` forms them
(``tflite/graph_info.cc``, greedy, the default): epochs over the execution order, each epoch
taking every op whose inputs are ready and whose kind (delegated or not) matches the epoch's
first ready op; the delegated epochs are the partitions. A delegate then keeps only its N
largest partitions (GPU 1, NNAPI 3, Hexagon 4 of 2+ nodes), and the ops of the others fall
back too. Float16 weights dequantized from constants (DEQUANTIZE v3) belong to the delegate
when everything else does, and otherwise stay on the CPU, as ``FP16GraphPartitionHelper`` does.

A file is *fully integer* when no op between its inputs and outputs computes in float: the only
float tensors allowed are float graph inputs feeding a QUANTIZE and float graph outputs written
by a DEQUANTIZE (the float-I/O conversions, which run on the CPU and do not split the graph).

``--strict`` covers the targets a file is meant for, from its precision: float32, float16 and
dynamic-range files: gpu and xnnpack; int8: xnnpack, nnapi, hexagon, qnn, edgetpu; int16x8: qnn
(no other delegate has int16 kernels). ``targets=`` overrides the choice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from convert import flatbuffer
from convert.flatbuffer import Operator, Tensor, TFLiteFile
from zoo.errors import ZooError

LITERT = "LiteRT v2.2.0"
TARGETS = ("gpu", "xnnpack", "nnapi", "hexagon", "qnn", "edgetpu")
TITLES = {
    "gpu": "classic GPU delegate (GpuDelegateV2, Interpreter API: OpenCL / OpenGL ES / Metal)",
    "xnnpack": "XNNPACK (LiteRT CPU accelerator)",
    "nnapi": "NNAPI (Android NPU/DSP/GPU drivers)",
    "hexagon": "Qualcomm Hexagon delegate",
    "qnn": "Qualcomm QNN (AI Engine Direct)",
    "edgetpu": "Coral Edge TPU",
}
RULES = {
    "gpu": "tflite/tools/versioning/gpu_compatibility.cc + tflite/delegates/gpu/common/"
    f"model_builder.cc ({LITERT})",
    "xnnpack": "ai_edge_litert CompiledModel.is_fully_accelerated (CPU); op list of "
    f"tflite/delegates/xnnpack/xnnpack_delegate.cc ({LITERT})",
    "nnapi": f"tflite/delegates/nnapi/nnapi_delegate.cc Validate, feature level 30 ({LITERT})",
    "hexagon": f"tflite/delegates/hexagon/utils.cc IsNodeSupportedByHexagon ({LITERT})",
    "qnn": f"litert/vendors/qualcomm/compiler/Qualcomm_QNN_Compiler.md ({LITERT})",
    "edgetpu": "coral.ai/docs/edgetpu/models-intro supported operations (compiler 16)",
}
# Delegated partitions a delegate keeps by default (None: all) and their minimum size.
MAX_PARTITIONS = {"gpu": 1, "xnnpack": None, "nnapi": 3, "hexagon": 4, "qnn": None, "edgetpu": 1}
MIN_PARTITION_NODES = {"hexagon": 2}
# Targets that refuse a graph with dynamic-sized tensors / need static shapes to compile.
STATIC_ONLY = ("gpu", "nnapi", "hexagon", "qnn", "edgetpu")
COMPILED = ("qnn", "edgetpu")
STRICT_TARGETS = {
    "float32": ("gpu", "xnnpack"),
    "float16": ("gpu", "xnnpack"),
    "dynamic": ("gpu", "xnnpack"),
    "int8": ("xnnpack", "nnapi", "hexagon", "qnn", "edgetpu"),
    "int16x8": ("qnn",),
}


def _names(text: str) -> frozenset[str]:
    """Op names written as one space-separated string."""
    return frozenset(text.split())


FLOATS = frozenset({"float32", "float16", "float64"})
INT8 = frozenset({"int8", "uint8"})
ACTIVATIONS_RELU = frozenset({"NONE", "RELU", "RELU6", "RELU_N1_TO_1"})
UNARY = _names(
    "ABS CEIL COS ELU EXP FLOOR GELU LOG LOGICAL_NOT LOGISTIC NEG ROUND RSQRT SIGN SIN SQRT "
    "SQUARE TANH"
)
BINARY = _names(
    "ATAN2 DIV EQUAL FLOOR_DIV FLOOR_MOD GREATER GREATER_EQUAL LOGICAL_AND LOGICAL_OR LESS "
    "LESS_EQUAL MAXIMUM MINIMUM NOT_EQUAL POW SQUARED_DIFFERENCE SUB"
)
LOGICAL = _names("EQUAL NOT_EQUAL GREATER GREATER_EQUAL LESS LESS_EQUAL LOGICAL_AND LOGICAL_OR")


# === The graph as the rules see it ===


@dataclass(frozen=True)
class Node:
    """One op of subgraph 0 with its tensors resolved (``None`` for an omitted optional input)."""

    op: Operator
    inputs: tuple[Tensor | None, ...]
    outputs: tuple[Tensor, ...]

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def options(self) -> dict[str, Any]:
        return self.op.options

    def input(self, i: int) -> Tensor | None:
        return self.inputs[i] if i < len(self.inputs) else None

    @property
    def present_inputs(self) -> list[Tensor]:
        return [t for t in self.inputs if t is not None]

    @property
    def runtime_inputs(self) -> list[Tensor]:
        return [t for t in self.present_inputs if not t.constant]

    @property
    def const_inputs(self) -> list[Tensor]:
        return [t for t in self.present_inputs if t.constant]

    @property
    def runtime_tensors(self) -> list[Tensor]:
        return self.runtime_inputs + [t for t in self.outputs if not t.constant]


class Graph:
    """Subgraph 0 of a parsed file: nodes, producers and consumers, graph inputs and outputs."""

    def __init__(self, parsed: TFLiteFile) -> None:
        tensors = list(parsed.tensors[0] if parsed.tensors else ())
        ops = [op for op in parsed.operators if op.subgraph == 0]
        # Float16 weights: the delegates read the constant behind a DEQUANTIZE directly
        # (FP16GraphPartitionHelper remaps the consumers' inputs), so its output counts as a
        # constant for the rules.
        for op in ops:
            first = tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
            if op.name != "DEQUANTIZE" or first is None or first.dtype != "float16":
                continue
            if first.constant:
                for i in op.outputs:
                    tensors[i] = replace(tensors[i], constant=True)
        self.nodes = [
            Node(
                op,
                tuple(tensors[i] if i >= 0 else None for i in op.inputs),
                tuple(tensors[i] for i in op.outputs if i >= 0),
            )
            for op in ops
        ]
        self.inputs = frozenset(parsed.inputs)
        self.outputs = frozenset(parsed.outputs)
        self.producer: dict[int, int] = {}
        self.consumers: dict[int, list[int]] = {}
        for node in self.nodes:
            self.producer.update((t.index, node.op.index) for t in node.outputs)
            for t in node.present_inputs:
                self.consumers.setdefault(t.index, []).append(node.op.index)
        self.by_index = {node.op.index: node for node in self.nodes}
        self.prepared = self._prepare_time_tensors()

    def _prepare_time_tensors(self) -> set[int]:
        """Tensors whose values TFLite knows at Prepare: constants, SHAPE outputs, and the
        outputs of the kernels that fold constant-or-known inputs (SetTensorToPersistentRo)."""
        folding = _names("STRIDED_SLICE CONCATENATION GATHER MUL RESHAPE TILE RANGE SUM")
        folding |= {"BROADCAST_ARGS", "REDUCE_PROD", "REDUCE_MAX"}
        known: set[int] = set()
        for node in self.nodes:  # execution order: producers come first
            inputs_known = all(t.constant or t.index in known for t in node.present_inputs)
            if node.name in {"SHAPE", "RANK"} or (node.name in folding and inputs_known):
                known.update(t.index for t in node.outputs)
        return known

    def known(self, tensor: Tensor | None) -> bool:
        return tensor is not None and (tensor.constant or tensor.index in self.prepared)

    def boundary(self, node: Node) -> bool:
        """A float-I/O conversion: QUANTIZE of a float graph input, DEQUANTIZE to a float output."""
        if node.name == "QUANTIZE":
            first = node.input(0)
            return first is not None and first.index in self.inputs and first.dtype in FLOATS
        if node.name == "DEQUANTIZE":
            first = node.input(0)
            return (
                first is not None
                and not first.constant
                and any(t.index in self.outputs and t.dtype in FLOATS for t in node.outputs)
            )
        return False

    def fp16_weights(self, node: Node) -> bool:
        """A DEQUANTIZE of constant float16 weights (float16 files)."""
        first = node.input(0)
        return node.name == "DEQUANTIZE" and _dtype(first) == "float16" and first.constant


def runtime_sized(node: Node, graph: Graph) -> str | None:
    """Why the op's output size is only known when it runs (a dynamic-sized tensor), or None."""
    shape_input = {
        "TRANSPOSE_CONV": 0,
        "RESHAPE": 1,
        "RESIZE_BILINEAR": 1,
        "RESIZE_NEAREST_NEIGHBOR": 1,
        "PAD": 1,
        "PADV2": 1,
        "MIRROR_PAD": 1,
        "BROADCAST_TO": 1,
        "FILL": 0,
    }.get(node.name)
    if shape_input is None:
        return None
    tensor = node.input(shape_input)
    if tensor is None:
        return None
    # transpose_conv.cc tests IsConstantTensor; the others accept values known at Prepare.
    static = tensor.constant if node.name == "TRANSPOSE_CONV" else graph.known(tensor)
    return None if static else f"{node.name} output size computed at run time"


# === Rule helpers ===


def _dtype(tensor: Tensor | None) -> str:
    return tensor.dtype if tensor is not None else "none"


def _rank_over(node: Node, limit: int) -> bool:
    return any(len(t.shape) > limit for t in (*node.present_inputs, *node.outputs))


def _types(node: Node, allowed: Iterable[frozenset[str] | set[str]]) -> str | None:
    """Inputs must match ``allowed`` one by one (same count; omitted optional inputs pass)."""
    allowed = list(allowed)
    if len(node.inputs) != len(allowed):
        return f"expects {len(allowed)} inputs, has {len(node.inputs)}"
    for i, (tensor, types) in enumerate(zip(node.inputs, allowed, strict=True)):
        if tensor is not None and tensor.dtype not in types:
            return f"input {i} is {tensor.dtype}, needs {'/'.join(sorted(types))}"
    return None


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


# === GPU: gpu_compatibility.cc + model_builder.cc ===

# model_builder.cc: CheckMaxSupportedOpVersion of each op's parser (None: no version check).
GPU_MAX_VERSION: dict[str, int | None] = {
    **dict.fromkeys(
        _names(
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
        src, dst = _dtype(node.input(0)), _dtype(node.outputs[0] if node.outputs else None)
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
    elif name == "DEQUANTIZE" and _dtype(node.input(0)) == "int16":
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
        if _dtype(cond) not in {"bool", "float16", "float32"} or not (
            {_dtype(yes), _dtype(no)} <= {"float16", "float32"}
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
        if node.op.flex:
            return "Flex (TensorFlow) op"
        return None if name in GPU_CUSTOM else f"custom op {name}"
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
    if _rank_over(node, 4):
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


# === XNNPACK: static op list of xnnpack_delegate.cc VisitNode ===

XNNPACK_OPS = _names(
    "ABS CEIL COS DEQUANTIZE ELU EXP FLOOR GELU HARD_SWISH LEAKY_RELU LOGISTIC LOG NEG QUANTIZE "
    "RELU RELU6 RELU_N1_TO_1 ROUND RSQRT SIN SQRT SQUARE TANH ADD DIV MAXIMUM MINIMUM MUL PRELU "
    "SQUARED_DIFFERENCE SUB AVERAGE_POOL_2D BATCH_MATMUL CONCATENATION CONV_2D DEPTHWISE_CONV_2D "
    "DEPTH_TO_SPACE EXPAND_DIMS FULLY_CONNECTED MAX_POOL_2D REDUCE_MIN REDUCE_MAX SUM MEAN PAD "
    "RESHAPE RESIZE_BILINEAR SLICE SOFTMAX SPACE_TO_DEPTH SPLIT STRIDED_SLICE TRANSPOSE "
    "TRANSPOSE_CONV DENSIFY VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE"
)
XNNPACK_CUSTOM = {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D"}
# Visit*Node with CheckTensorFloatType only (no 8-bit kernel): unary, some binary, pooling.
XNNPACK_FLOAT_ONLY = _names(
    "ABS CEIL COS EXP FLOOR GELU HARD_SWISH LOG NEG RELU_N1_TO_1 RELU RELU6 ROUND RSQRT SIN SQRT "
    "SQUARE DIV MAXIMUM MINIMUM PRELU SQUARED_DIFFERENCE AVERAGE_POOL_2D SOFTMAX"
)


def xnnpack_rule(node: Node, graph: Graph) -> str | None:
    name = node.name
    if node.op.custom:
        if node.op.flex:
            return "Flex (TensorFlow) op"
        return None if name in XNNPACK_CUSTOM else f"custom op {name}"
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


# === NNAPI: nnapi_delegate.cc Validate at feature level 30, no accelerator named ===

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
    kind = _dtype(first)
    out = node.outputs[0] if node.outputs else None

    def need(
        types: Iterable[str], tensor: Tensor | None = first, what: str = "input"
    ) -> str | None:
        """None when ``tensor``'s type is one of ``types``, else the reason."""
        if _dtype(tensor) in types:
            return None
        return f"{what} {_dtype(tensor)} not in NNAPI's types"

    if name in {"ADD", "MUL", "SUB"}:
        if kind not in _F32_Q8 | {"int32"}:
            return need(_F32_Q8 | {"int32"})
        if kind == "int32" and node.op.fused_activation != "NONE":
            return "int32 with a fused activation"
        if _rank_over(node, 4):
            return "rank above 4"
    elif name == "DIV":
        return need({"float32"}) or ("rank above 4" if _rank_over(node, 4) else None)
    elif name in {"AVERAGE_POOL_2D", "MAX_POOL_2D"}:
        if kind not in _F32_Q8:
            return need(_F32_Q8)
        area = opts.get("filterWidth", 1) * opts.get("filterHeight", 1)
        if name == "AVERAGE_POOL_2D" and kind in INT8 and area > 256:
            return "quantized average pool over more than 256 elements"
    elif name == "CONV_2D" and len(node.inputs) != 3:
        return "CONV_2D without bias"
    elif name == "FULLY_CONNECTED" and _dtype(out) == "int16":
        return "int16 output"
    elif name == "SOFTMAX":
        return (
            need(_F32_Q8)
            or need(_F32_Q8, out, "output")
            or ("rank above 4" if _rank_over(node, 4) else None)
        )
    elif name == "RESHAPE":
        if kind not in _F32_Q8:
            return need(_F32_Q8)
        if _rank_over(node, 4):
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
        if _rank_over(node, 4):
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
        return need(_F32_Q8) or ("rank above 4" if _rank_over(node, 4) else None)
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
        return "Flex (TensorFlow) op" if node.op.flex else f"custom op {name}"
    first = node.input(0)
    if graph.fp16_weights(node) or (name == "DEQUANTIZE" and _dtype(first) == "float16"):
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


# === Hexagon: hexagon/utils.cc IsNodeSupportedByHexagon + CheckOpVersion ===

_HEXAGON_MAX_VERSION = {
    **dict.fromkeys(
        _names(
            "ADD ARG_MAX ARG_MIN AVERAGE_POOL_2D CONCATENATION L2_NORMALIZATION LOGISTIC MAXIMUM "
            "MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL PACK PAD QUANTIZE RELU6 SLICE SOFTMAX "
            "SPACE_TO_DEPTH DEPTH_TO_SPACE SPLIT STRIDED_SLICE SUB TANH TRANSPOSE"
        ),
        2,
    ),
    **dict.fromkeys(
        _names("CONV_2D DEPTHWISE_CONV_2D RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR TRANSPOSE_CONV"),
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
        if len(node.inputs) > 2 or _dtype(node.input(0)) not in INT8:
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
        return "Flex (TensorFlow) op" if node.op.flex else f"custom op {name}"
    if name not in _HEXAGON_MAX_VERSION and name not in _HEXAGON_EXACT_VERSION:
        return f"{name} is not supported by the Hexagon delegate"
    if _rank_over(node, 4):
        return "tensor of rank above 4"
    if name in _HEXAGON_EXACT_VERSION:
        if node.op.version != _HEXAGON_EXACT_VERSION[name]:
            return f"version {node.op.version} (needs {_HEXAGON_EXACT_VERSION[name]})"
    elif node.op.version > _HEXAGON_MAX_VERSION[name]:
        return f"version {node.op.version} > {_HEXAGON_MAX_VERSION[name]}"
    return _hexagon_op(node)


# === QNN: the Qualcomm compiler plugin's legalization table ===

QNN_OPS = _names(
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
        return "Flex (TensorFlow) op" if node.op.flex else f"custom op {node.name}"
    if node.name not in QNN_OPS:
        return f"{node.name} is not legalized by the QNN plugin"
    for tensor in node.runtime_tensors:
        if tensor.dtype in {"int64", "float64", "string", "complex64"}:
            return f"runtime tensor of type {tensor.dtype}"
    return None


# === Edge TPU: coral.ai supported-operations table ===

EDGETPU_OPS = _names(
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
        return "Flex (TensorFlow) op" if node.op.flex else f"custom op {name}"
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


RULE_FUNCTIONS: dict[str, Callable[[Node, Graph], str | None]] = {
    "gpu": gpu_rule,
    "xnnpack": xnnpack_rule,
    "nnapi": nnapi_rule,
    "hexagon": hexagon_rule,
    "qnn": qnn_rule,
    "edgetpu": edgetpu_rule,
}


# === Partitions ===


def partition(graph: Graph, delegated: set[int]) -> list[tuple[bool, list[int]]]:
    """Node subsets as TFLite's greedy partitioner forms them: ``(delegated?, op indices)``.

    Each epoch scans the execution order until nothing changes and takes every op whose
    inputs are ready and whose kind matches the epoch's first ready op.
    """
    produced = {t.index for node in graph.nodes for t in node.outputs}
    ready: set[int] = set()
    done: set[int] = set()
    subsets: list[tuple[bool, list[int]]] = []
    while len(done) < len(graph.nodes):
        kind: bool | None = None
        members: list[int] = []
        progress = True
        while progress:
            progress = False
            for node in graph.nodes:
                index = node.op.index
                if index in done:
                    continue
                if any(t.index in produced and t.index not in ready for t in node.present_inputs):
                    continue
                node_kind = index in delegated
                if kind is None:
                    kind = node_kind
                if node_kind != kind:
                    continue
                done.add(index)
                members.append(index)
                ready.update(t.index for t in node.outputs)
                progress = True
        if not members:  # a cycle: cannot happen in a valid file
            break
        subsets.append((bool(kind), members))
    return subsets


# === Reports ===


@dataclass(frozen=True)
class Fallback:
    """An op that runs on the CPU for a target, and why. ``boundary``: a float-I/O conversion."""

    index: int
    op: str
    version: int
    reason: str
    boundary: bool = False

    def describe(self) -> str:
        return f"#{self.index} {self.op} v{self.version}: {self.reason}"


@dataclass
class TargetReport:
    """One target's verdict: ``supported`` when every op runs on it (I/O conversions aside)."""

    target: str
    title: str
    rules: str
    supported: bool
    delegated: int
    total: int
    partitions: int
    fallback: list[Fallback] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blocked: str | None = None
    measured: bool | None = None  # CompiledModel.is_fully_accelerated (xnnpack only)

    @property
    def problems(self) -> list[Fallback]:
        return [f for f in self.fallback if not f.boundary]

    def verdict(self) -> str:
        if self.blocked:
            return f"refused: {self.blocked}"
        if self.supported:
            extra = sum(f.boundary for f in self.fallback)
            return "all ops" + (f" (+{extra} I/O conversion on CPU)" if extra else "")
        if not self.problems:  # XNNPACK measured, with no op named by the static view
            return "not fully accelerated (CompiledModel)"
        return f"{len(self.problems)} op(s) fall back"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict()
        return data


@dataclass
class DelegateReport:
    """Facts about a .tflite file and one :class:`TargetReport` per target."""

    source: str
    size: int
    subgraphs: int
    ops: list[dict[str, Any]]
    op_versions: dict[str, int]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    precision: str  # float32 | float16 | dynamic | int8 | int16x8
    fully_integer: bool
    float_ops: list[str]
    dynamic_tensors: list[str]
    runtime_sized: list[str]
    custom_ops: list[str]
    flex_ops: list[str]
    targets: dict[str, TargetReport]

    def target(self, name: str) -> TargetReport:
        if name not in self.targets:
            raise ZooError(f"unknown target {name!r}; expected one of {', '.join(TARGETS)}")
        return self.targets[name]

    @property
    def strict_targets(self) -> tuple[str, ...]:
        """The targets this file is meant for (by precision): what ``--strict`` covers."""
        return STRICT_TARGETS[self.precision]

    def failures(self, targets: Iterable[str] | None = None) -> list[TargetReport]:
        names = list(targets) if targets else list(self.strict_targets)
        return [self.target(name) for name in names if not self.target(name).supported]

    def require(self, targets: Iterable[str] | None = None) -> None:
        """Raise a one-line :class:`ZooError` when anything falls back on the given targets."""
        failed = self.failures(targets)
        if not failed:
            return
        parts = []
        for report in failed:
            first = report.problems[0].describe() if report.problems else report.verdict()
            more = len(report.problems) - 1
            parts.append(f"{report.target}: {first}" + (f" (+{more} more)" if more > 0 else ""))
        raise ZooError(f"{self.source} does not run whole on {'; '.join(parts)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = {name: report.to_dict() for name, report in self.targets.items()}
        data["strict_targets"] = list(self.strict_targets)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        io = ", ".join(f"{t['name']} {t['dtype']} {t['shape']}" for t in self.inputs)
        out = ", ".join(f"{t['name']} {t['dtype']} {t['shape']}" for t in self.outputs)
        ops = ", ".join(f"{name} v{v}" for name, v in self.op_versions.items())
        lines = [
            f"{self.source}: {self.size:,} bytes, {len(self.ops)} ops, {self.precision} "
            f"(fully integer: {'yes' if self.fully_integer else 'no'})",
            f"inputs: {io}",
            f"outputs: {out}",
            f"ops: {ops or 'none'}",
            f"dynamic tensors: {_listing(self.dynamic_tensors)}",
            f"sizes computed at run time: {_listing(self.runtime_sized)}",
            f"custom ops: {_listing(self.custom_ops)}",
        ]
        if self.float_ops and self.precision in {"int8", "int16x8"}:
            lines.append(f"float ops inside: {_listing(self.float_ops)}")
        rows = [("target", "delegated", "partitions", "verdict by the delegate's rules (static)")]
        for name in TARGETS:
            report = self.targets[name]
            marker = "*" if name in self.strict_targets else " "
            rows.append(
                (
                    f"{marker}{name}",
                    f"{report.delegated}/{report.total}",
                    str(report.partitions),
                    report.verdict(),
                )
            )
        lines += ["", *_table(rows), f"(* = covered by --strict for {self.precision} files)"]
        for name in TARGETS:
            report = self.targets[name]
            lines.append(f"\n{name}: {report.title}")
            groups: dict[str, list[str]] = {}
            for item in report.fallback:
                tag = " (I/O conversion)" if item.boundary else ""
                groups.setdefault(item.reason + tag, []).append(
                    f"#{item.index} {item.op} v{item.version}"
                )
            lines += [f"  CPU: {_listing(names)}: {why}" for why, names in groups.items()]
            lines += [f"  note: {note}" for note in report.notes]
        lines.append("\nrules:")
        lines += [f"  {name}: {self.targets[name].rules}" for name in TARGETS]
        return "\n".join(lines)


def _listing(items: list[str], limit: int = 6) -> str:
    if not items:
        return "none"
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


# === Checking ===


def check(
    source: str | Path | bytes | TFLiteFile, *, measure: bool = True, label: str | None = None
) -> DelegateReport:
    """The delegate report of a .tflite path, its bytes, or a parsed :class:`TFLiteFile`.

    ``measure`` creates a LiteRT ``CompiledModel`` on the CPU (XNNPACK) to ask whether it is
    fully accelerated (bytes needed; a parsed file gets the static view only).
    """
    data = None
    if isinstance(source, TFLiteFile):
        parsed = source
    else:
        parsed = flatbuffer.read(source)  # errors name the path
        data = flatbuffer.load_bytes(source)
    if label is None:
        label = str(source) if isinstance(source, str | Path) else "the buffer"
    graph = Graph(parsed)
    facts = _facts(parsed, graph)
    measured = _measure_xnnpack(data) if measure and data is not None else None
    targets = {
        name: _target(name, graph, facts, measured if name == "xnnpack" else None)
        for name in TARGETS
    }
    return DelegateReport(source=label, targets=targets, **facts)


def _facts(parsed: TFLiteFile, graph: Graph) -> dict[str, Any]:
    signature_names = {}  # tensor index -> the name the signature gives it
    for signature in parsed.signatures[:1]:
        for name, index in (*signature.inputs.items(), *signature.outputs.items()):
            signature_names[index] = name

    def spec(t: Tensor) -> dict[str, Any]:
        name = signature_names.get(t.index, t.name)
        return {"name": name, "dtype": t.dtype, "shape": list(t.signature)}

    float_ops = [
        f"#{node.op.index} {node.name}"
        for node in graph.nodes
        if not graph.boundary(node) and any(t.dtype in FLOATS for t in node.runtime_tensors)
    ]
    return {
        "size": parsed.size,
        "subgraphs": len(parsed.tensors),
        "ops": [
            {
                "index": op.index,
                "subgraph": op.subgraph,
                "name": op.name,
                "version": op.version,
                "fused_activation": op.fused_activation,
            }
            for op in parsed.operators
        ],
        "op_versions": parsed.op_versions,
        "inputs": [spec(t) for t in parsed.input_tensors],
        "outputs": [spec(t) for t in parsed.output_tensors],
        "precision": _precision(graph),
        "fully_integer": not float_ops and bool(graph.nodes),
        "float_ops": float_ops,
        "dynamic_tensors": [t.name for graph_ in parsed.tensors for t in graph_ if t.dynamic],
        "runtime_sized": [
            f"#{node.op.index} {reason}"
            for node in graph.nodes
            if (reason := runtime_sized(node, graph))
        ],
        "custom_ops": sorted({op.name for op in parsed.operators if op.custom}),
        "flex_ops": sorted({op.name for op in parsed.operators if op.flex}),
    }


def precision(parsed: TFLiteFile) -> str:
    """A file's precision: int16x8 or int8 activations, else float16 / dynamic (int8 weights)
    / float32."""
    return _precision(Graph(parsed))


def _precision(graph: Graph) -> str:
    """What the activations are: int16x8, int8, else float16 / dynamic (int8 weights) / float32."""
    inner = [node for node in graph.nodes if not graph.boundary(node)]
    runtime = {t.dtype for node in inner for t in node.runtime_tensors}
    constants = {t.dtype for node in inner for t in node.const_inputs}
    if "int16" in runtime:
        return "int16x8"
    if runtime & INT8:
        return "int8"
    if "float16" in constants:
        return "float16"
    if constants & INT8:
        return "dynamic"
    return "float32"


def _measure_xnnpack(data: bytes) -> bool | None:
    """``CompiledModel.is_fully_accelerated()`` on the CPU accelerator; None if it cannot load."""
    try:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator

        compiled = CompiledModel.from_buffer(data, hardware_accel=HardwareAccelerator.CPU)
        return bool(compiled.is_fully_accelerated())
    except Exception:  # a file LiteRT cannot compile (e.g. Flex ops): report, do not crash
        return None


def _target(name: str, graph: Graph, facts: dict[str, Any], measured: bool | None) -> TargetReport:
    rule = RULE_FUNCTIONS[name]
    reasons: dict[int, str] = {}
    boundary: set[int] = set()
    for node in graph.nodes:
        if graph.boundary(node):
            boundary.add(node.op.index)
        reason = rule(node, graph)
        if reason:
            reasons[node.op.index] = reason
    notes: list[str] = []
    blocked = None
    if name in STATIC_ONLY and facts["runtime_sized"]:
        blocked = "dynamic-sized tensors (" + facts["runtime_sized"][0] + ")"
    elif name in COMPILED and facts["dynamic_tensors"]:
        blocked = "shapes are not static (shape signature has -1)"
    elif facts["dynamic_tensors"]:
        notes.append(
            "shape signature has -1: the delegate is built for the shape at AllocateTensors; "
            "a resize re-applies it"
        )
    if blocked:
        for node in graph.nodes:
            reasons.setdefault(node.op.index, "whole graph refused")
        delegated_ops: set[int] = set()
        partitions = 0
    elif name == "edgetpu":
        delegated_ops, partitions = _edgetpu_segment(graph, reasons, boundary)
    else:
        delegated_ops, partitions = _delegated(name, graph, reasons, notes)
    fallback = [
        Fallback(
            node.op.index,
            node.name,
            node.op.version,
            reasons.get(node.op.index, "supported, but outside the delegated partitions"),
            boundary=node.op.index in boundary and not blocked,
        )
        for node in graph.nodes
        if node.op.index not in delegated_ops
    ]
    # The float-I/O conversions a target cannot run stay on the CPU without splitting the graph.
    supported = not blocked and all(f.boundary for f in fallback)
    if name == "xnnpack":
        notes.append("fallback list: static op-level view (types and op names only)")
        if measured is None:
            notes.append("CompiledModel not measured (no bytes, or LiteRT could not load it)")
        else:
            notes.append(f"CompiledModel.is_fully_accelerated() = {measured}")
            if measured != supported:
                notes.append("the static view disagrees; the measurement decides")
            supported = measured
    notes += _target_notes(name, facts)
    return TargetReport(
        target=name,
        title=TITLES[name],
        rules=RULES[name],
        supported=supported,
        delegated=len(delegated_ops),
        total=len(graph.nodes),
        partitions=partitions,
        fallback=fallback,
        notes=notes,
        blocked=blocked,
        measured=measured,
    )


def _delegated(
    name: str, graph: Graph, reasons: dict[int, str], notes: list[str]
) -> tuple[set[int], int]:
    """Ops the delegate takes and its partition count, after its partition limits."""
    all_ops = {node.op.index for node in graph.nodes}
    supported = all_ops - set(reasons)
    fp16 = set()
    if name in {"gpu", "nnapi"}:  # the delegates built on FP16GraphPartitionHelper
        fp16 = {node.op.index for node in graph.nodes if graph.fp16_weights(node)}
    if fp16 and supported == all_ops:
        return supported, 1  # FP16GraphPartitionHelper: full delegation takes the DEQUANTIZEs too
    for index in fp16 & supported:
        reasons[index] = "float16-weights DEQUANTIZE stays on the CPU when the graph is split"
    supported -= fp16
    subsets = [members for kind, members in partition(graph, supported) if kind]
    limit, least = MAX_PARTITIONS[name], MIN_PARTITION_NODES.get(name, 1)
    kept = sorted(subsets, key=len, reverse=True)
    kept = [m for m in kept if len(m) >= least][: limit if limit is not None else len(kept)]
    if len(kept) < len(subsets):
        notes.append(
            f"{len(subsets)} partitions form; the delegate keeps "
            f"{'the largest ' + str(limit) if limit else 'those'}"
            + (f" of {least}+ ops" if least > 1 else "")
        )
        for members in subsets:
            if members not in kept:
                for index in members:
                    reasons[index] = "supported, but its partition is not among those delegated"
    return {i for members in kept for i in members}, len(subsets)


def _edgetpu_segment(
    graph: Graph, reasons: dict[int, str], boundary: set[int]
) -> tuple[set[int], int]:
    """The Edge TPU compiler maps one segment: everything up to the first unmapped op."""
    mapped: set[int] = set()
    cut = None
    for node in graph.nodes:
        index = node.op.index
        if index in boundary:
            continue
        if cut is None and index in reasons:
            cut = node
        if cut is None:
            mapped.add(index)
        elif index not in reasons:
            reasons[index] = f"after #{cut.op.index} {cut.name}: the compiler maps one segment"
    return mapped, 1 if mapped else 0


def _target_notes(name: str, facts: dict[str, Any]) -> list[str]:
    notes = {
        "gpu": ["defaults: quantized models allowed, 1 delegated partition"],
        "nnapi": [
            "NNAPI feature level 30 (Android 11), up to 3 partitions; NnApiDelegate is "
            "deprecated (Android 15 migration guide)"
        ],
        "hexagon": ["up to 4 partitions of 2+ ops; needs the Hexagon NN libraries on the device"],
        "qnn": ["op-level check only; HTP limits on shapes and types are not modelled"],
        "edgetpu": ["needs edgetpu_compiler; 8-bit ops only"],
    }.get(name, [])
    if name == "gpu" and facts["precision"] == "float16":
        notes = [*notes, "float16 weights: constant DEQUANTIZE ops are folded into the delegate"]
    return notes


# === Files and models ===


def load_source(source: str, *, mode: str = "float32") -> tuple[Path | bytes, str]:
    """What :func:`check` reads for a CLI argument, and its label: a .tflite path as is, or
    registered model ``source`` converted in ``mode`` (bytes)."""
    path = Path(source)
    if path.exists() or path.suffix == ".tflite":
        return path, str(path)
    from convert.tflite import to_tflite

    return to_tflite(source, mode=mode), f"{source} ({mode})"
