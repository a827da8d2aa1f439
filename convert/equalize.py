"""Cross-layer equalization: rescale channels between convolutions so int8 loses less.

Nagel, van Baalen, Blankevoort, Welling 2019, "Data-Free Quantization Through Weight
Equalization and Bias Correction" (ICCV; arXiv:1906.04721), section 4.1.

Full-integer int8 gives every activation tensor one scale (per tensor) and every weight
output channel its own (per channel). When the channels of an activation have very
different ranges, the small ones are left with few levels; when one input channel of the
next layer's weights is much larger than the others, the other inputs of each output
channel get few levels. A positively homogeneous activation, ``f(s * x) = s * f(x)`` for
``s > 0`` per channel (ReLU, LeakyReLU, PReLU whatever its alpha shape), lets one move
range between the two layers without changing what the network computes:

    producer (Conv2D / Conv2DTranspose / DepthwiseConv2D), output channel c scaled by s_c
      -> the activations (each ``f(s_c x) = s_c f(x)``, alpha unchanged)
      -> consumer (Conv2D / Conv2DTranspose / DepthwiseConv2D), input channel c / s_c

The pairs are found in the Keras functional graph: a producer whose output goes only
through such activations (``ReLU`` without ``max_value`` or ``threshold``, ``LeakyReLU``,
``PReLU``, ``Activation("relu" | "leaky_relu" | "linear")``, ``Dropout``, ``Identity``) into
exactly one consumer convolution, with no branch, no model output and no shared layer on the way.
Anything else is left as it is: a BatchNormalization, ReLU6 or tanh / sigmoid in between,
an Add or Concatenate, a branch (U-Net skips), Dense layers, grouped consumers.

Per pair and channel c, ``s_c = sqrt(r2_c / r1_c)`` (the paper's choice, which meets the
two ranges at ``sqrt(r1_c r2_c)``), normalised so the largest ``s_c`` is 1:

- ``r1_c``: the range of channel c where int8 will quantize it. With ``samples``, the
  largest ``|value|`` on them of the producer's output (unless a plain ReLU follows, which
  the converter fuses into the convolution) and of every activation's output: one pass
  through a Keras sub-model, then updated exactly (``r1_c * s_c``) as scales are applied.
  Without samples, the paper's data-free range: the largest ``|weight|`` of the producer's
  output channel c.
- ``r2_c``: how much of the consumer's per-output-channel int8 range input channel c
  takes: ``max over output channels o of max|W[o, c]| / max|W[o, :]|`` (per-channel weight
  quantization; for one output channel, as FSRCNN's last transposed convolution, that is
  the per-tensor ratio).

``passes`` repeats the sweep over every pair (the ranges move after each step; three
passes are close to the fixed point). Shapes (Keras, channels last): Conv2D kernels are
(kh, kw, in / groups, out), Conv2DTranspose (kh, kw, out, in), DepthwiseConv2D
(kh, kw, in, multiplier) with output channel ``i * multiplier + m``; biases (out,).

Measured (fsrcnn_x3, default weights, int8 calibrated on 32 samples, Set5 Y-PSNR with
``zoo eval``'s protocol, one file per image size): float 32.40 dB; int8 31.28 dB; equalized
with those samples 31.81 dB (``convert_model(..., equalize=True)``, which equalizes on the
samples mirrored to each image's size) or 31.90 dB (equalized once on the 128 x 128 export
size samples; 31.82 dB with one pass); data-free 31.68 dB. dae_digits and deblur lose
< 0.02 dB in int8 with or without it; espcn_x3 (tanh) has no pair.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import ZooError

if TYPE_CHECKING:
    import keras

PAPER = (
    "Nagel, van Baalen, Blankevoort, Welling 2019, Data-Free Quantization Through Weight "
    "Equalization and Bias Correction (ICCV, arXiv:1906.04721)"
)
BATCH = 8  # samples per sub-model call when measuring activation ranges
MIN_SCALE = 1e-4  # no channel is scaled down further (keeps the consumer's weights finite)
TARGETS = ("both", "activations")
MAX_GAIN = 4.0  # target="activations": no channel's range is scaled up further
_TINY = 1e-12


@dataclass(frozen=True)
class Pair:
    """One equalizable chain, by layer name: producer -> activations -> consumer."""

    producer: str
    activations: tuple[str, ...]
    consumer: str

    def __str__(self) -> str:
        return " -> ".join((self.producer, *self.activations, self.consumer))


# === Finding the pairs ===


def find_pairs(model: keras.Model) -> list[Pair]:
    """The equalizable chains of a functional (or Sequential) Keras model, in graph order."""
    nodes = _nodes(model)
    consumers: dict[int, list] = defaultdict(list)
    for node in nodes:
        for tensor in node.input_tensors:
            consumers[id(tensor)].append(node)
    outputs = {id(t) for t in model.outputs}
    pairs = []
    for node in nodes:
        producer = node.operation
        if not _conv_kind(producer) or not _single_use(producer, node):
            continue
        if not _homogeneous_function(getattr(producer, "activation", None)):
            continue
        tensor, activations = node.outputs[0], []
        while id(tensor) not in outputs and len(consumers[id(tensor)]) == 1:
            (next_node,) = consumers[id(tensor)]
            layer = next_node.operation
            if len(next_node.input_tensors) != 1 or not _single_use(layer, next_node):
                break
            if _homogeneous_layer(layer):
                activations.append(layer)
                tensor = next_node.outputs[0]
                continue
            if _conv_kind(layer) and _consumes_all_channels(layer):
                pairs.append(Pair(producer.name, tuple(a.name for a in activations), layer.name))
            break
    return pairs


def _nodes(model) -> list:
    graph = getattr(model, "_functional", None) or model  # Sequential keeps a functional
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth is None:
        raise ZooError(f"{model.name}: equalization needs a functional or Sequential model")
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


def _conv_kind(layer) -> str | None:
    """The kind ("conv", "transpose", "depthwise") of a 2-D convolution equalization edits."""
    import keras

    if getattr(layer, "data_format", None) != "channels_last":
        return None
    if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
        return None
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return "transpose"
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
        layer, keras.layers.SeparableConv2D
    ):
        return "conv"
    return None


def _consumes_all_channels(layer) -> bool:
    """A consumer whose every output channel may read every input channel's weights."""
    return getattr(layer, "groups", 1) == 1


