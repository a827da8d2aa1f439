"""A skip added to a transposed convolution's output, merged into that convolution.

Residual super-resolution (``fsrcnn(residual=True)``) adds a fixed bilinear upsampling of
the input to the learned transposed convolution's output:

    y = T_a(features) + T_b(x)        (the same stride, "same" padding)

Both terms are linear in their inputs, so one transposed convolution over the channels of
both, concatenated, computes ``y``: its kernel holds T_a's taps for the feature channels and
T_b's, placed at the larger kernel's alignment, for x's. In float nothing changes. In an
int8 file each branch of the sum was rounded to an int8 scale of its own before the ADD;
merged, the skip's values (quarter and sixteenth steps of a pixel for bilinear x2) stay
exact in the convolution's int32 accumulator and the sum is rounded once, as the output.

A concatenation's int8 inputs share one scale, so the features are first rescaled to x's
range through the positively homogeneous activation between their producing convolution and
T_a (the producer's outputs times ``c``, T_a's taps over ``c``, as
:mod:`convert.equalize` moves range between layers): the features keep their resolution
relative to their range, and x its own. A sum whose branches have no such producer is left
as it is.

Int8 weights have one scale per output channel, set by its largest tap. Bilinear x2's taps
reach 0.5625 where fsrcnn_x2's detail taps stay under 0.28, so the merged kernel would give
the detail half the levels it had. x therefore joins the concatenation ``n`` times, each copy
with 1/n of its taps, ``n`` the ratio of the largest skip tap to the largest detail tap
rounded up (3 for fsrcnn_x2): the detail keeps its levels, and GPTQ (:mod:`convert.rounding`),
rounding the copies one after the other, lets each absorb the rounding error of the one
before, so x's taps end up finer too. Each copy adds input channels to the convolution the
device runs, so x joins at most ``MAX_COPIES`` times; beyond that, the detail gets fewer
levels instead (only weights far from any trained model's, such as an untrained one's, ask
for more).

Measured (``benchmarks/int8_rounding.py``, Set5, GPTQ): fsrcnn_x2's int8 cost falls from
0.142 to 0.111 dB, fsrcnn_s_x2's from 0.163 to 0.127.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from convert.equalize import Pair, activation_ranges, find_pairs, scale_outputs
from convert.lowering import axis_plan, copy_weights, layer_readers

MAX_COPIES = 4  # of the skip's input in the merged convolution (each one adds its channels)


@dataclass(frozen=True)
class Merge:
    """One sum to merge: ``scaled`` (T_a, whose input is rescaled by ``factor`` at
    ``producer``) and ``other`` (T_b, whose input joins ``copies`` times), read only by the
    Add ``add``."""

    add: str
    scaled: str
    other: str
    producer: str
    factor: float
    copies: int = 1


def merge_sums(
    model: keras.Model, samples: Sequence[Sequence[np.ndarray]]
) -> tuple[keras.Model, int]:
    """A copy of ``model`` with every mergeable sum of two transposed convolutions merged
    (module docstring), and how many; ``model`` itself when there is none.

    ``samples`` (lists of model inputs, as :func:`convert.representative.as_samples`
    gives) set the ranges the features are matched to.
    """
    found = _mergeable(model)
    if not found:
        return model, 0
    merges = [_with_factor(model, add, pair, other, samples) for add, pair, other in found]
    by_add = {merge.add: merge for merge in merges}
    branches = {name for merge in merges for name in (merge.scaled, merge.other)}
    merged_layers: dict[str, keras.layers.Layer] = {}

    def call(layer, *args, **kwargs):
        if layer.name in branches:  # the sum below reads the branch's input instead
            return args[0]
        merge = by_add.get(layer.name)
        if merge is None:
            return layer(*args, **kwargs)
        scaled, other = (model.get_layer(n) for n in (merge.scaled, merge.other))
        order = _inputs_order(model.get_layer(merge.add), scaled)
        first, second = (args[0][i] for i in order)
        joined = keras.layers.Concatenate(name=f"{merge.add}_inputs")(
            [first] + [second] * merge.copies
        )
        merged = keras.layers.Conv2DTranspose(
            scaled.filters,
            _host(scaled, other).kernel_size,
            strides=scaled.strides,
            padding="same",
            use_bias=scaled.use_bias or other.use_bias,
            name=f"{merge.add}_merged",
        )
        merged_layers[merge.add] = merged
        return merged(joined)

    def clone(layer):
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call)
    copy_weights(model, copy)
    for merge in merges:
        scale_outputs(
            copy.get_layer(merge.producer), np.full(_channels(model, merge), merge.factor)
        )
        merged_layers[merge.add].set_weights(_merged_weights(model, merge))
    return copy, len(merges)


def _mergeable(model: keras.Model) -> list[tuple[keras.layers.Layer, Pair, keras.layers.Layer]]:
    """(Add, the equalize pair whose consumer is T_a, T_b) for each sum the module merges."""
    readers = layer_readers(model)
    pairs = {pair.consumer: pair for pair in find_pairs(model)}
    found = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Add) or len(layer._inbound_nodes) != 1:
            continue
        parents = [parent.operation for parent in layer._inbound_nodes[0].parent_nodes]
        if len(parents) != 2 or not all(_plain_transpose(p, layer, readers) for p in parents):
            continue
        first, second = parents
        if not _compatible(first, second):
            continue
        for scaled, other in ((first, second), (second, first)):
            if scaled.name in pairs:
                found.append((layer, pairs[scaled.name], other))
                break
    return found


def _plain_transpose(layer, add, readers: dict[int, list]) -> bool:
    """A Conv2DTranspose called once, linear, "same", read by nothing but ``add``."""
    return (
        isinstance(layer, keras.layers.Conv2DTranspose)
        and len(layer._inbound_nodes) == 1
        and layer.activation is keras.activations.linear
        and layer.padding == "same"
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.data_format == "channels_last"
        and [id(r) for r in readers.get(id(layer), [])] == [id(add)]
    )


def _compatible(first, second) -> bool:
    """The same stride and filters, and the smaller kernel inside the larger one's taps."""
    if tuple(first.strides) != tuple(second.strides) or first.filters != second.filters:
        return False
    small, large = sorted((first, second), key=lambda t: t.kernel_size[0])
    return all(_placement(small, large, axis) is not None for axis in (0, 1))


