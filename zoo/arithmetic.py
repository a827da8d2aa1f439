"""Convolution arithmetic: output sizes, TensorFlow's "same" padding, the convolution matrix.

Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep learning"
(arXiv:1603.07285). Numpy only, so notebooks and tests can reason about shapes without
building a layer.

A 2-D convolution (Keras' ``Conv2D``, a cross-correlation, no bias) of an input
``(H, W, Cin)`` is a linear map: flatten the input and output in row-major (NHWC) order
and it is a matrix ``C`` of shape ``(Ho * Wo * Cout, H * W * Cin)``. The transposed
convolution (``Conv2DTranspose`` with the same kernel array) is ``C.T``: it maps the
convolution's output space back to its input space, and it is the gradient of the
convolution with respect to its input. It is not the inverse (``C.T @ C != I``).

Padding is ``"valid"`` (none), ``"same"`` (TensorFlow's convention, possibly
asymmetric: ``pad_total = max((out - 1) * stride + k - size, 0)``, the smaller half
before) or an int ``p`` (``p`` zeros on every side, as in Dumoulin & Visin).

Cost: :func:`conv_macs` and :func:`transposed_conv_macs` count a layer's
multiply-accumulates; :func:`model_macs` adds them up over a Keras model at a concrete
input size (it imports keras when called; everything else here is numpy only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import keras

import numpy as np

Padding = Literal["valid", "same"] | int


def same_padding(size: int, kernel: int, stride: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding of one axis: (before, after), ``before <= after``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _padding(size: int, kernel: int, stride: int, padding: Padding) -> tuple[int, int]:
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_padding(size, kernel, stride)
    if isinstance(padding, int) and padding >= 0:
        return padding, padding
    raise ValueError(f"padding={padding!r}; expected 'valid', 'same' or an int >= 0")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: Padding = "valid") -> int:
    """Output length of a convolution along one axis.

    ``floor((size + 2p - kernel) / stride) + 1`` for "valid" (p = 0) or an explicit
    ``p``; ``ceil(size / stride)`` for "same".
    """
    if padding == "same":
        return -(-size // stride)
    before, after = _padding(size, kernel, stride, padding)
    out = (size + before + after - kernel) // stride + 1
    if out < 1:
        raise ValueError(f"kernel {kernel} does not fit an input of {size} with {padding=}")
    return out


def transposed_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: Padding = "valid",
    output_padding: int | None = None,
) -> int:
    """Output length of a transposed convolution along one axis, as Keras computes it.

    Dumoulin & Visin's ``stride * (size - 1) + kernel - 2p + a``, where ``a`` is the
    output padding: "valid" is p = 0, "same" behaves as p = ``kernel // 2``. Without
    an ``output_padding`` Keras takes ``a = max(kernel, stride) - kernel`` for "valid"
    and returns ``size * stride`` for "same"; for an explicit ``p`` it is ``a = 0``.
    """
    if padding == "same":
        if output_padding is None:
            return size * stride
        before = after = kernel // 2
    else:
        before, after = _padding(size, kernel, stride, padding)
        if output_padding is None:
            output_padding = max(kernel, stride) - kernel if padding == "valid" else 0
    return stride * (size - 1) + kernel - before - after + output_padding


def transposed_output_padding(
    size: int, kernel: int, stride: int = 1, padding: Padding = "valid"
) -> int | None:
    """The ``output_padding`` that makes a transposed convolution return to ``size``.

    A strided convolution maps several input lengths to the same output length, so
    its transpose needs to be told which one to return to. For "valid" or an explicit
    ``p`` this is Dumoulin & Visin's ``a = (size + 2p - kernel) mod stride``. For
    "same" it is ``None`` when Keras' default (``out * stride``) already equals ``size``.
    """
    if padding == "same":
        out = conv_output_size(size, kernel, stride, "same")
        if out * stride == size:
            return None
        return size - (out - 1) * stride - kernel % 2
    before, after = _padding(size, kernel, stride, padding)
    return (size + before + after - kernel) % stride


def conv_matrix(
    kernel: np.ndarray,
    input_size: tuple[int, int],
    strides: int | tuple[int, int] = 1,
    padding: Padding = "valid",
) -> np.ndarray:
    """The matrix ``C`` of a 2-D convolution (Keras' Conv2D, no bias) on one image.

    ``kernel``: (kh, kw, cin, cout), Keras' Conv2D layout (also Conv2DTranspose's
    layout for the transposed map). ``input_size``: (H, W). Returns ``C`` with shape
    (Ho * Wo * cout, H * W * cin) such that ``C @ x.reshape(-1)`` equals
    ``Conv2D(x).reshape(-1)`` for an image ``x`` of shape (H, W, cin), and
    ``(C.T @ y.reshape(-1)).reshape(H, W, cin)`` equals ``Conv2DTranspose(y)`` when the
    transpose is sized back to (H, W) (see :func:`transposed_output_padding`).
    """
    kernel = np.asarray(kernel)
    kh, kw, cin, cout = kernel.shape
    height, width = input_size
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    top, _ = _padding(height, kh, sh, padding)
    left, _ = _padding(width, kw, sw, padding)
    out_h = conv_output_size(height, kh, sh, padding)
    out_w = conv_output_size(width, kw, sw, padding)

    matrix = np.zeros((out_h * out_w * cout, height * width * cin), dtype=kernel.dtype)
    out_channels, in_channels = np.arange(cout), np.arange(cin)
    for oy in range(out_h):
        for ox in range(out_w):
            rows = (oy * out_w + ox) * cout + out_channels
            for dy in range(kh):
                iy = oy * sh - top + dy
                if not 0 <= iy < height:
                    continue
                for dx in range(kw):
                    ix = ox * sw - left + dx
                    if 0 <= ix < width:
                        cols = (iy * width + ix) * cin + in_channels
                        matrix[np.ix_(rows, cols)] += kernel[dy, dx].T
    return matrix


# === Multiply-accumulates ===


def conv_macs(
    output_size: tuple[int, int],
    kernel_size: tuple[int, int],
    in_channels: int,
    out_channels: int,
    *,
    groups: int = 1,
) -> int:
    """Multiply-accumulates of a 2-D convolution (no bias): each of the
    ``Ho * Wo * out_channels`` outputs sums ``kh * kw * in_channels / groups`` products."""
    (out_h, out_w), (kh, kw) = output_size, kernel_size
    return out_h * out_w * kh * kw * (in_channels // groups) * out_channels


def transposed_conv_macs(
    input_size: tuple[int, int],
    kernel_size: tuple[int, int],
    in_channels: int,
    out_channels: int,
) -> int:
    """Multiply-accumulates of a 2-D transposed convolution (no bias).

    ``C.T`` has the same non-zeros as ``C``: each of the ``H * W * in_channels`` inputs is
    scattered through ``kh * kw * out_channels`` weights, whatever the stride.
    """
    (height, width), (kh, kw) = input_size, kernel_size
    return height * width * kh * kw * in_channels * out_channels


def model_macs(
    model: keras.Model,
    size: tuple[int, int] | None = None,
    *,
    input_shapes: Sequence[tuple[int, ...]] | None = None,
) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on a batch of 1.

    Counts Conv2D (grouped too), Conv2DTranspose, DepthwiseConv2D, SeparableConv2D and
    Dense layers, nested models included; biases, normalization, activations and
    resampling without weights are not counted. Free spatial sizes of the inputs are
    ``size`` = (H, W); ``input_shapes`` (without batch) gives every input's shape instead.
    The model is cloned at that size (fresh weights: the count does not depend on them).
    """
    import keras

    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    if input_shapes is not None:
        shapes = [tuple(s) for s in input_shapes]
    elif size is not None:
        shapes = [_filled(shape, size) for shape in shapes]
    if any(None in shape for shape in shapes):
        raise ValueError(f"{model.name} has free input sizes {shapes}; pass size=(H, W)")
    inputs = [keras.Input(batch_shape=(1, *shape)) for shape in shapes]
    clone = keras.models.clone_model(model, input_tensors=inputs if len(inputs) > 1 else inputs[0])
    return sum(_layer_macs(layer) for layer in clone.layers)


