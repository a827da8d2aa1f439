"""Transposed convolution lowered to convolution + depth-to-space, exactly, for conversion.

A stride-``s`` transposed convolution is ``s**2`` stride-1 convolutions whose outputs
interleave (Shi et al. 2016, "Is the deconvolution layer the same as a convolutional
layer?"): output pixel ``o = q * s + r`` only ever sees kernel taps ``t = j * s + r'`` of one
phase. So one CONV_2D to ``s**2 * C`` channels followed by DEPTH_TO_SPACE computes the same
values. XNNPACK runs that form many times faster than TRANSPOSE_CONV (k9 s3 56->1 at 128x128:
82 ms against 1.7 ms, one thread), LiteRT's GPU accelerator computes it right where its
TRANSPOSE_CONV is wrong (k9 s3 "same" on 16x16), and in an int8 file the convolution's
per-channel scales become one scale per output phase and channel.

The Keras models keep ``Conv2DTranspose``: :func:`lower_transpose_convs` returns a copy for
the converter in which each one is a :class:`LoweredConv2DTranspose` (a BatchNormalization
that only reads it is folded in, as the converter would fold it into TRANSPOSE_CONV). The
copy shares every other layer, and its outputs equal the model's to float rounding.

Per spatial axis, with kernel ``k``, stride ``s`` and Keras' output length ``n_out``
(``n * s`` for "same", ``(n - 1) * s + max(k, s)`` for "valid"), full-output offset
``p`` (``max(k - s, 0) // 2`` for "same", 0 for "valid"):

    y[p + q * s + r] = sum_j x[q - j] * w[j * s + p + r]      for phases r in [0, s)

a stride-1 correlation over taps ``j`` in ``[j_lo, j_hi]``: the input is padded by
``j_hi`` before and ``ceil(n_out / s) - n + (-j_lo)`` after (a "same" convolution when that
split is TensorFlow's own, else an explicit PAD), and a crop keeps ``n_out`` of the
``ceil(n_out / s) * s`` interleaved outputs when they differ.

Where the phases' tap ranges differ (k4 s2 "same": phase 0 takes taps ``j`` in ``{0, 1}``,
phase 1 in ``{-1, 0}``, so the shared kernel is 3 wide where each phase needs 2), one
convolution computes zeros: 36 taps for 16 at k4 s2. ``per_phase`` then runs one
convolution per phase on its own window of the padded input and concatenates them before
DEPTH_TO_SPACE: the exact work, at the cost of a slice per phase and a concatenation (for
XNNPACK float files: dae_photos's float32 file takes 0.60 of its TRANSPOSE_CONV file's time
instead of 0.84, and is 38% smaller; an int8 file keeps the one convolution, since the
concatenation would requantize each phase to a common scale).

Nearest-neighbour upsampling (:class:`zoo.layers.NearestUpsampling2D`, and the two inside
:class:`zoo.layers.MaxUnpool2D`) takes the target's form too (:func:`with_nearest_op`):
CONCATENATION of ``s**2`` copies and DEPTH_TO_SPACE, which XNNPACK runs (it has no
RESIZE_NEAREST_NEIGHBOR: a file with one is not fully accelerated on the CPU), or, for the
Edge TPU (no DEPTH_TO_SPACE), RESIZE_NEAREST_NEIGHBOR; the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from zoo.arithmetic import transposed_output_size
from zoo.layers import MaxUnpool2D, NearestUpsampling2D, all_layers

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class AxisPlan:
    """How one spatial axis of a transposed convolution maps onto the lowered form."""

    kernel: int  # the transposed convolution's kernel size
    stride: int
    offset: int  # p: the first kept position of the full (uncropped) output
    tap_low: int  # j_lo
    tap_high: int  # j_hi

    @property
    def taps(self) -> int:
        """The lowered convolution's kernel size along this axis."""
        return self.tap_high - self.tap_low + 1

    def output_length(self, n: int, padding: str) -> int:
        return transposed_output_size(n, self.kernel, self.stride, padding)

    def pads(self, n: int, padding: str) -> tuple[int, int]:
        """Zeros before and after the input so that a "valid" convolution yields every row."""
        rows = math.ceil(self.output_length(n, padding) / self.stride)
        return self.tap_high, rows - n - self.tap_low

    def phase_span(self, phase: int) -> tuple[int, int] | None:
        """The rows ``[first, last]`` of the lowered kernel that output phase ``phase`` uses
        (None: no tap reaches it, as for a kernel smaller than the stride)."""
        taps = [
            j
            for j in range(self.tap_low, self.tap_high + 1)
            if 0 <= j * self.stride + self.offset + phase < self.kernel
        ]
        return (self.tap_high - max(taps), self.tap_high - min(taps)) if taps else None

    def phase_taps(self) -> int | None:
        """Kernel rows the phases use in all (``taps * stride`` when none is zero; None
        when a phase uses none)."""
        spans = [self.phase_span(r) for r in range(self.stride)]
        return None if None in spans else sum(last - first + 1 for first, last in spans)

    def same_split(self) -> bool:
        """Whether the pads are TensorFlow's own "same" split (no PAD op needed)."""
        before, after = self.tap_high, -self.tap_low
        return before == (self.taps - 1) // 2 and after == self.taps - 1 - before


