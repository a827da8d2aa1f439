"""Does a file compute what its Keras model computes? Float in, float out, compared.

:class:`Runner` runs a file's ``serving_default`` signature through LiteRT's interpreter
(builtin kernels, XNNPACK by default) with float inputs and outputs, quantizing and
dequantizing integer tensors; :func:`measure_parity` compares it with Keras on fixed inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convert.flatbuffer import SIGNATURE_KEY
from convert.representative import representative_inputs
from zoo.errors import ZooError
from zoo.registry import ModelInfo
from zoo.tasks import classifies_pixels

PARITY_SAMPLES = 4


@dataclass(frozen=True)
class Parity:
    """Keras float vs TFLite on the same inputs, outputs compared in float.

    ``psnr`` is over the output's value range (peak = its width), for image outputs.
    ``label_agreement`` is the share of pixels with the same argmax (segmentation).
    """

    samples: int
    max_abs_error: float
    mean_abs_error: float
    psnr: float | None = None
    label_agreement: float | None = None

    def summary(self) -> str:
        parts = [f"max |err| {self.max_abs_error:.3g}", f"mean |err| {self.mean_abs_error:.3g}"]
        if self.psnr is not None:
            parts.append(f"PSNR {self.psnr:.1f} dB" if math.isfinite(self.psnr) else "PSNR inf")
        if self.label_agreement is not None:
            parts.append(f"labels agree {100 * self.label_agreement:.2f}%")
        return ", ".join(parts)


def parity_inputs(info, size, input_shapes, calibration) -> list[list[np.ndarray]]:
    """Fixed inputs: samples of the model's data (another seed than calibration), else the
    user's calibration samples, else uniform draws from the declared input ranges."""
    if info.dataset:
        return representative_inputs(info, size=size, count=PARITY_SAMPLES, seed=1)
    if calibration is not None:
        return calibration[:PARITY_SAMPLES]
    return _random_samples(info, input_shapes)


def _random_samples(info: ModelInfo, input_shapes) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(PARITY_SAMPLES):
        samples.append(
            [
                rng.uniform(*spec.value_range, size=(1, *shape)).astype(np.float32)
                for spec, shape in zip(info.inputs, input_shapes, strict=True)
            ]
        )
    return samples


class Runner:
    """The file's ``serving_default`` signature as a float-in, float-out callable."""

    def __init__(self, data: bytes, input_names: list[str], *, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=data, num_threads=threads)
        self.signature = self.interpreter.get_signature_runner(SIGNATURE_KEY)
        self.input_details = self.signature.get_input_details()
        if sorted(input_names) != sorted(self.input_details):
            raise ZooError(f"the file's inputs are {sorted(self.input_details)}, not {input_names}")
        self.input_names = list(input_names)
        self.output_details = self.signature.get_output_details()

    def __call__(self, sample: list[np.ndarray]) -> np.ndarray:
        """Inputs in ``input_names`` order; each must have the file's shape (no resizing)."""
        raw = self.run_file(self.file_inputs(sample))
        detail = next(iter(self.output_details.values()))
        return dequantize(raw, detail["dtype"], detail["quantization"])

    def file_inputs(self, sample: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Float inputs as the file's own input tensors (quantized for integer inputs)."""
        feed = {}
        for name, array in zip(self.input_names, sample, strict=True):
            expected = tuple(self.input_details[name]["shape"])
            if array.shape != expected:
                raise ZooError(f"input {name} has shape {array.shape}; the file takes {expected}")
            detail = self.input_details[name]
            feed[name] = quantize(array, detail["dtype"], detail["quantization"])
        return feed

    def run_file(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The output tensor exactly as the file writes it, for inputs as it takes them."""
        return next(iter(self.signature(**feed).values()))


def quantize(array: np.ndarray, dtype, quantization: tuple[float, int] | None) -> np.ndarray:
    """A float array as a tensor of ``dtype`` takes it: quantized for integer tensors."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or quantization is None:
        return np.asarray(array, dtype)
    scale, zero_point = quantization
    limits = np.iinfo(dtype)
    return np.clip(np.round(array / scale + zero_point), limits.min, limits.max).astype(dtype)


def dequantize(array: np.ndarray, dtype, quantization: tuple[float, int] | None) -> np.ndarray:
    """A tensor's values as float32."""
    if np.dtype(dtype).kind == "f" or quantization is None:
        return np.asarray(array, np.float32)
    scale, zero_point = quantization
    return (array.astype(np.float32) - zero_point) * scale


def measure_parity(model, data: bytes, samples, info: ModelInfo) -> Parity:
    """Run every sample through Keras and the file; compare the float outputs."""
    runner = Runner(data, [spec.name for spec in info.inputs])
    expected, actual = [], []
    for sample in samples:
        feed = sample[0] if len(sample) == 1 else list(sample)
        expected.append(np.asarray(model(feed, training=False), np.float32))
        actual.append(runner(sample))
    expected, actual = np.concatenate(expected), np.concatenate(actual)
    error = np.abs(expected - actual)
    psnr = label_agreement = None
    if expected.ndim == 4:
        low, high = info.output.value_range
        mse = float(np.mean(np.square(expected - actual)))
        psnr = math.inf if mse == 0 else 10 * math.log10((high - low) ** 2 / mse)
        if classifies_pixels(info.task):
            label_agreement = float(np.mean(expected.argmax(-1) == actual.argmax(-1)))
    return Parity(
        samples=len(samples),
        max_abs_error=float(error.max()),
        mean_abs_error=float(error.mean()),
        psnr=psnr,
        label_agreement=label_agreement,
    )