def _filled(shape: tuple, size: tuple[int, int]) -> tuple:
    if len(shape) != 3:
        return shape
    return (shape[0] or size[0], shape[1] or size[1], shape[2])


def _layer_macs(layer) -> int:
    import keras

    layers = keras.layers
    if isinstance(layer, keras.Model):
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        return model_macs(layer, input_shapes=[tuple(t.shape[1:]) for t in inputs])
    if isinstance(layer, layers.Conv2DTranspose):
        _, height, width, cin = layer.input.shape
        return transposed_conv_macs((height, width), layer.kernel_size, cin, layer.filters)
    if isinstance(layer, layers.SeparableConv2D):
        _, height, width, cin = layer.input.shape
        _, out_h, out_w, cout = layer.output.shape
        middle = cin * layer.depth_multiplier
        depthwise = conv_macs((out_h, out_w), layer.kernel_size, 1, middle)
        return depthwise + conv_macs((out_h, out_w), (1, 1), middle, cout)
    if isinstance(layer, layers.DepthwiseConv2D):
        _, out_h, out_w, cout = layer.output.shape
        return conv_macs((out_h, out_w), layer.kernel_size, 1, cout)
    if isinstance(layer, layers.Conv2D):
        cin = layer.input.shape[-1]
        _, out_h, out_w, cout = layer.output.shape
        return conv_macs((out_h, out_w), layer.kernel_size, cin, cout, groups=layer.groups)
    if isinstance(layer, layers.Dense):
        positions = int(np.prod(layer.output.shape[1:-1], dtype=np.int64))
        return positions * layer.input.shape[-1] * layer.units
    return 0
