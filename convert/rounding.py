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

Each layer is rounded for the input the int8 file gives it, layer after layer (GPTQ's own
order; fitting the weights to the float layer's output from the quantized input is GPTAQ's
idea, Li et al. 2025, arXiv:2504.02692). The file rounds every activation to the 256 levels
of its calibrated range, and a float-trained layer amplifies that rounding along the
directions its inputs seldom vary in. The weights rounded alone leave FSRCNN x2's output
where the float model has it (0.001 dB on Set5): its int8 cost (0.115 dB on Set5) was the
activations' rounding. So for layer ``k``, with the layers before it already rounded and
every layer's input rounded to its levels in Keras (the model input too: its samples'
range, not the image's levels, so the first layer also meets rounding), ``X~`` is its
quantized input and ``X`` its float input; the weights ``w' = argmin |X~ w' - X w|^2``
(least squares on centred patches; the bias takes the means) are what GPTQ then rounds,
with ``H = X~^T X~ / n``. FSRCNN x2's int8 cost on Set5 goes from 0.115 to 0.083 dB,
FSRCNN-s x2's from 0.119 to 0.085.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from scipy.linalg import lapack

from convert.lowering import LoweredConv2DTranspose, layer_readers

LEVELS = 127  # symmetric per-channel int8 weights: -127..127
SAMPLES = 8  # calibration samples (spread over those given) the Hessians come from
MAX_ROWS = 1 << 16  # input patches per layer the Hessian is estimated from
MAX_INPUTS = 8192  # a kernel with more taps (kh * kw * C_in) keeps nearest rounding
DAMPING = 0.01  # of the Hessian's mean diagonal, added to its diagonal (GPTQ's choice)
GPTQ_BLOCK = 128  # rows rounded before the rows after them are updated
INT8_STEPS = 255  # an int8 activation's calibrated range holds 256 levels


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
    model: keras.Model,
    samples: Sequence[Sequence[np.ndarray]],
    *,
    seed: int = 0,
    fit_activations: bool = True,
) -> tuple[keras.Model, int]:
    """A copy of ``model`` whose roundable kernels lie on the int8 grid, and their count.

    ``samples``: the calibration inputs, each a list with one (1, H, W, C) float32 array
    per model input, at the shapes the file will have. ``fit_activations`` fits each layer
    to its int8-rounded input first (False: plain GPTQ on float inputs). ``model`` is left
    as it is.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    readers = layer_readers(copy)
    layers = [layer for layer in copy.layers if roundable(layer, readers)]
    if not layers:
        return copy, 0
    picked = [
        [np.asarray(array, np.float32) for array in sample]
        for sample in list(samples)[:: max(1, len(samples) // SAMPLES)][:SAMPLES]
    ]
    exact_probe = _probe(model, [model.get_layer(layer.name) for layer in layers])
    quantized_probe = exact_probe
    if fit_activations:
        ranges = _input_ranges(exact_probe, picked)
        quantized_probe = _quantized_probe(copy, layers, ranges)
    exact = _per_output(exact_probe)
    quantized = exact if quantized_probe is exact_probe else _per_output(quantized_probe)
    for index, layer in enumerate(layers):
        kernel = np.asarray(layer.kernel, np.float64)
        weights = kernel.reshape(-1, kernel.shape[-1])
        statistics = _statistics(layer, weights, quantized[index], exact[index], picked, seed)
        fitted = statistics.fitted() if fit_activations else weights
        rounded = gptq(fitted, statistics.second_moment)
        if getattr(layer, "use_bias", True):  # the lowered layer always has one
            shift = statistics.quantized_mean @ rounded - statistics.exact_output_mean
            layer.bias.assign(np.asarray(layer.bias) - shift.astype(np.float32))
        layer.kernel.assign(rounded.reshape(kernel.shape).astype(np.float32))
        for twin in quantized_probe.layers:  # a layer the probe leaves out feeds no input
            if quantized_probe is not exact_probe and twin.name == layer.name:
                twin.set_weights(layer.get_weights())
    return copy, len(layers)


class _Rounded(keras.layers.Layer):
    """Values rounded to the 256 levels of [low, high], as an int8 tensor holds them."""

    def __init__(self, low: float, high: float, **kwargs):
        super().__init__(**kwargs)
        self.low, self.step = low, max(high - low, 1e-12) / INT8_STEPS

    def call(self, x):
        clipped = keras.ops.clip(x, self.low, self.low + INT8_STEPS * self.step)
        return keras.ops.round((clipped - self.low) / self.step) * self.step + self.low


def _probe(model: keras.Model, layers: list[keras.layers.Layer]) -> keras.Model:
    """A model giving the input of each of ``layers`` (of ``model``, sharing its weights)."""
    inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]
    return keras.Model(inputs, [layer.input for layer in layers])


def _quantized_probe(
    model: keras.Model, layers: list[keras.layers.Layer], ranges: list[tuple[float, float]]
) -> keras.Model:
    """A copy of ``model`` (weights copied) giving the input of each of ``layers``, each
    first rounded to the int8 levels of its range in ``ranges``."""
    where = {layer.name: index for index, layer in enumerate(layers)}
    seen: dict[int, object] = {}

    def call(layer, *args, **kwargs):
        index = where.get(layer.name)
        if index is not None:
            args = (_Rounded(*ranges[index])(args[0]), *args[1:])
            seen[index] = args[0]
        return layer(*args, **kwargs)

    clone = keras.models.clone_model(model, call_function=call)
    for layer in model.layers:
        if layer.weights:  # an input layer may be renamed by the clone; it holds none
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    inputs = clone.inputs if len(clone.inputs) > 1 else clone.inputs[0]
    return keras.Model(inputs, [seen[index] for index in range(len(layers))])


def _outputs(probe: keras.Model, sample: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(x) for x in _listed(probe(_feed(sample), training=False))]


def _per_output(probe: keras.Model) -> list:
    """One function per output of ``probe``: called with a sample's arrays, each gives its
    output as an array. They share one compiled call of the whole probe (traced once)."""
    compiled = tf.function(lambda x: probe(x, training=False))

    def output(index: int):
        return lambda sample: np.asarray(_listed(compiled(_feed(sample)))[index])

    return [output(index) for index in range(len(probe.outputs))]


def _listed(result) -> list:
    return list(result) if isinstance(result, list | tuple) else [result]


def _feed(sample: list[np.ndarray]):
    return sample[0] if len(sample) == 1 else sample


def _input_ranges(probe: keras.Model, samples: list[list[np.ndarray]]) -> list[tuple[float, float]]:
    """Each probed input's calibrated int8 range: min to max over ``samples``, holding 0."""
    lows, highs = None, None
    for sample in samples:
        outputs = _outputs(probe, sample)
        low = np.array([min(float(x.min()), 0.0) for x in outputs])
        high = np.array([max(float(x.max()), 0.0) for x in outputs])
        lows = low if lows is None else np.minimum(lows, low)
        highs = high if highs is None else np.maximum(highs, high)
    return list(zip(lows.tolist(), highs.tolist(), strict=True))


