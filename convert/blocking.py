"""A convolution over a one-channel input, computed on 2x2 blocks of it (int8 files).

XNNPACK's int8 convolution multiplies each output pixel's ``kh * kw * C_in`` taps as one
dot product. The first layer of every super-resolution model here reads luminance alone
(5x5 taps over one channel): products that short run at a fraction of the kernels' speed,
and that one layer took about a third of fsrcnn_x3's int8 file (5x5, 1 -> 56 channels at
128x128, 1 thread: 0.57 ms, against 0.23 ms blocked; ``benchmarks/accelerators.py`` has
the whole files).

SPACE_TO_DEPTH(2) turns the input into 4 channels at half the size; one stride-1
convolution over them writes all 4 output phases (4 x C_out channels: phase ``(p, q)`` of
output channel ``o`` holds the original kernel's taps at that phase's offsets), and
DEPTH_TO_SPACE(2) puts each phase back in place. The same sums over the same inputs, with a
3x3 block kernel for 5x5 (36 taps per output, 44% more multiply-adds, in products 36 long).
Every phase channel holds all of the original channel's taps, so its int8 scale and integer
weights are the original channel's; the calibrated ranges differ only by float rounding
(fsrcnn_x3's int8 output moves by one level at 7 of a million pixels). The input's levels
(:func:`convert.ranges.pin_input_levels`) pass through SPACE_TO_DEPTH as they did
through the convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from convert.lowering import copy_weights

BLOCK = 2
MAX_TAPS = 32  # kh * kw * C_in below which an int8 product is too short to run fast
MAX_EXTRA_WORK = 1.5  # the block kernel's multiply-adds over the original's, at most


class BlockedConv2D(keras.layers.Layer):
    """A stride-1 "same" Conv2D over an input whose height and width are multiples of
    ``block``, as SPACE_TO_DEPTH + Conv2D + DEPTH_TO_SPACE; ``kernel`` in block form
    (K, K, block^2 C_in, block^2 C_out), :func:`block_kernel`."""

    def __init__(self, filters: int, block_size: int, activation=None, block: int = BLOCK, **kw):
        super().__init__(**kw)
        self.filters, self.block_size, self.block = filters, block_size, block
        self.activation = keras.activations.get(activation)

    def build(self, input_shape) -> None:
        inputs = input_shape[-1] * self.block**2
        outputs = self.filters * self.block**2
        size = (self.block_size, self.block_size, inputs, outputs)
        self.kernel = self.add_weight(name="kernel", shape=size, initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(outputs,), initializer="zeros")

    def call(self, inputs):
        blocks = tf.nn.space_to_depth(inputs, self.block)
        phases = tf.nn.conv2d(blocks, self.kernel, strides=1, padding="SAME") + self.bias
        return tf.nn.depth_to_space(self.activation(phases), self.block)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            block_size=self.block_size,
            activation=keras.activations.serialize(self.activation),
            block=self.block,
        )
        return config


def block_radius(kernel_size: int, block: int = BLOCK) -> int:
    """Blocks either side of the centre that a "same" kernel of ``kernel_size`` taps
    reaches from any phase (the block kernel is ``2 * radius + 1`` wide), or -1 where the
    reach differs per side (then no symmetric block kernel exists)."""
    before = (kernel_size - 1) // 2
    after = kernel_size - 1 - before
    reach_before, reach_after = -(-before // block), -(-after // block)
    return reach_before if reach_before == reach_after else -1


def block_kernel(kernel: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """A (kh, kw, C_in, C_out) stride-1 "same" kernel in block form: tap (u, v) of phase
    (p, q) reads input row ``block * i + p + u - before``, i.e. block ``i + (p + u - before)
    // block`` at sub-row ``(p + u - before) % block`` (the same for columns)."""
    kh, kw, inputs, outputs = kernel.shape
    radius = block_radius(kh, block)
    size = 2 * radius + 1
    blocked = np.zeros((size, size, block * block * inputs, block * block * outputs))
    before_h, before_w = (kh - 1) // 2, (kw - 1) // 2
    for p in range(block):
        for q in range(block):
            phase = (p * block + q) * outputs
            for u in range(kh):
                row, sub_row = divmod(p + u - before_h, block)
                for v in range(kw):
                    column, sub_column = divmod(q + v - before_w, block)
                    channel = (sub_row * block + sub_column) * inputs
                    blocked[
                        radius + row,
                        radius + column,
                        channel : channel + inputs,
                        phase : phase + outputs,
                    ] = kernel[u, v]
    return blocked


def blockable(layer: keras.layers.Layer, input_shape: Sequence[int]) -> bool:
    """Whether :func:`block_convolutions` rewrites ``layer`` reading ``input_shape``
    ((H, W, C), batch first or not): a plain stride-1 "same" Conv2D with a square odd
    kernel, products shorter than ``MAX_TAPS``, a block kernel at most ``MAX_EXTRA_WORK``
    times the work, and H and W multiples of the block."""
    if type(layer) is not keras.layers.Conv2D or layer.groups != 1:
        return False
    kh, kw = layer.kernel_size
    plain = layer.strides == (1, 1) and layer.dilation_rate == (1, 1) and layer.padding == "same"
    if not plain or kh != kw or kh % 2 == 0 or any(n % BLOCK for n in input_shape[-3:-1]):
        return False
    radius = block_radius(kh)
    extra = (2 * radius + 1) ** 2 * BLOCK**2 / (kh * kw)
    return kh * kw * input_shape[-1] < MAX_TAPS and extra <= MAX_EXTRA_WORK


def block_convolutions(
    model: keras.Model, input_shapes: Sequence[Sequence[int]]
) -> tuple[keras.Model, int]:
    """A copy of ``model`` whose convolutions that read a model input (of ``input_shapes``,
    the file's, each (H, W, C)) and are :func:`blockable` are :class:`BlockedConv2D`;
    ``model`` itself and 0 when none is (a tf_keras graph is left as it is)."""
    if not isinstance(model, keras.Model):
        return model, 0
    shapes = {id(tensor): shape for tensor, shape in zip(model.inputs, input_shapes, strict=True)}
    targets = {}
    for layer in model.layers:
        if len(layer._inbound_nodes) != 1:
            continue
        parents = layer._inbound_nodes[0].input_tensors
        reads_input = len(parents) == 1 and id(parents[0]) in shapes
        if reads_input and blockable(layer, shapes[id(parents[0])]):
            targets[id(layer)] = layer
    if not targets:
        return model, 0

    def clone(layer):
        if id(layer) not in targets:
            return layer.__class__.from_config(layer.get_config())
        blocked = BlockedConv2D(
            layer.filters,
            2 * block_radius(layer.kernel_size[0]) + 1,
            activation=layer.activation,
            name=f"{layer.name}_blocked",
        )
        blocked.build((None, None, None, layer.kernel.shape[2]))
        kernel = block_kernel(np.asarray(layer.kernel, np.float64))
        bias = np.asarray(layer.bias) if layer.use_bias else np.zeros(layer.filters)
        blocked.set_weights([kernel.astype(np.float32), np.tile(bias, BLOCK**2)])
        return blocked

    copy = keras.models.clone_model(model, clone_function=clone)
    copy_weights(model, copy)
    return copy, len(targets)