def axis_plan(kernel: int, stride: int, padding: str) -> AxisPlan:
    """The lowering of one axis (``padding`` is "same" or "valid")."""
    offset = max(kernel - stride, 0) // 2 if padding == "same" else 0
    taps = [
        j
        for r in range(stride)
        for j in range(-kernel, kernel + 1)
        if 0 <= j * stride + offset + r < kernel
    ]
    return AxisPlan(kernel, stride, offset, min(taps), max(taps))


def lowered_kernel(kernel: np.ndarray, plans: tuple[AxisPlan, AxisPlan]) -> np.ndarray:
    """A Conv2DTranspose kernel (kh, kw, C_out, C_in) as the stride-1 convolution's kernel
    (Kh, Kw, C_in, s_h * s_w * C_out), output channels in DEPTH_TO_SPACE order
    ((r_h * s_w + r_w) * C_out + c)."""
    kh, kw, c_out, c_in = kernel.shape
    ph, pw = plans
    if ph.stride != pw.stride:
        raise ValueError("DEPTH_TO_SPACE needs the same stride on both axes")
    s = ph.stride
    out = np.zeros((ph.taps, pw.taps, c_in, s * s * c_out), kernel.dtype)
    for a in range(ph.taps):
        for rh in range(s):
            th = (ph.tap_high - a) * s + ph.offset + rh
            if not 0 <= th < kh:
                continue
            for b in range(pw.taps):
                for rw in range(s):
                    tw = (pw.tap_high - b) * s + pw.offset + rw
                    if 0 <= tw < kw:
                        phase = (rh * s + rw) * c_out
                        out[a, b, :, phase : phase + c_out] = kernel[th, tw].T
    return out


MAX_PHASES = 16


def phases_save_work(plans: tuple[AxisPlan, AxisPlan]) -> bool:
    """Whether one convolution per phase does less work than the shared kernel (every
    phase has taps, and there are at most ``MAX_PHASES`` of them: each is an op of its own,
    so FCN-32s's 1,024 phases keep the shared kernel)."""
    ph, pw = plans
    rows, cols = ph.phase_taps(), pw.phase_taps()
    if rows is None or cols is None or ph.stride * pw.stride > MAX_PHASES:
        return False
    return rows * cols < ph.taps * pw.taps * ph.stride * pw.stride


def lowerable(layer: keras.layers.Layer) -> str | None:
    """Why ``layer`` (a Conv2DTranspose) cannot be lowered, or None when it can."""
    if layer.data_format != "channels_last":
        return "channels_first"
    if tuple(layer.dilation_rate) != (1, 1):
        return f"dilation {tuple(layer.dilation_rate)}"
    if layer.output_padding is not None:
        return f"output_padding {layer.output_padding}"
    if layer.strides[0] != layer.strides[1]:
        return f"strides {tuple(layer.strides)} differ per axis"
    if layer.padding not in ("same", "valid"):
        return f"padding {layer.padding!r}"
    return None


