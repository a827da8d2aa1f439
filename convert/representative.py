"""Inputs drawn from a model's own training data: calibration for int8 and parity checks.

The training objective of the model's task (:func:`zoo.tasks.objective_for`) already knows how a
dataset becomes model inputs: Y-channel low-resolution patches for super-resolution, noisy
or blurred images for restoration, label maps for pix2pix, latents and one-hot labels for
generators. :func:`representative_inputs` reuses it at the exported size, so the int8
ranges are calibrated on what the model will actually see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from zoo.data.stream import Examples, first_batch
from zoo.errors import ZooError
from zoo.registry import ModelInfo
from zoo.smoke import concrete_shape

MIN_IMAGES = 64  # images loaded to draw samples from (patch tasks crop several per image)
DEFAULT_COUNT = 32  # calibration samples (TFLite's own guidance is ~100; 32 keeps it quick)


def representative_inputs(
    model_info: ModelInfo,
    *,
    size: tuple[int, int] | None = None,
    count: int = DEFAULT_COUNT,
    seed: int = 0,
) -> list[list[np.ndarray]]:
    """``count`` samples, each a list with one (1, ...) float32 array per model input.

    Images come from ``model_info.dataset`` at ``size`` (default: the export size);
    latents are uniform in the declared range. The same seed gives the same samples.
    """
    from zoo.tasks import objective_for
    from zoo.tasks.generate import Adversarial
    from zoo.train.config import TrainConfig

    if count < 1:
        raise ZooError("the representative sample count must be at least 1")
    shapes = [concrete_shape(spec, model_info, size) for spec in model_info.inputs]
    options = dict(model_info.recipe.options)
    image_shapes = [s for s in shapes if len(s) == 3]
    if image_shapes:
        height, width = image_shapes[0][:2]
        side = max(height, width)
        options["image_size"] = side
        options["patch_size"] = side * options.get("scale", 1)
        options["crops_per_image"] = max(1, -(-count // 8))
    config = TrainConfig.from_recipe(model_info, seed=seed, options=options)
    objective = objective_for(model_info, config)
    objective.limit = max(count, MIN_IMAGES)
    arrays, _ = objective.load_data()
    total = len(next(iter(arrays.values())))
    rng = np.random.default_rng(seed)
    picked = rng.choice(total, size=count, replace=total < count)
    examples = Examples.in_memory({key: value[picked] for key, value in arrays.items()})
    batch = first_batch(examples, count, seed, degrade=objective.degrade)
    if isinstance(objective, Adversarial):
        low, high = model_info.inputs[0].value_range
        z = rng.uniform(low, high, size=(count, *shapes[0])).astype(np.float32)
        inputs = objective.generator_inputs(z, batch)
    else:
        inputs = objective.pair(batch)[0]
    inputs = [np.asarray(a, np.float32) for a in (inputs if isinstance(inputs, list) else [inputs])]
    inputs = [_fit(a, shape) for a, shape in zip(inputs, shapes, strict=True)]
    return [[a[i : i + 1] for a in inputs] for i in range(count)]


def _fit(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Crop square data to a rectangular input shape (both sides are at least as large)."""
    if array.ndim == 4 and array.shape[1:3] != shape[:2]:
        array = array[:, : shape[0], : shape[1]]
    return array


def as_samples(
    data: Iterable | np.ndarray, input_shapes: Sequence[tuple[int, ...]]
) -> list[list[np.ndarray]]:
    """User-given representative data as samples of batch-1 arrays, checked against the inputs.

    Accepts an array (N, ...) for a one-input model, a list of arrays (one per input, each
    (N, ...)), or an iterable of samples (each an array or a list of arrays, batch 1 or none).
    """
    if isinstance(data, np.ndarray):
        data = [data]
    if (
        isinstance(data, list | tuple)
        and len(data) == len(input_shapes)
        and all(
            isinstance(a, np.ndarray) and a.ndim == len(s) + 1
            for a, s in zip(data, input_shapes, strict=True)
        )
    ):
        count = len(data[0])
        samples = [[np.asarray(a[i : i + 1], np.float32) for a in data] for i in range(count)]
    else:
        samples = []
        for sample in data:
            parts = sample if isinstance(sample, list | tuple) else [sample]
            samples.append([np.asarray(p, np.float32) for p in parts])
    if not samples:
        raise ZooError("the representative data is empty")
    for sample in samples:
        if len(sample) != len(input_shapes):
            raise ZooError(
                f"each representative sample needs {len(input_shapes)} arrays, got {len(sample)}"
            )
        for i, (array, shape) in enumerate(zip(sample, input_shapes, strict=True)):
            if array.shape == shape:
                sample[i] = array[None]
            elif array.shape != (1, *shape):
                raise ZooError(
                    f"representative data of shape {array.shape[-len(shape) :]} does not fit "
                    f"the model input {shape}"
                )
    return samples
