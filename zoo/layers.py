"""Shared blocks: the three learned up-blocks, down-blocks, and the zoo's custom layers.

Every custom layer or initializer here is a registered Keras serializable with a
``get_config``, so a saved ``.keras`` file loads back once ``zoo`` is imported. No
Lambda layers: they neither serialize safely nor convert predictably to TFLite.

Up-blocks (Odena, Dumoulin, Olah 2016, "Deconvolution and checkerboard artifacts"):

- ``transpose``: ``Conv2DTranspose`` with kernel ``2 * scale`` (divisible by the
  stride, so every output pixel receives the same number of kernel taps, which avoids
  checkerboard artifacts and hits the GPU delegate's fast path);
- ``resize_conv``: nearest-neighbour upsampling, then a 3x3 convolution;
- ``subpixel``: a convolution to ``filters * scale**2`` channels, then depth-to-space
  (Shi et al. 2016), initialised with ICNR (Aitken et al. 2017) so that it starts as
  a nearest-neighbour resize of a convolution. :class:`NearestResizeConv` gives a
  transposed convolution the same start.
"""

from __future__ import annotations

import keras
import numpy as np

from zoo.errors import ZooError
from zoo.registry import UPSAMPLE_MODES

_PACKAGE = "zoo"
UPSAMPLE_OPS = ("depth_to_space", "resize")  # the forms of nearest upsampling (the default first)