class _Statistics:
    """One layer's input patches on the calibration samples, against its float output.

    ``quantized``: the sums of ``x~ x~^T`` and of ``x~``; ``target``: the sums of
    ``x~ y^T`` and of ``y``, over ``count`` patches (``x~``: a quantized input patch, ``y``:
    the float layer's output ``W^T x`` from the exact patch ``x``, without bias)."""

    def __init__(self, quantized: Sequence[np.ndarray], target: Sequence[np.ndarray], count: int):
        self.quantized_mean, self.exact_output_mean = quantized[1] / count, target[1] / count
        self.second_moment = quantized[0] / count
        self.covariance = self.second_moment - np.outer(self.quantized_mean, self.quantized_mean)
        self.cross = target[0] / count - np.outer(self.quantized_mean, self.exact_output_mean)

    def fitted(self) -> np.ndarray:
        """The weights (inputs, outputs) whose output on the quantized inputs is closest to
        the float output, by least squares (an input that never varies keeps no weight)."""
        ridge = max(1e-9 * float(np.mean(np.diag(self.covariance))), 1e-30)
        regularized = self.covariance + ridge * np.eye(len(self.covariance))
        return np.linalg.solve(regularized, self.cross)


def _statistics(
    layer: keras.layers.Layer,
    weights: np.ndarray,
    quantized,
    exact,
    samples: list[list[np.ndarray]],
    seed: int,
) -> _Statistics:
    """:class:`_Statistics` of ``layer`` with float ``weights`` (inputs, outputs), from its
    input as ``quantized`` and ``exact`` give it (:func:`_per_output`): patches at the same
    positions in each."""
    rng = np.random.default_rng(seed)
    per_sample = MAX_ROWS // len(samples)
    moments, targets, count = [0.0, 0.0], [0.0, 0.0], 0
    for sample in samples:
        noisy = input_patches(layer, quantized(sample))
        clean = noisy if quantized is exact else input_patches(layer, exact(sample))
        if len(noisy) > per_sample:
            chosen = rng.choice(len(noisy), per_sample, replace=False)
            noisy, clean = noisy[chosen], clean[chosen]
        noisy = noisy.astype(np.float64)
        output = clean.astype(np.float64) @ weights
        moments = [moments[0] + noisy.T @ noisy, moments[1] + noisy.sum(0)]
        targets = [targets[0] + noisy.T @ output, targets[1] + output.sum(0)]
        count += len(noisy)
    return _Statistics(moments, targets, count)


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
    # H^-1's upper Cholesky factor without inverting H: with P the order reversed,
    # P H P = L L^T gives H^-1 = U^T U for U = P L^-1 P (upper triangular).
    inverse_lower, failed = lapack.dtrtri(np.linalg.cholesky(h[::-1, ::-1]), lower=1)
    if failed:
        raise np.linalg.LinAlgError(f"triangular inverse failed at row {failed}")
    upper = np.ascontiguousarray(inverse_lower[::-1, ::-1])
    rounded = np.empty_like(remaining)
    # GPTQ's lazy batches: each block's rows update each other one by one, the rows after
    # the block once, by one product with the block's errors (the same sums, in a block).
    for start in range(0, inputs, GPTQ_BLOCK):
        end = min(start + GPTQ_BLOCK, inputs)
        errors = np.empty((end - start, remaining.shape[1]))
        for i in range(start, end):
            level = np.clip(np.round(remaining[i] / scale), -LEVELS, LEVELS) * scale
            errors[i - start] = (remaining[i] - level) / upper[i, i]
            remaining[i + 1 : end] -= np.outer(upper[i, i + 1 : end], errors[i - start])
            rounded[i] = level
        remaining[end:] -= upper[start:end, end:].T @ errors
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