def _single_use(layer, node) -> bool:
    """The layer is called once (a shared layer's weights serve other inputs too)."""
    return len(getattr(layer, "_inbound_nodes", [])) == 1 and layer._inbound_nodes[0] is node


def _homogeneous_function(function) -> bool:
    import keras

    homogeneous = (keras.activations.relu, keras.activations.leaky_relu, keras.activations.linear)
    return function is None or any(function is f for f in homogeneous)


def _homogeneous_layer(layer) -> bool:
    """f(s * x) = s * f(x) for every s > 0 per channel (elementwise, so per-channel too)."""
    import keras

    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is None and float(layer.threshold) == 0.0
    if isinstance(layer, keras.layers.PReLU | keras.layers.LeakyReLU):
        return True
    if isinstance(layer, keras.layers.Activation):
        return _homogeneous_function(layer.activation)
    passes = keras.layers.Dropout | keras.layers.SpatialDropout2D | keras.layers.Identity
    return isinstance(layer, passes)


def _fused_relu(layer) -> bool:
    """A plain ReLU, which the converter fuses into the convolution before it."""
    import keras

    if isinstance(layer, keras.layers.ReLU):
        return float(layer.negative_slope) == 0.0 and _homogeneous_layer(layer)
    if isinstance(layer, keras.layers.Activation):
        return layer.activation is keras.activations.relu
    return False


# === Equalizing ===