def _placement(small, large, axis: int) -> int | None:
    """Where tap 0 of ``small`` sits in ``large``'s kernel along ``axis``, or None."""
    stride = large.strides[axis]
    big = axis_plan(large.kernel_size[axis], stride, "same")
    little = axis_plan(small.kernel_size[axis], stride, "same")
    shift = big.offset - little.offset
    fits = shift >= 0 and shift + small.kernel_size[axis] <= large.kernel_size[axis]
    return shift if fits else None


def _with_factor(model, add, pair, other, samples) -> Merge:
    """The Merge with ``c`` (T_b's input range over the features': one scale for both) and
    the copies of T_b's input."""
    features = float(np.max(activation_ranges(model, [pair], samples)[pair]))
    inputs = [id(t) for t in model.inputs]
    if id(other.input) in inputs:  # a model input: the samples themselves
        position = inputs.index(id(other.input))
        largest = max(float(np.max(np.abs(sample[position]))) for sample in samples)
    else:
        probe = keras.Model(model.inputs, other.input)
        largest = max(
            float(np.max(np.abs(keras.ops.convert_to_numpy(probe(list(s), training=False)))))
            for s in samples
        )
    factor = largest / features if features > 0 and largest > 0 else 1.0
    scaled = model.get_layer(pair.consumer)
    ratio = float(np.max(np.abs(other.kernel)) / (np.max(np.abs(scaled.kernel)) / factor))
    copies = min(max(1, int(np.ceil(ratio))), MAX_COPIES)
    return Merge(add.name, pair.consumer, other.name, pair.producer, factor, copies)


def _host(scaled, other):
    """The branch with the larger kernel, whose size and alignment the merged layer takes."""
    return max((scaled, other), key=lambda t: t.kernel_size[0])


def _inputs_order(add, scaled) -> list[int]:
    """Positions of the Add's inputs with T_a's first."""
    parents = [parent.operation for parent in add._inbound_nodes[0].parent_nodes]
    first = 0 if parents[0] is scaled else 1
    return [first, 1 - first]


def _channels(model, merge: Merge) -> int:
    return int(model.get_layer(merge.scaled).input.shape[-1])


def _merged_weights(model, merge: Merge) -> list[np.ndarray]:
    """Kernel (k, k, filters, in_a + in_b) and bias of the merged transposed convolution."""
    scaled, other = (model.get_layer(n) for n in (merge.scaled, merge.other))
    host = _host(scaled, other)
    size = host.kernel_size
    parts = []
    for layer, factor in ((scaled, merge.factor), *[(other, merge.copies)] * merge.copies):
        kernel = np.asarray(layer.kernel, np.float64) / factor
        placed = np.zeros((*size, *kernel.shape[2:]))
        rows, cols = (_placement(layer, host, axis) for axis in (0, 1))
        placed[rows : rows + kernel.shape[0], cols : cols + kernel.shape[1]] = kernel
        parts.append(placed)
    weights = [np.concatenate(parts, axis=-1).astype(np.float32)]
    if scaled.use_bias or other.use_bias:
        bias = sum(np.asarray(t.bias) for t in (scaled, other) if t.use_bias)
        weights.append(np.asarray(bias, np.float32))
    return weights
