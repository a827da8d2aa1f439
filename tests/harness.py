"""One shared test harness for every registered model (in the spirit of keras-hub's).

A model's own test needs only ``run_model_test(name)``; ``test_models.py`` runs it over
``zoo.list_models()``, so a new family file is covered without another edit.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import zoo
from zoo.registry import ModelInfo
from zoo.smoke import model_feed, random_inputs

TINY_SIZE = (32, 32)  # spatial size for tiny variants of fully convolutional models


def sample_inputs(info: ModelInfo, *, batch: int = 1, seed: int = 0) -> list[np.ndarray]:
    """Random inputs at the export size (32x32 for tiny variants)."""
    return random_inputs(info, batch=batch, size=TINY_SIZE if info.tiny else None, seed=seed)


def contains_layer(model: keras.Model, layer_type: type) -> bool:
    """Whether ``model`` or any nested model holds a layer of ``layer_type``."""
    for layer in model.layers:
        if isinstance(layer, layer_type):
            return True
        if isinstance(layer, keras.Model) and contains_layer(layer, layer_type):
            return True
    return False


def run_model_test(name: str, tmp_path: Path) -> None:
    """Build ``name`` and check it against its declared ModelInfo, then save and reload."""
    info = zoo.info(name)
    model = zoo.get(name)

    assert model.name == name
    assert model.count_params() == info.num_params, "declared num_params is stale"
    assert len(model.inputs) == len(info.inputs)
    for tensor, spec in zip(model.inputs, info.inputs, strict=True):
        assert tensor.name == spec.name
        assert tuple(tensor.shape[1:]) == spec.shape, spec.name

    inputs = sample_inputs(info, batch=2)
    feed = model_feed(info, inputs)
    outputs = np.asarray(model(feed, training=False))
    expected = concrete_output_shape(info, inputs)
    assert outputs.shape == expected, f"output {outputs.shape} != declared {expected}"
    assert np.isfinite(outputs).all()
    if info.output.bounded:
        low, high = info.output_range
        assert outputs.min() >= low - 1e-5 and outputs.max() <= high + 1e-5

    if not info.baseline:
        assert contains_layer(model, keras.layers.Conv2DTranspose)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded(feed, training=False), outputs, atol=1e-6)


def concrete_output_shape(info: ModelInfo, inputs: list[np.ndarray]) -> tuple[int, ...]:
    """The declared output shape with free sizes taken from the input's spatial size."""
    batch = inputs[0].shape[0]
    shape = list(info.output.shape)
    if len(shape) == 3 and None in shape[:2]:
        height, width = inputs[0].shape[1:3]
        factor = info.recipe.options.get("scale", 1)
        shape[0] = height * factor if shape[0] is None else shape[0]
        shape[1] = width * factor if shape[1] is None else shape[1]
    return (batch, *shape)