def equalize(
    model: keras.Model,
    samples: Sequence[Sequence[np.ndarray]] | None = None,
    *,
    passes: int = 3,
    target: str = "both",
) -> keras.Model:
    """An equalized copy of ``model``: same architecture, name and outputs (to float32
    rounding); ``model`` itself is untouched.

    ``samples``: model inputs, each a list with one (1, ...) or (N, ...) float32 array per
    model input (as :func:`convert.representative.representative_inputs` gives); they set
    the activation ranges. Without them the ranges come from the weights (data-free).

    ``target="both"`` is the paper's balance of activation and weight ranges.
    ``"activations"`` (samples needed, one pass) lifts every channel toward the largest
    channel's range, by at most ``MAX_GAIN``, and leaves the consumer's weights to absorb
    it: for files whose weights :mod:`convert.rounding` rounds (GPTQ makes the consumer's
    smaller weights cost little), so a consumer that a BatchNormalization reads (the
    converter folds it into the kernel, which keeps nearest rounding) is left out.
    Measured with GPTQ on Set5 (int8 cost): fsrcnn_x2 0.54 dB -> 0.31 (``"both"``: 0.34),
    fsrcnn_x3 0.13 -> 0.09, fsrcnn_s_x2 0.49 -> 0.25.
    """
    import keras

    if passes < 1:
        raise ZooError("equalization needs at least one pass")
    if target not in TARGETS:
        raise ZooError(f"unknown equalization target {target!r}; expected one of {TARGETS}")
    if target == "activations" and samples is None:
        raise ZooError("equalizing activations needs samples of the model's inputs")
    if target == "activations":
        pairs = balanceable_pairs(model)
        passes = 1  # the scales depend on the activation ranges only
    else:
        pairs = find_pairs(model)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if not pairs:
        return copy
    ranges = activation_ranges(copy, pairs, samples) if samples is not None else None
    for _ in range(passes):
        for pair in pairs:
            producer, consumer = copy.get_layer(pair.producer), copy.get_layer(pair.consumer)
            r1 = ranges[pair] if ranges is not None else _output_weight_range(producer)
            if target == "activations":
                scale = _activation_scales(r1)
            else:
                scale = _scales(r1, _input_weight_range(consumer))
            scale_outputs(producer, scale)
            _scale_inputs(consumer, 1.0 / scale)
            if ranges is not None:
                ranges[pair] = r1 * scale  # exact: every activation is homogeneous
    return copy


