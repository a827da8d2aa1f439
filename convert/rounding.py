"""Weights rounded onto the int8 grid where the layer's output moves least (GPTQ).

Frantar, Ashkboos, Hoefler, Alistarh 2023, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers" (ICLR; arXiv:2210.17323), the Optimal Brain Quantizer
(Frantar, Alistarh 2022) run one input at a time.

The converter stores each convolution's weights per output channel as the integers
-127..127 times ``max|w| / 127`` and rounds every weight to its nearest level. Nearest is
not what the layer's output needs: for a layer ``y = X w`` (``X``: its input patches on
calibration samples, one row per output pixel; ``w``: one output channel's kernel,
flattened), rounded weights ``q`` move the output by ``(q - w)^T H (q - w)`` with
``H = X^T X / n``, and thousands of independent rounding errors add up where the weights
cancel each other. FSRCNN x2's rounding alone costs 0.52 dB on Set5 (its last layer, the
lowered transposed convolution, 0.31 of them). GPTQ rounds one weight at a time and moves
the weights not yet rounded to cancel the error just made (by ``H``'s inverse: row ``i`` of
its upper Cholesky factor), which leaves 0.01 dB there.

The result is float weights that lie exactly on the converter's grid, so its own nearest
rounding changes nothing: the largest ``|w|`` of every output channel is rounded first (it is
a level: +-127) and later weights are clipped to +-127 levels, which keeps each channel's
scale. The bias then absorbs the mean output shift left (bias correction, Nagel et al.
2019). Rounded layers: ``Conv2D`` (one group) and the lowered transposed convolution
(:class:`convert.lowering.LoweredConv2DTranspose`), at the model's top level, called once,
and not read by a BatchNormalization (the converter folds that into the kernel first, which
would move it off the grid).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from convert.lowering import LoweredConv2DTranspose, layer_readers

LEVELS = 127  # symmetric per-channel int8 weights: -127..127
SAMPLES = 8  # calibration samples (spread over those given) the Hessians come from
MAX_ROWS = 1 << 16  # input patches per layer the Hessian is estimated from
MAX_INPUTS = 8192  # a kernel with more taps (kh * kw * C_in) keeps nearest rounding
DAMPING = 0.01  # of the Hessian's mean diagonal, added to its diagonal (GPTQ's choice)


def roundable(layer: keras.layers.Layer, readers: dict[int, list]) -> bool:
    """Whether :func:`round_weights` rounds ``layer``'s kernel (see the module docstring)."""
    if isinstance(layer, LoweredConv2DTranspose):
        convolution = not layer.per_phase
    else:
        convolution = isinstance(layer, keras.layers.Conv2D) and layer.groups == 1
    if not convolution or len(layer._inbound_nodes) != 1:
        return False
    if layer.kernel.shape[0] * layer.kernel.shape[1] * layer.kernel.shape[2] > MAX_INPUTS:
        return False
    return not any(
        isinstance(reader, keras.layers.BatchNormalization) for reader in readers.get(id(layer), [])
    )


def round_weights(
    model: keras.Model, samples: Sequence[Sequence[np.ndarray]], *, seed: int = 0
) -> tuple[keras.Model, int]:
    """A copy of ``model`` whose roundable kernels lie on the int8 grid, and their count.

    ``samples``: the calibration inputs, each a list with one (1, H, W, C) float32 array
    per model input, at the shapes the file will have. ``model`` is left as it is.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    readers = layer_readers(copy)
    layers = [layer for layer in copy.layers if roundable(layer, readers)]
    if not layers:
        return copy, 0
    inputs = copy.inputs if len(copy.inputs) > 1 else copy.inputs[0]
    probe = keras.Model(inputs, [layer.input for layer in layers])
    picked = list(samples)[:: max(1, len(samples) // SAMPLES)][:SAMPLES]
    rng = np.random.default_rng(seed)
    per_sample = MAX_ROWS // len(picked)
    hessians, sums, counts = [0.0] * len(layers), [0.0] * len(layers), [0] * len(layers)
    for sample in picked:
        feed = [np.asarray(array, np.float32) for array in sample]
        activations = probe(feed[0] if len(feed) == 1 else feed, training=False)
        for i, x in enumerate(activations if len(layers) > 1 else [activations]):
            rows = input_patches(layers[i], x)
            if len(rows) > per_sample:
                rows = rows[rng.choice(len(rows), per_sample, replace=False)]
            hessians[i] = hessians[i] + (rows.T @ rows).astype(np.float64)
            sums[i] = sums[i] + rows.sum(0, dtype=np.float64)
            counts[i] += len(rows)
    for layer, hessian, total, count in zip(layers, hessians, sums, counts, strict=True):
        kernel = np.asarray(layer.kernel, np.float64)
        weights = kernel.reshape(-1, kernel.shape[-1])
        rounded = gptq(weights, hessian / count)
        if getattr(layer, "use_bias", True):  # the lowered layer always has one
            shift = (total / count) @ (rounded - weights)
            layer.bias.assign(np.asarray(layer.bias) - shift.astype(np.float32))
        layer.kernel.assign(rounded.reshape(kernel.shape).astype(np.float32))
    return copy, len(layers)


def gptq(weights: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """``weights`` (inputs, outputs) rounded per output column to +-127 levels of its own
    scale ``max|column| / 127``, each input row in turn, the later rows updated to cancel
    the error (``hessian``: (inputs, inputs), the inputs' second moment)."""
    inputs = weights.shape[0]
    scale = np.abs(weights).max(0) / LEVELS
    scale[scale == 0] = 1.0  # an all-zero column stays zero
    # Each column's largest weight first, while it is still a level; then GPTQ's order
    # (largest Hessian diagonal first).
    first = list(dict.fromkeys(int(i) for i in np.abs(weights).argmax(0)))
    taken = set(first)
    order = first + [int(i) for i in np.argsort(-np.diag(hessian)) if i not in taken]
    remaining = weights[order].copy()
    h = hessian[np.ix_(order, order)].copy()
    dead = np.diag(h) == 0  # inputs that are always zero: no error to cancel
    h[dead, dead] = 1.0
    h[np.diag_indices(inputs)] += DAMPING * np.mean(np.diag(h))
    upper = np.linalg.cholesky(np.linalg.inv(h)).T
    rounded = np.empty_like(remaining)
    for i in range(inputs):
        level = np.clip(np.round(remaining[i] / scale), -LEVELS, LEVELS) * scale
        error = (remaining[i] - level) / upper[i, i]
        remaining[i + 1 :] -= np.outer(upper[i, i + 1 :], error)
        rounded[i] = level
    result = np.empty_like(rounded)
    result[order] = rounded
    return result


def input_patches(layer: keras.layers.Layer, inputs) -> np.ndarray:
    """The kernel-sized input windows ``layer`` multiplies its kernel with: float32
    (positions, kh * kw * C_in), flattened in the kernel's (kh, kw, C_in) order."""
    kh, kw = layer.kernel.shape[:2]
    if isinstance(layer, LoweredConv2DTranspose):
        inputs, padding = layer.convolution_input(inputs)
        strides, rates = (1, 1), (1, 1)
    else:
        padding, strides, rates = layer.padding.upper(), layer.strides, layer.dilation_rate
    patches = tf.image.extract_patches(
        inputs,
        sizes=[1, kh, kw, 1],
        strides=[1, *strides, 1],
        rates=[1, *rates, 1],
        padding=padding,
    )
    return np.asarray(tf.reshape(patches, (-1, patches.shape[-1])), np.float32)
