"""The graph as the rules see it: :class:`Node`, :class:`Graph`, dynamic sizes, the op-name
sets and the helpers the delegate rules share."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from convert.flatbuffer import Operator, Tensor, TFLiteFile


def op_names(text: str) -> frozenset[str]:
    """Op names written as one space-separated string."""
    return frozenset(text.split())


FLOATS = frozenset({"float32", "float16", "float64"})
INT8 = frozenset({"int8", "uint8"})
ACTIVATIONS_RELU = frozenset({"NONE", "RELU", "RELU6", "RELU_N1_TO_1"})
UNARY = op_names(
    "ABS CEIL COS ELU EXP FLOOR GELU LOG LOGICAL_NOT LOGISTIC NEG ROUND RSQRT SIGN SIN SQRT "
    "SQUARE TANH"
)
BINARY = op_names(
    "ATAN2 DIV EQUAL FLOOR_DIV FLOOR_MOD GREATER GREATER_EQUAL LOGICAL_AND LOGICAL_OR LESS "
    "LESS_EQUAL MAXIMUM MINIMUM NOT_EQUAL POW SQUARED_DIFFERENCE SUB"
)
LOGICAL = op_names("EQUAL NOT_EQUAL GREATER GREATER_EQUAL LESS LESS_EQUAL LOGICAL_AND LOGICAL_OR")


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
        folding = op_names("STRIDED_SLICE CONCATENATION GATHER MUL RESHAPE TILE RANGE SUM")
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
        return node.name == "DEQUANTIZE" and dtype_of(first) == "float16" and first.constant


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


def dtype_of(tensor: Tensor | None) -> str:
    """A tensor's type; ``"none"`` for an omitted optional input."""
    return tensor.dtype if tensor is not None else "none"


def rank_over(node: Node, limit: int) -> bool:
    """Whether any input or output of the op has more than ``limit`` dimensions."""
    return any(len(t.shape) > limit for t in (*node.present_inputs, *node.outputs))


def custom_op_reason(node: Node, takes: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Why a delegate refuses custom op ``node`` (a Flex op, or one it has no kernel for);
    None when ``takes`` names it."""
    if node.op.flex:
        return "Flex (TensorFlow) op"
    return None if node.name in takes else f"custom op {node.name}"
