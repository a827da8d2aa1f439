"""A skip added to a transposed convolution, merged into it for int8 files (convert.skips)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from convert import flatbuffer
from convert.export import rounding_lines
from convert.parity import Runner
from convert.representative import representative_inputs
from convert.skips import MAX_COPIES, merge_sums
from convert.tflite import convert_model
from zoo import models


def _randomized(model: keras.Model, seed: int = 0) -> keras.Model:
    """``model`` with random trainable weights (the frozen bilinear skip keeps its own)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.trainable and layer.weights:
            layer.set_weights(
                [rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()]
            )
    return model


def _placed(kernel: np.ndarray, size: int) -> np.ndarray:
    """A smaller (k, k, C) kernel centred in a (size, size, C) one."""
    placed = np.zeros((size, size, kernel.shape[-1]))
    shift = (size - kernel.shape[0]) // 2
    placed[shift : shift + kernel.shape[0], shift : shift + kernel.shape[1]] = kernel
    return placed


def _samples(seed: int, count: int = 4, size: int = 12) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.uniform(0, 1, (1, size, size, 1)).astype(np.float32)] for _ in range(count)]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_merged_sum_computes_the_residual_model(scale):
    """The detail's 10/9/12-tap kernel and the bilinear 4/5/8-tap one, placed at the larger
    kernel's alignment, give the model's output to float rounding."""
    model = _randomized(zoo.get("fsrcnn_tiny", scale=scale, residual=True))
    merged, count = merge_sums(model, _samples(1))
    assert count == 1
    layers = {type(layer).__name__ for layer in merged.layers}
    assert "Add" not in layers and "Concatenate" in layers
    (host,) = [la for la in merged.layers if isinstance(la, keras.layers.Conv2DTranspose)]
    features = model.get_layer("expand").filters
    kernel = np.asarray(host.kernel)
    copies = kernel.shape[-1] - features
    assert len(merged.get_layer("add_detail_inputs").input) == 1 + copies
    # The input joins as often as it takes for no skip tap to exceed the largest detail tap,
    # each copy holding an equal share of the bilinear taps.
    assert np.abs(kernel[..., features:]).max() <= np.abs(kernel[..., :features]).max() + 1e-7
    np.testing.assert_allclose(
        kernel[..., features:].sum(-1),
        _placed(np.asarray(model.get_layer("bilinear_skip").kernel)[..., 0], kernel.shape[0]),
        atol=1e-6,
    )
    x = _samples(2, count=1, size=9)[0][0]
    np.testing.assert_allclose(np.asarray(merged(x)), np.asarray(model(x)), atol=1e-5)
    assert model.get_layer("add_detail") is not None  # the caller's model is untouched


def test_a_tiny_detail_kernel_takes_at_most_max_copies_of_the_input():
    """An untrained detail kernel (taps far under the bilinear ones) would ask for hundreds
    of copies, each a channel more for the device: the input joins MAX_COPIES times and the
    merged model still computes the model's output."""
    model = _randomized(zoo.get("fsrcnn_tiny", scale=2, residual=True))
    detail = model.get_layer("add_detail").input[0]._keras_history.operation
    detail.kernel.assign(np.asarray(detail.kernel) * 1e-3)
    merged, count = merge_sums(model, _samples(1))
    assert count == 1
    assert len(merged.get_layer("add_detail_inputs").input) == 1 + MAX_COPIES
    x = _samples(2, count=1, size=9)[0][0]
    np.testing.assert_allclose(np.asarray(merged(x)), np.asarray(model(x)), atol=1e-5)


def test_features_are_matched_to_the_skip_input_range():
    """One int8 scale serves the concatenation: the features' largest value on the samples
    becomes the skip input's."""
    model = _randomized(zoo.get("fsrcnn_tiny", residual=True))
    samples = _samples(3)
    merged, _ = merge_sums(model, samples)
    features = keras.Model(merged.inputs, merged.get_layer("expand").output)
    largest = max(float(np.max(features(s[0]))) for s in samples)
    assert largest == pytest.approx(max(float(np.max(s[0])) for s in samples), rel=1e-4)


def test_a_sum_without_a_rescalable_producer_is_kept():
    """Two transposed convolutions of the input itself: no ReLU to move range through."""
    inputs = keras.Input((8, 8, 1))
    a = keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same")(inputs)
    b = keras.layers.Conv2DTranspose(1, 6, strides=2, padding="same")(inputs)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    merged, count = merge_sums(model, _samples(4, size=8))
    assert count == 0 and merged is model
    plain = zoo.get("fsrcnn_tiny")  # no skip at all
    assert merge_sums(plain, _samples(4)) == (plain, 0)


def test_int8_file_rounds_the_sum_once_and_closer_to_keras():
    """fsrcnn_x2 (shipped weights): the file concatenates the features and the input at the
    input's scale (no requantization), has no ADD, and its output is closer to Keras than
    the file that keeps the sum."""
    model = zoo.get("fsrcnn_x2", weights="default")
    info = models.info("fsrcnn_x2")
    calibration = representative_inputs(info, size=(32, 32), count=16)
    errors = {}
    for merge in (True, False):
        result = convert_model(
            model,
            mode="int8",
            size=(32, 32),
            representative=calibration,
            merge_skips=merge,
            parity=False,
        )
        tree = flatbuffer.unpack(result.flatbuffer)
        graph = tree.subgraphs[0]
        names = [flatbuffer.op_name(tree, op) for op in graph.operators]
        assert ("ADD" in names) is not merge
        assert ("CONCATENATION" in names) is merge
        assert result.metadata["merged_skips"] == int(merge)
        card_line = " ".join(rounding_lines(result.metadata))
        assert ("1 skip sum(s) rounded once" in card_line) is merge
        if merge:
            (concat,) = [
                op
                for op, name in zip(graph.operators, names, strict=True)
                if name == "CONCATENATION"
            ]
            scales = {
                float(graph.tensors[i].quantization.scale[0])
                for i in (*concat.inputs, *concat.outputs, graph.inputs[0])
            }
            assert len(scales) == 1
        runner = Runner(result.flatbuffer, ["lr"], threads=1)
        errors[merge] = np.mean(
            [np.mean((runner(s) - np.asarray(model(s[0]))) ** 2) for s in calibration]
        )
    assert errors[True] < 0.95 * errors[False]  # 0.85 measured
