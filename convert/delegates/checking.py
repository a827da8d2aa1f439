"""The check: each target's rules over the graph, partitions, notes, and the file's facts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from convert import flatbuffer
from convert.delegates.edgetpu import edgetpu_rule
from convert.delegates.gpu import gpu_rule
from convert.delegates.graph import FLOATS, INT8, Graph, Node, runtime_sized
from convert.delegates.hexagon import hexagon_rule
from convert.delegates.nnapi import nnapi_rule
from convert.delegates.partitions import delegated_partitions, edgetpu_segment
from convert.delegates.qnn import qnn_rule
from convert.delegates.report import DelegateReport, Fallback, TargetReport
from convert.delegates.targets import COMPILED, RULES, STATIC_ONLY, TARGETS, TITLES
from convert.delegates.xnnpack import xnnpack_rule
from convert.flatbuffer import Tensor, TFLiteFile

RULE_FUNCTIONS: dict[str, Callable[[Node, Graph], str | None]] = {
    "gpu": gpu_rule,
    "xnnpack": xnnpack_rule,
    "nnapi": nnapi_rule,
    "hexagon": hexagon_rule,
    "qnn": qnn_rule,
    "edgetpu": edgetpu_rule,
}


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
        delegated_ops, partitions = edgetpu_segment(graph, reasons, boundary)
    else:
        delegated_ops, partitions = delegated_partitions(name, graph, reasons, notes)
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
