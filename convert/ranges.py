"""Narrowing an int8 file's hidden activation ranges where that brings its output closer.

The converter gives every int8 activation the full range its calibration samples reached
(min to max), so one rare large value sets the step of all the others. Narrowing a tensor's
range (a smaller scale, the same zero point) clips those few values and rounds the rest
finer; the trade is chosen per tensor on the file's own output: for each hidden tensor in
turn, the scale factor from :data:`FACTORS` that brings the int8 output closest to the Keras
model's (mean squared error over the calibration samples) is kept. Clipping ranges to what
minimises error rather than to the observed extremes is the ACIQ / percentile-calibration
idea (Banner et al. 2019; Wu et al. 2020, "Integer quantization for deep learning
inference"); here the error that decides is the model's output, not the tensor's own.

Only a tensor whose every op keeps working on a new scale is changed: written by an op whose
int8 output scale is free (its requantization multiplier is derived from the tensors' scales
when the interpreter prepares it) and read only by ops that take any input scale. A reader
with an int32 bias keeps the bias's real values: the bias is stored at scale input x weight
scale, so its integers are divided by the factor and its scales multiplied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from convert import flatbuffer
from convert.parity import Runner
from zoo.registry import ModelInfo, TensorSpec

FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)  # scale factors tried per tensor
_FREE_OUTPUT = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "PRELU")
# ops whose every input and output hold one quantization (the converter ties them)
_SCALE_LINKS = ("CONCATENATION", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE")
# op name -> (index of the activation input, index of the int32 bias or None)
_FREE_INPUT = {
    "CONV_2D": (0, 2),
    "DEPTHWISE_CONV_2D": (0, 2),
    "FULLY_CONNECTED": (0, 2),
    "TRANSPOSE_CONV": (2, 3),
    "PRELU": (0, None),
}


@dataclass(frozen=True)
class Narrowing:
    """One tensor's range narrowed: its name and the factor its scale was multiplied by."""

    tensor: str
    factor: float


def tunable_tensors(model) -> list[int]:
    """Indices of the int8 tensors of subgraph 0 whose scale can change (module docstring),
    in the order the graph computes them."""
    schema = flatbuffer._schema()
    graph = model.subgraphs[0]

    readers: dict[int, list] = {}
    for op in graph.operators:
        for position, index in enumerate(op.inputs):
            readers.setdefault(index, []).append((op, position))
    boundary = set(graph.inputs) | set(graph.outputs)
    tunable = []
    for op in graph.operators:
        if flatbuffer.op_name(model, op) not in _FREE_OUTPUT:
            continue
        index = op.outputs[0]
        tensor = graph.tensors[index]
        quant = tensor.quantization
        if index in boundary or tensor.type != schema.TensorType.INT8 or quant is None:
            continue
        if quant.scale is None or len(quant.scale) != 1 or index not in readers:
            continue
        if all(
            _FREE_INPUT.get(flatbuffer.op_name(model, reader), (None,))[0] == position
            for reader, position in readers[index]
        ):
            tunable.append(index)
    return tunable


def scale_tensor(model, index: int, factor: float) -> None:
    """Multiply tensor ``index``'s scale by ``factor`` (subgraph 0, in place), re-storing the
    biases of the ops that read it so that their real values stay."""
    schema = flatbuffer._schema()
    graph = model.subgraphs[0]
    quant = graph.tensors[index].quantization
    quant.scale = [float(np.float32(quant.scale[0] * factor))]
    shared = _buffer_users(graph)
    for op in graph.operators:
        if index not in op.inputs:
            continue
        bias_at = _FREE_INPUT.get(flatbuffer.op_name(model, op), (None, None))[1]
        if bias_at is None or bias_at >= len(op.inputs) or op.inputs[bias_at] < 0:
            continue
        bias = graph.tensors[op.inputs[bias_at]]
        buffer = model.buffers[bias.buffer]
        values = np.frombuffer(bytes(buffer.data), dtype=np.int32)
        rescaled = np.clip(np.round(values / factor), -(2**31), 2**31 - 1).astype(np.int32)
        if shared[bias.buffer] > 1:  # give this op a buffer of its own
            buffer = schema.BufferT()
            model.buffers.append(buffer)
            bias.buffer = len(model.buffers) - 1
        buffer.data = np.frombuffer(rescaled.tobytes(), dtype=np.uint8)
        weights = graph.tensors[op.inputs[1]].quantization.scale
        bias.quantization.scale = [
            float(np.float32(quant.scale[0]) * np.float32(w)) for w in weights
        ]