@keras.saving.register_keras_serializable(package="convert")
class LoweredConv2DTranspose(keras.layers.Layer):
    """A Conv2DTranspose computed as [PAD] -> CONV_2D (+ activation) -> DEPTH_TO_SPACE [-> crop].

    Built from a trained Conv2DTranspose with :meth:`from_layer`; ``scale``/``shift`` fold a
    following BatchNormalization (per output channel, after the bias). ``per_phase``: one
    CONV_2D per output phase on its own slice of the padded input, concatenated (the same
    numbers without the shared kernel's zero taps), where that saves work
    (:func:`phases_save_work`).
    """

    def __init__(
        self,
        *,
        filters: int,
        kernel_size: tuple[int, int],
        stride: int,
        padding: str,
        activation: str | None = None,
        per_phase: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = tuple(kernel_size)
        self.stride = stride
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.plans = tuple(axis_plan(k, stride, padding) for k in self.kernel_size)
        self.per_phase = per_phase and phases_save_work(self.plans)

    @classmethod
    def from_layer(
        cls,
        layer: keras.layers.Layer,
        *,
        scale: np.ndarray | None = None,
        shift: np.ndarray | None = None,
        activation: str | None = None,
        name: str | None = None,
        per_phase: bool = False,
    ) -> LoweredConv2DTranspose:
        lowered = cls(
            filters=layer.filters,
            kernel_size=layer.kernel_size,
            stride=layer.strides[0],
            padding=layer.padding,
            activation=activation,
            per_phase=per_phase,
            name=name or f"{layer.name}_lowered",
        )
        kernel = np.asarray(layer.kernel, np.float32)
        bias = np.asarray(layer.bias, np.float32) if layer.use_bias else np.zeros(layer.filters)
        if scale is not None:
            kernel = kernel * scale[None, None, :, None]
            bias = bias * scale + shift
        lowered.build((None, None, None, kernel.shape[-1]))
        lowered.kernel.assign(lowered_kernel(kernel, lowered.plans))
        lowered.bias.assign(np.tile(bias, lowered.stride**2).astype(np.float32))
        return lowered

    def build(self, input_shape) -> None:
        s = self.stride
        ph, pw = self.plans
        shape = (ph.taps, pw.taps, input_shape[-1], s * s * self.filters)
        self.kernel = self.add_weight(shape=shape, name="kernel", initializer="zeros")
        self.bias = self.add_weight(shape=(shape[-1],), name="bias", initializer="zeros")

    def call(self, inputs):
        import tensorflow as tf

        ph, pw = self.plans
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:  # sizes are static in every exported file
            height, width = tf.shape(inputs)[1], tf.shape(inputs)[2]
        if self.per_phase:
            x = self._phases(inputs, height, width)
        else:
            padded, padding = self.convolution_input(inputs)
            x = tf.nn.conv2d(padded, self.kernel, strides=1, padding=padding) + self.bias
        # An element-wise activation commutes with DEPTH_TO_SPACE and the crop: applied
        # first, the converter fuses it into CONV_2D.
        x = self.activation(x)
        if self.stride > 1:  # stride 1: the convolution alone, its kernel flipped
            x = tf.nn.depth_to_space(x, self.stride)
        rows, cols = ph.output_length(height, self.padding), pw.output_length(width, self.padding)
        if _longer(x, 1, rows) or _longer(x, 2, cols):
            x = x[:, :rows, :cols, :]
        return x

    def convolution_input(self, inputs) -> tuple[tf.Tensor, str]:
        """What the shared convolution (not ``per_phase``) reads, and its padding: the input
        itself with "SAME" where TensorFlow's split is the plan's, else padded, "VALID"."""
        ph, pw = self.plans
        if ph.same_split() and pw.same_split():
            return inputs, "SAME"
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            import tensorflow as tf

            height, width = tf.shape(inputs)[1], tf.shape(inputs)[2]
        return self._padded(inputs, height, width), "VALID"

    def _padded(self, inputs, height, width):
        import tensorflow as tf

        ph, pw = self.plans
        pads = [[0, 0], ph.pads(height, self.padding), pw.pads(width, self.padding), [0, 0]]
        return tf.pad(inputs, pads)

    def _phases(self, inputs, height, width):
        """Each phase's convolution on its window of the padded input, in DEPTH_TO_SPACE
        channel order (the kernel's zero taps left out)."""
        import tensorflow as tf

        ph, pw = self.plans
        s, c = self.stride, self.filters
        x = self._padded(inputs, height, width)
        outputs = []
        for rh in range(s):
            a0, a1 = ph.phase_span(rh)
            rows = slice(a0, a1 - ph.taps + 1 or None)  # the rows a VALID convolution reads
            for rw in range(s):
                b0, b1 = pw.phase_span(rw)
                channels = slice((rh * s + rw) * c, (rh * s + rw + 1) * c)
                window = x[:, rows, b0 : b1 - pw.taps + 1 or None, :]
                kernel = self.kernel[a0 : a1 + 1, b0 : b1 + 1, :, channels]
                conv = tf.nn.conv2d(window, kernel, strides=1, padding="VALID")
                outputs.append(conv + self.bias[channels])
        return tf.concat(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        ph, pw = self.plans
        rows = None if h is None else ph.output_length(h, self.padding)
        cols = None if w is None else pw.output_length(w, self.padding)
        return (b, rows, cols, self.filters)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "activation": keras.activations.serialize(self.activation),
            "per_phase": self.per_phase,
        }


@keras.saving.register_keras_serializable(package="convert")
class FoldedNormalization(keras.layers.Layer):
    """What a BatchNormalization becomes once folded into the layer before it: identity
    (with BatchNormalization's call signature, so the copied graph calls it unchanged)."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def _longer(x: tf.Tensor, axis: int, length) -> bool:
    size = x.shape[axis]
    return size is None or not isinstance(length, int) or size > length


# === Lowering a model ===


def lower_transpose_convs(
    model: keras.Model, *, per_phase: bool = False
) -> tuple[keras.Model, int, list[str]]:
    """A copy of ``model`` with each lowerable Conv2DTranspose lowered; (copy, count, notes).

    The copy has its own layers with ``model``'s weights; ``model`` is left as it was. A
    BatchNormalization whose only input is a lowered layer, and which is that layer's only
    reader, is folded into it. ``per_phase`` gives each output phase its own convolution where
    that saves work (:func:`phases_save_work`). With nothing to change, ``model`` itself
    comes back.
    """
    if not isinstance(model, keras.Model):  # a tf_keras (Keras 2) graph, as tfmot makes
        return model, 0, ["a Keras 2 (tf_keras) model: TRANSPOSE_CONV kept (not lowered)"]
    transposed = [layer for layer in all_layers(model) if _is_transpose(layer)]
    notes = [
        f"{layer.name} keeps TRANSPOSE_CONV: {why}"
        for layer in transposed
        if (why := lowerable(layer))
    ]
    targets = {id(layer) for layer in transposed if lowerable(layer) is None}
    readers = layer_readers(model)
    folded = _foldable_norms(model, targets, readers)  # id(bn) -> (transposed layer, bn)
    folded_into = {id(layer): bn for layer, bn in folded.values()}
    if not targets:
        return model, 0, notes

    def clone(layer):
        if id(layer) in targets:
            bn = folded_into.get(id(layer))
            if bn is None:
                activation = keras.activations.serialize(layer.activation)
                return LoweredConv2DTranspose.from_layer(
                    layer, activation=activation, per_phase=per_phase
                )
            scale, shift = _norm_affine(bn)
            return LoweredConv2DTranspose.from_layer(
                layer, scale=scale, shift=shift, per_phase=per_phase
            )
        if id(layer) in folded:
            return FoldedNormalization(name=f"{layer.name}_folded")
        return layer.__class__.from_config(layer.get_config())

    # Every layer is new (weights copied below): calling the caller's layers in a second
    # graph would add nodes to them, and the next conversion would read a changed model.
    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy_weights(model, copy)
    return copy, len(targets), notes


def with_nearest_op(model: keras.Model, op: str) -> tuple[keras.Model, int]:
    """A copy of ``model`` whose nearest upsampling takes form ``op``
    (:func:`zoo.layers.nearest_upsample`), and how many layers changed; ``model`` itself
    when none does (a tf_keras graph is left as it is)."""
    if not isinstance(model, keras.Model):
        return model, 0
    changing = {
        id(layer)
        for layer in all_layers(model)
        if isinstance(layer, NearestUpsampling2D | MaxUnpool2D) and layer.op != op
    }
    if not changing:
        return model, 0

    def clone(layer):
        config = layer.get_config()
        if id(layer) in changing:
            config["op"] = op
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy_weights(model, copy)
    return copy, len(changing)


def copy_weights(source: keras.Model, copy: keras.Model) -> None:
    """Give each layer of ``copy`` the weights of the layer of ``source`` with its name."""
    for layer in copy.layers:
        try:
            original = source.get_layer(layer.name)
        except ValueError:  # a replacement layer: its weights are set already
            continue
        if isinstance(layer, keras.Model):
            copy_weights(original, layer)
        elif original.weights:
            layer.set_weights(original.get_weights())


def prelu_pairs(model: keras.Model, readers: dict[int, list] | None = None) -> dict[int, Any]:
    """PReLUs an int8 file should not keep, each with its convolution (both ways by id):
    those with one slope per channel that read a Conv2D with no activation and no other
    reader."""
    readers = layer_readers(model) if readers is None else readers
    pairs: dict[int, Any] = {}
    for layer in all_layers(model):
        if not isinstance(layer, keras.layers.PReLU) or len(layer._inbound_nodes) != 1:
            continue
        parents = [p.operation for p in layer._inbound_nodes[0].parent_nodes]
        conv = parents[0] if len(parents) == 1 else None
        plain_conv = (
            type(conv) is keras.layers.Conv2D
            and conv.activation is keras.activations.linear
            and conv.groups == 1
            and readers.get(id(conv)) == [layer]
        )
        if plain_conv and tuple(layer.alpha.shape[:-1]) in ((1, 1), ()):
            pairs[id(conv)], pairs[id(layer)] = layer, conv
    return pairs


def split_prelus(model: keras.Model) -> tuple[keras.Model, int, int]:
    """A copy of ``model`` whose PReLUs (:func:`prelu_pairs`) are ReLU convolutions:
    (copy, PReLUs split, of those folded into their reader); ``model`` itself when there is
    none.

    With ``z`` the convolution's output and ``a`` a channel's slope,
    ``prelu(z) = relu(z) - sign(a) * relu(-|a| z)``: the convolution computes both halves,
    2C channels (kernel and bias [W, -|a| W]) with a fused ReLU. A Conv2D or
    Conv2DTranspose that is the PReLU's only reader takes the 2C channels itself (its
    kernel [K; -sign(a) K] over input channels); any other reader gets a 1x1 Conv2D back
    to C (kernel [I; -diag(sign(a))]). The same function, from ops every int8 engine runs
    (XNNPACK has no int8 PRELU kernel). It is also what int8 needs: a PRELU's input is
    rounded over the whole signed range of ``z``, the split halves each over the
    non-negative range of what they pass on, which :func:`convert.equalize.equalize`
    balances per channel. fsrcnn_prelu_x3 on Set5: int8 cost 0.49 dB with PRELU, 0.06
    split and folded.
    """
    readers = layer_readers(model)
    pairs = prelu_pairs(model, readers)
    if not pairs:
        return model, 0, 0
    prelus = [layer for layer in pairs.values() if isinstance(layer, keras.layers.PReLU)]
    signs: dict[int, np.ndarray] = {}  # id(reader) -> sign(a) of the 2C input it takes
    for prelu in prelus:
        after = readers.get(id(prelu), [])
        if len(after) == 1 and _takes_split_input(after[0]):
            signs[id(after[0])] = np.sign(_slopes(prelu, pairs[id(prelu)].filters))

    def clone(layer):
        if id(layer) in pairs and isinstance(layer, keras.layers.PReLU):
            after = readers.get(id(layer), [])
            if after and id(after[0]) in signs:
                return keras.layers.Identity(name=f"{layer.name}_folded")
            return _combine(layer, pairs[id(layer)].filters)
        split = pairs.get(id(layer))
        if split is not None or id(layer) in signs:
            return _split_conv(layer, split, signs.get(id(layer)))
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy_weights(model, copy)
    return copy, len(prelus), len(signs)


def _takes_split_input(layer: keras.layers.Layer) -> bool:
    """A convolution that can read a PReLU's 2C halves in place of its C channels."""
    plain = type(layer) is keras.layers.Conv2D and layer.groups == 1
    transposed = type(layer) is keras.layers.Conv2DTranspose
    return (plain or transposed) and len(layer._inbound_nodes) == 1