# === Initializers ===


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ICNR(keras.initializers.Initializer):
    """Initialises a sub-pixel convolution kernel as a nearest-neighbour resize.

    Draws a kernel for ``channels / scale**2`` outputs and repeats each output
    ``scale**2`` times, in the order depth-to-space reads channels, so the sub-pixel
    block starts free of checkerboard artifacts. Kernel layout: (kh, kw, in, out).
    """

    def __init__(self, scale: int = 2, initializer: str | dict = "glorot_uniform") -> None:
        self.scale = scale
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None):
        kh, kw, cin, cout = shape
        blocks = self.scale**2
        if cout % blocks:
            raise ValueError(f"ICNR: {cout} output channels is not a multiple of {blocks}")
        base = self.initializer((kh, kw, cin, cout // blocks), dtype=dtype)
        # depth_to_space reads channel index (dy * scale + dx) * C + c for sub-pixel (dy, dx)
        return keras.ops.tile(base, (1, 1, 1, blocks))

    def get_config(self) -> dict:
        return {"scale": self.scale, "initializer": keras.initializers.serialize(self.initializer)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NearestResizeConv(keras.initializers.Initializer):
    """Initialises a transposed-convolution kernel as a nearest-neighbour resize, then a conv.

    The transposed-convolution counterpart of :class:`ICNR`: draws a
    ``(kh - scale + 1, kw - scale + 1)`` kernel and sums it over every ``scale x scale``
    shift, so each of the ``scale**2`` output phases starts with the same taps: no
    checkerboard at the start of training, which a generator otherwise has to unlearn
    against its discriminator. A k4 s2 "same" layer then computes exactly
    ``UpSampling2D(2)`` followed by a 3x3 "same" ``Conv2D`` with the drawn kernel
    flipped. Kernel layout: (kh, kw, out, in), ``kh >= scale``.
    """

    def __init__(self, scale: int = 2, initializer: str | dict = "glorot_uniform") -> None:
        self.scale = scale
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None):
        kh, kw, cout, cin = shape
        if min(kh, kw) < self.scale:
            raise ValueError(f"NearestResizeConv: kernel {kh}x{kw} is smaller than {self.scale}")
        bh, bw = kh - self.scale + 1, kw - self.scale + 1
        base = self.initializer((bh, bw, cout, cin), dtype=dtype)
        padded = [
            keras.ops.pad(base, [[dy, kh - bh - dy], [dx, kw - bw - dx], [0, 0], [0, 0]])
            for dy in range(self.scale)
            for dx in range(self.scale)
        ]
        return keras.ops.sum(keras.ops.stack(padded), axis=0)

    def get_config(self) -> dict:
        return {"scale": self.scale, "initializer": keras.initializers.serialize(self.initializer)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BilinearUpsampling(keras.initializers.Initializer):
    """Conv2DTranspose kernel that performs bilinear interpolation (FCN's initialisation).

    Shape (k, k, out, in) with out == in: each channel is upsampled on its own.
    With an even stride, ``kernel_size = 2 * stride`` and "same" padding, this is exact
    bilinear resizing with half-pixel centres in the interior. With an odd stride,
    ``2 * stride`` gives a correct ramp shifted by half an output pixel ("same" padding
    cannot centre it); ``2 * stride - 1`` is exact.
    """

    def __call__(self, shape, dtype=None):
        kh, _, cout, cin = shape
        if cout != cin:
            raise ValueError("BilinearUpsampling needs as many output as input channels")
        kernel = np.zeros(shape, dtype="float32")
        kernel[:, :, range(cout), range(cin)] = bilinear_kernel(kh)[:, :, None]
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self) -> dict:
        return {}


def bilinear_kernel(size: int) -> np.ndarray:
    """The 2-D bilinear interpolation filter of a ``size`` x ``size`` kernel."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - np.abs(np.arange(size) - center) / factor
    return np.outer(ramp, ramp).astype("float32")


# === Layers ===


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthToSpace(keras.layers.Layer):
    """(B, H, W, C * s**2) -> (B, H * s, W * s, C); converts to TFLite DEPTH_TO_SPACE."""

    def __init__(self, block_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.block_size = block_size

    def call(self, inputs):
        return keras.ops.depth_to_space(inputs, self.block_size)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.block_size
        return (b, None if h is None else h * s, None if w is None else w * s, c // (s * s))

    def get_config(self) -> dict:
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NearestUpsampling2D(keras.layers.Layer):
    """(B, H, W, C) -> (B, H * s, W * s, C), repeating pixels.

    Keras' ``UpSampling2D(interpolation="nearest")`` converts to a 5-D RESHAPE, TILE,
    RESHAPE chain, which phone GPU and NNAPI delegates refuse; ``Resizing`` needs a fixed
    size. This layer works at any input size. ``op`` picks the form
    (:func:`nearest_upsample`); conversion sets it per target.
    """

    def __init__(self, scale: int = 2, op: str = "depth_to_space", **kwargs) -> None:
        super().__init__(**kwargs)
        check_upsample_op(op)
        self.scale = scale
        self.op = op

    def call(self, inputs):
        return nearest_upsample(inputs, self.scale, self.op)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.scale
        return (b, None if h is None else h * s, None if w is None else w * s, c)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "op": self.op}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaxUnpool2D(keras.layers.Layer):
    """DeconvNet's unpooling with switches, built from builtin ops only.

    Inputs ``[features, before_pool, after_pool]``: ``features`` at the pooled
    resolution are placed where ``before_pool`` held the maximum of its ``size``
    window. The switch is recomputed from ``before_pool`` and ``upsample(after_pool)``
    instead of stored as argmax indices, so the layer converts to builtin ops
    (nearest upsampling as ``op`` says, :func:`nearest_upsample`, and, with ``width=0``,
    EQUAL and SELECT_V2: integer end to end in an int8 file) rather than the custom
    MaxUnpooling2D op that only the GPU delegate knows. Cost: the pre-pool activation
    stays alive until the decoder uses it (as a U-Net skip would). The height and width
    of ``before_pool`` must be multiples of ``size`` (pooling then dropped no border).

    ``width=0`` (the paper's hard switch): a position passes the value if it equals the
    window's maximum, so a tie passes it to every tied position, and two engines whose
    arithmetic differs in the last bit can pick different positions of a near-tie.
    ``width > 0`` (a soft switch): a position passes ``relu(1 - (max - value) / width)`` of
    it, 1 at the maximum and 0 from ``width`` below it. The output is then continuous in
    the activations (a change of d moves it by at most d / width of the feature), so a
    file computes what Keras does; SUB, ADD, MUL and a fused ReLU instead of EQUAL.
    """

    def __init__(
        self, size: int = 2, width: float = 0.0, op: str = "depth_to_space", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if width < 0:
            raise ZooError(f"MaxUnpool2D width must be >= 0, got {width}")
        check_upsample_op(op)
        self.size = size
        self.width = float(width)
        self.op = op

    def call(self, inputs):
        features, before_pool, after_pool = inputs
        window_max = nearest_upsample(after_pool, self.size, self.op)
        upsampled = nearest_upsample(features, self.size, self.op)
        if self.width:
            share = keras.ops.relu(before_pool - window_max + self.width) * (1.0 / self.width)
            return upsampled * share  # share: [0, 1], 1 at the maximum
        at_max = keras.ops.equal(before_pool, window_max)
        return keras.ops.where(at_max, upsampled, keras.ops.zeros_like(upsampled))

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "width": self.width, "op": self.op}


# === Blocks ===


def nearest_upsample(x, scale: int, op: str = "depth_to_space"):
    """Repeat every pixel ``scale`` x ``scale`` times: (B, H, W, C) -> (B, sH, sW, C).

    ``op="depth_to_space"``: CONCATENATION of ``scale**2`` copies and DEPTH_TO_SPACE, which
    XNNPACK runs (it has no RESIZE_NEAREST_NEIGHBOR) and XLA differentiates (on the CPU it
    has no ResizeNearestNeighborGrad). ``"resize"``: one RESIZE_NEAREST_NEIGHBOR, the same
    values, for the Edge TPU compiler, which maps no DEPTH_TO_SPACE.
    """
    if op == "depth_to_space":
        copies = keras.ops.concatenate([x] * (scale * scale), axis=-1)
        return keras.ops.depth_to_space(copies, scale)
    shape = keras.ops.shape(x)
    return keras.ops.image.resize(x, (shape[1] * scale, shape[2] * scale), "nearest")


def check_upsample_op(op: str) -> None:
    """Raise ZooError unless ``op`` is one of :data:`UPSAMPLE_OPS`."""
    if op not in UPSAMPLE_OPS:
        raise ZooError(f"unknown nearest-upsampling op {op!r}; expected one of {UPSAMPLE_OPS}")


def up_block(
    x,
    filters: int,
    *,
    scale: int = 2,
    mode: str = "transpose",
    kernel_size: int | None = None,
    use_bias: bool = True,
    kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
    name: str,
):
    """Learned upsampling by ``scale``: (B, H, W, C) -> (B, H*scale, W*scale, filters).

    ``kernel_size`` applies to the transposed convolution (default ``2 * scale``;
    it must be divisible by ``scale``); the other two modes use 3x3 convolutions.
    """
    check_upsample(mode)
    if mode == "transpose":
        kernel_size = kernel_size or 2 * scale
        if kernel_size % scale:
            raise ValueError(f"{name}: kernel {kernel_size} is not divisible by stride {scale}")
        return keras.layers.Conv2DTranspose(
            filters,
            kernel_size,
            strides=scale,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            name=name,
        )(x)
    if mode == "resize_conv":
        x = NearestUpsampling2D(scale, name=f"{name}_resize")(x)
        return keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            name=name,
        )(x)
    x = keras.layers.Conv2D(
        filters * scale * scale,
        3,
        padding="same",
        use_bias=use_bias,
        kernel_initializer=ICNR(scale, kernel_initializer),
        name=f"{name}_conv",
    )(x)
    return DepthToSpace(scale, name=name)(x)


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model``, those of nested models included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += all_layers(layer)
    return found


def bilinear_upsample(x, *, scale: int, name: str):
    """Fixed bilinear resizing: (B, H, W, C) -> (B, H*scale, W*scale, C), not trainable.

    A frozen Conv2DTranspose with :class:`BilinearUpsampling` weights and the kernel size
    that centres it exactly (``2 * scale`` for even scales, ``2 * scale - 1`` for odd), so
    it converts to the TRANSPOSE_CONV that phone GPU and NNAPI delegates run. Borders fall
    off towards 0 over one input pixel (zero padding).
    """
    layer = keras.layers.Conv2DTranspose(
        x.shape[-1],
        2 * scale - scale % 2,
        strides=scale,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
        trainable=False,
        name=name,
    )
    return layer(x)


def check_upsample(mode: str) -> None:
    """Raise a ZooError for an up-block mode the zoo does not know."""
    if mode not in UPSAMPLE_MODES:
        from zoo.errors import ZooError

        raise ZooError(f"upsample={mode!r}; expected one of {', '.join(UPSAMPLE_MODES)}")


def conv_bn_act(
    x,
    filters: int,
    *,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str = "relu",
    batch_norm: bool = True,
    name: str,
):
    """Conv2D ("same") -> optional BatchNormalization -> activation."""
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=not batch_norm,
        name=f"{name}_conv",
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return activation_layer(activation, name=f"{name}_{activation}")(x)


def activation_layer(activation: str, *, name: str) -> keras.layers.Layer:
    """A separate activation layer; ``leaky_relu`` uses DCGAN's slope of 0.2."""
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(0.2, name=name)
    return keras.layers.Activation(activation, name=name)
