"""Random inputs that honour a model's declared contract, and a one-pass smoke test."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from zoo.registry import ModelInfo, TensorSpec

DEFAULT_SPATIAL = (32, 32)  # for free spatial sizes when a model names no export size


def concrete_shape(
    spec: TensorSpec, model_info: ModelInfo, size: tuple[int, int] | None = None
) -> tuple[int, ...]:
    """``spec.shape`` with free spatial sizes filled from ``size`` or the export size."""
    height, width = size or model_info.export_size or DEFAULT_SPATIAL
    shape = list(spec.shape)
    if len(shape) == 3:
        shape[0] = height if shape[0] is None else shape[0]
        shape[1] = width if shape[1] is None else shape[1]
    return tuple(shape)


def random_inputs(
    model_info: ModelInfo,
    *,
    batch: int = 1,
    size: tuple[int, int] | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """One array per input, drawn uniformly from its declared value range."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in model_info.inputs:
        low, high = spec.value_range
        shape = (batch, *concrete_shape(spec, model_info, size))
        arrays.append(rng.uniform(low, high, size=shape).astype(spec.dtype))
    return arrays


def model_feed(
    model_info: ModelInfo, arrays: list[np.ndarray]
) -> np.ndarray | dict[str, np.ndarray]:
    """The structure a functional model expects: one array, or arrays keyed by input name."""
    if len(arrays) == 1:
        return arrays[0]
    return {spec.name: array for spec, array in zip(model_info.inputs, arrays, strict=True)}


@dataclass(frozen=True)
class SmokeResult:
    name: str
    num_params: int
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    seconds: float


def smoke_test(name: str) -> SmokeResult:
    """Build ``name`` and run one forward pass on a random batch of 1 at its export size."""
    started = time.perf_counter()
    from zoo.models import create, info  # Keras: the contract helpers above stay light

    model_info = info(name)
    model = create(name)
    inputs = random_inputs(model_info)
    outputs = np.asarray(model(model_feed(model_info, inputs), training=False))
    if not np.isfinite(outputs).all():
        raise RuntimeError(f"{name} produced non-finite outputs on random input")
    return SmokeResult(
        name=name,
        num_params=model.count_params(),
        input_shapes=tuple(a.shape[1:] for a in inputs),
        output_shape=outputs.shape[1:],
        seconds=time.perf_counter() - started,
    )