def _slopes(prelu: keras.layers.PReLU, channels: int) -> np.ndarray:
    alpha = np.asarray(prelu.alpha, np.float64).reshape(-1)
    return np.broadcast_to(alpha, (channels,))


def _combine(prelu: keras.layers.PReLU, channels: int) -> keras.layers.Layer:
    """The 1x1 Conv2D from the 2C halves back to the PReLU's C channels."""
    combine = keras.layers.Conv2D(channels, 1, name=f"{prelu.name}_combine")
    combine.build((None, None, None, 2 * channels))
    signs = np.sign(_slopes(prelu, channels))
    kernel = np.concatenate([np.eye(channels), -np.diag(signs)])[None, None]
    combine.set_weights([kernel.astype(np.float32), np.zeros(channels, np.float32)])
    return combine


def _split_conv(layer, prelu, input_signs: np.ndarray | None) -> keras.layers.Layer:
    """``layer`` rebuilt: reading the 2C halves (``input_signs``) and/or writing them for
    the PReLU ``prelu`` after it."""
    transposed = isinstance(layer, keras.layers.Conv2DTranspose)
    kernel = np.asarray(layer.kernel, np.float64)
    bias = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(layer.filters)
    in_axis = 3 if transposed else 2
    if input_signs is not None:
        shape = [1] * 4
        shape[in_axis] = -1
        kernel = np.concatenate([kernel, -kernel * input_signs.reshape(shape)], axis=in_axis)
    config = layer.get_config()
    config["name"] = f"{layer.name}_split"
    if prelu is not None:
        magnitude = np.abs(_slopes(prelu, layer.filters))
        kernel = np.concatenate([kernel, -kernel * magnitude], axis=-1)
        bias = np.concatenate([bias, -bias * magnitude])
        config.update(filters=2 * layer.filters, activation="relu", use_bias=True)
    config["use_bias"] = config["use_bias"] or bool(np.any(bias))
    rebuilt = layer.__class__.from_config(config)
    rebuilt.build((None, None, None, kernel.shape[in_axis]))
    weights = [kernel.astype(np.float32)]
    if rebuilt.use_bias:
        weights.append(bias.astype(np.float32))
    rebuilt.set_weights(weights)
    return rebuilt