def _scales(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """sqrt(r2 / r1), largest 1; a dead channel (r1 = 0) keeps 1, an unread one (r2 = 0)
    takes the smallest scale."""
    scale = np.ones_like(r1)
    live = (r1 > _TINY) & (r2 > _TINY)
    if not live.any():
        return scale
    scale[live] = np.sqrt(r2[live] / r1[live])
    scale /= scale[live].max()
    scale[(r1 > _TINY) & (r2 <= _TINY)] = scale[live].min()
    scale[r1 <= _TINY] = 1.0
    return np.clip(scale, MIN_SCALE, 1.0)


def _activation_scales(r1: np.ndarray) -> np.ndarray:
    """Per channel, largest range / its range, capped at ``MAX_GAIN``; a dead channel keeps 1."""
    scale = np.ones_like(r1)
    live = r1 > _TINY
    scale[live] = np.minimum(r1.max() / r1[live], MAX_GAIN)
    return scale


def balanceable_pairs(model: keras.Model) -> list[Pair]:
    """The pairs ``target="activations"`` balances: those whose consumer no
    BatchNormalization reads."""
    import keras

    from convert.lowering import layer_readers  # Keras, loaded with the model

    readers = layer_readers(model)

    def read_by_norm(name: str) -> bool:
        found = readers.get(id(model.get_layer(name)), [])
        return any(isinstance(reader, keras.layers.BatchNormalization) for reader in found)

    return [pair for pair in find_pairs(model) if not read_by_norm(pair.consumer)]


def activation_ranges(model, pairs: list[Pair], samples) -> dict[Pair, np.ndarray]:
    """Per pair, max |value| per channel over the samples of every tensor int8 quantizes
    between producer and consumer."""
    import keras

    tensors, owners = [], []
    for pair in pairs:
        chain = [pair.producer, *pair.activations]
        if pair.activations and _fused_relu(model.get_layer(pair.activations[0])):
            chain = chain[1:]
        for name in chain:
            tensors.append(model.get_layer(name).output)
            owners.append(pair)
    probe = keras.Model(model.inputs, tensors)
    maxima = [None] * len(tensors)
    for batch in _batches(samples, len(model.inputs)):
        values = probe(batch, training=False)
        values = values if isinstance(values, list | tuple) else [values]
        for i, value in enumerate(values):
            value = np.abs(keras.ops.convert_to_numpy(value)).astype(np.float64)
            found = value.reshape(-1, value.shape[-1]).max(axis=0)
            maxima[i] = found if maxima[i] is None else np.maximum(maxima[i], found)
    if maxima[0] is None:
        raise ZooError("equalization samples are empty")
    ranges: dict[Pair, np.ndarray] = {}
    for pair, found in zip(owners, maxima, strict=True):
        ranges[pair] = found if pair not in ranges else np.maximum(ranges[pair], found)
    return ranges


def _batches(samples, inputs: int):
    """Consecutive samples of the same shapes concatenated, at most ``BATCH`` examples."""
    group: list[list[np.ndarray]] = []
    for sample in samples:
        sample = [np.asarray(a, np.float32) for a in sample]
        if len(sample) != inputs:
            raise ZooError(f"each equalization sample needs {inputs} arrays, got {len(sample)}")
        if group and (
            len(group) >= BATCH or [a.shape[1:] for a in sample] != [a.shape[1:] for a in group[0]]
        ):
            yield [np.concatenate(parts) for parts in zip(*group, strict=True)]
            group = []
        group.append(sample)
    if group:
        yield [np.concatenate(parts) for parts in zip(*group, strict=True)]


# === Kernel layouts ===


def _io_matrix(layer) -> np.ndarray:
    """max |kernel| over the spatial taps as (in, out) for a consumer."""
    kernel = np.abs(np.asarray(layer.kernel, np.float64)).max(axis=(0, 1))
    kind = _conv_kind(layer)
    if kind == "transpose":  # (out, in)
        return kernel.T
    if kind == "depthwise":  # (in, multiplier): each output channel reads one input
        return kernel
    return kernel  # conv: (in, out)


def _input_weight_range(layer) -> np.ndarray:
    """r2: per input channel, the largest share of an output channel's weight range."""
    matrix = _io_matrix(layer)
    if _conv_kind(layer) == "depthwise":
        return (matrix > _TINY).any(axis=1).astype(np.float64)
    peak = matrix.max(axis=0, keepdims=True)
    relative = np.divide(matrix, peak, out=np.zeros_like(matrix), where=peak > _TINY)
    return relative.max(axis=1)


def _output_weight_range(layer) -> np.ndarray:
    """Data-free r1: max |weight| of each output channel."""
    kernel = np.abs(np.asarray(layer.kernel, np.float64))
    kind = _conv_kind(layer)
    if kind == "transpose":
        return kernel.max(axis=(0, 1, 3))
    if kind == "depthwise":
        return kernel.max(axis=(0, 1)).reshape(-1)
    return kernel.max(axis=(0, 1, 2))


def scale_outputs(layer, scale: np.ndarray) -> None:
    """Multiply output channel c of the kernel and bias by ``scale[c]``."""
    kernel = np.asarray(layer.kernel, np.float64)
    kind = _conv_kind(layer)
    if kind == "transpose":
        kernel = kernel * scale[:, None]
    elif kind == "depthwise":
        kernel = kernel * scale.reshape(kernel.shape[2:])
    else:
        kernel = kernel * scale
    layer.kernel.assign(kernel.astype(np.float32))
    if layer.bias is not None:
        layer.bias.assign((np.asarray(layer.bias, np.float64) * scale).astype(np.float32))


def _scale_inputs(layer, scale: np.ndarray) -> None:
    """Multiply input channel c of the kernel by ``scale[c]``."""
    kernel = np.asarray(layer.kernel, np.float64)
    # Conv2DTranspose: input channels last; Conv2D (groups 1) and DepthwiseConv2D: axis 2.
    axis_scale = scale if _conv_kind(layer) == "transpose" else scale[:, None]
    layer.kernel.assign((kernel * axis_scale).astype(np.float32))
