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
"""

from __future__ import annotations

from typing import Literal

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