def layer_readers(model: keras.Model) -> dict[int, list]:
    """id(layer) -> the layers that read its output."""
    readers: dict[int, list] = {}
    for layer in all_layers(model):
        for node in layer._inbound_nodes:
            for parent in node.parent_nodes:
                readers.setdefault(id(parent.operation), []).append(layer)
    return readers


def _is_transpose(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.Conv2DTranspose)


def _foldable_norms(model: keras.Model, targets: set[int], readers: dict) -> dict[int, tuple]:
    """id(BatchNormalization) -> (its transposed layer, the BN), for BNs that read nothing but
    a target layer with a linear activation and no other reader."""
    found = {}
    for layer in all_layers(model):
        if id(layer) not in targets or layer.activation is not keras.activations.linear:
            continue
        after = readers.get(id(layer), [])
        if len(after) == 1 and isinstance(after[0], keras.layers.BatchNormalization):
            bn = after[0]
            if bn.axis in (-1, 3) and len(bn._inbound_nodes) == 1:
                found[id(bn)] = (layer, bn)
    return found


def _norm_affine(bn: keras.layers.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """Inference-time BatchNormalization as y = x * scale + shift."""
    variance = np.asarray(bn.moving_variance, np.float32)
    mean = np.asarray(bn.moving_mean, np.float32)
    gamma = np.asarray(bn.gamma, np.float32) if bn.scale else np.ones_like(mean)
    beta = np.asarray(bn.beta, np.float32) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    return scale, beta - mean * scale