def pin_input_levels(model, position: int, spec: TensorSpec) -> bool:
    """Store graph input ``position`` (subgraph 0, int8) on the levels ``spec.levels``
    names: scale ``(high - low) / (levels - 1)`` over ``spec.value_range``, so an 8-bit
    image's values are held exactly. Returns whether it did; ``model`` is edited in place.

    Calibration gives the input the scale of the range its samples reached, a little short
    of the image's: FSRCNN x2's Y input spans [0, 0.93], so its steps are 0.93/255 and every
    8-bit value is rounded again to a level between two of them (Set5 with 8-bit low
    resolution: int8 cost 0.100 dB calibrated, 0.050 on the image's levels). Tensors a
    CONCATENATION, SPACE_TO_DEPTH or DEPTH_TO_SPACE ties to the input (the converter gives
    them its scale) move with it;
    readers keep their biases' real values (:func:`scale_tensor`). Only where the range
    starts at 0 (zero point -128), the calibrated scale is within 0.8-1.05x the levels' (a
    wider range is not clipped by more than 5%), every tied tensor has the input's
    quantization, and each is written and read only by ops that take a new scale.
    """
    schema = flatbuffer._schema()
    graph = model.subgraphs[0]
    low, high = spec.value_range
    if not spec.levels or low != 0.0 or position >= len(graph.inputs):
        return False
    start = graph.tensors[graph.inputs[position]]
    quant = start.quantization
    if start.type != schema.TensorType.INT8 or quant is None or quant.scale is None:
        return False
    if len(quant.scale) != 1 or int(quant.zeroPoint[0]) != -128:
        return False
    scale = float(quant.scale[0])
    step = (high - low) / (spec.levels - 1)
    if not 0.8 * step <= scale <= 1.05 * step:
        return False
    links = [op for op in graph.operators if flatbuffer.op_name(model, op) in _SCALE_LINKS]
    tied, pending = set(), [graph.inputs[position]]
    while pending:
        index = pending.pop()
        if index in tied:
            continue
        tied.add(index)
        for op in links:
            if index in op.inputs or index in op.outputs:
                pending.extend([*op.inputs, *op.outputs])
    for index in tied:
        other = graph.tensors[index].quantization
        if other is None or other.scale is None or len(other.scale) != 1:
            return False
        if float(other.scale[0]) != scale or int(other.zeroPoint[0]) != -128:
            return False
    for op in graph.operators:
        name = flatbuffer.op_name(model, op)
        if name in _SCALE_LINKS:
            continue
        if any(index in tied for index in op.outputs) and name not in _FREE_OUTPUT:
            return False
        reads = [at for at, index in enumerate(op.inputs) if index in tied]
        if reads and reads != [_FREE_INPUT.get(name, (None,))[0]]:
            return False
    for index in tied:
        scale_tensor(model, index, step / scale)
    return True


def _buffer_users(graph) -> dict[int, int]:
    counts: dict[int, int] = {}
    for tensor in graph.tensors:
        counts[tensor.buffer] = counts.get(tensor.buffer, 0) + 1
    return counts


def narrow_ranges(
    data: bytes,
    error: Callable[[bytes], float],
    factors: Sequence[float] = FACTORS,
) -> tuple[bytes, list[Narrowing]]:
    """The file with each tunable tensor's scale narrowed by the factor that minimises
    ``error(file)`` (tensors in graph order, each given the others' factors chosen so far),
    and the narrowings kept (factor < 1)."""
    tree = flatbuffer.unpack(data)
    best_error = error(data)
    kept: list[Narrowing] = []
    for index in tunable_tensors(tree):
        choice = 1.0
        for factor in factors:
            if factor == 1.0:
                continue
            trial = flatbuffer.unpack(data)
            scale_tensor(trial, index, factor)
            candidate = flatbuffer.pack(trial, len(data))
            value = error(candidate)
            if value < best_error:
                best_error, choice, best = value, factor, candidate
        if choice != 1.0:
            data = best
            name = tree.subgraphs[0].tensors[index].name
            kept.append(Narrowing(flatbuffer._text(name), choice))
    return data, kept


RANGE_SAMPLES = 16  # calibration samples the range search measures the output on


def output_error(model, info: ModelInfo, calibration) -> Callable[[bytes], float]:
    """A file's mean squared output error against ``model`` on (up to
    :data:`RANGE_SAMPLES`) calibration samples."""
    samples = calibration[:RANGE_SAMPLES]
    references = [np.asarray(model(sample, training=False)) for sample in samples]
    names = [spec.name for spec in info.inputs]

    def error(data: bytes) -> float:
        runner = Runner(data, names, threads=1)
        return float(
            np.mean(
                [np.mean((runner(s) - r) ** 2) for s, r in zip(samples, references, strict=True)]
            )
        )

    return error
