"""GPTQ rounding, activation balancing and the image-grid output of int8 files."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convert import flatbuffer
from convert.equalize import balanceable_pairs, equalize
from convert.lowering import lower_transpose_convs
from convert.parity import Runner
from convert.representative import representative_inputs
from convert.rounding import LEVELS, gptq, round_weights
from convert.tflite import convert_model
from zoo import factory, models
from zoo.errors import ZooError


def _error(rounded: np.ndarray, weights: np.ndarray, hessian: np.ndarray) -> float:
    delta = rounded - weights
    return float(np.trace(delta.T @ hessian @ delta))


def test_gptq_lands_on_the_grid_keeps_the_scales_and_beats_nearest():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(40, 120))  # correlated inputs, as neighbouring pixels are
    inputs = np.maximum(rng.normal(size=(4000, 40)) @ mixing, 0)
    hessian = inputs.T @ inputs / len(inputs)
    weights = rng.normal(scale=0.05, size=(120, 6))
    scale = np.abs(weights).max(0) / LEVELS

    rounded = gptq(weights, hessian)

    levels = rounded / scale
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
    assert np.abs(np.round(levels)).max() <= LEVELS
    np.testing.assert_allclose(np.abs(rounded).max(0), np.abs(weights).max(0), rtol=1e-12)
    nearest = np.round(weights / scale) * scale
    assert _error(rounded, weights, hessian) < 0.5 * _error(nearest, weights, hessian)


def test_round_weights_leaves_the_model_and_skips_kernels_a_norm_reads():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="plain")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="normed")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, x)
    before = [w.copy() for w in model.get_weights()]
    samples = [[np.random.default_rng(i).random((1, 16, 16, 3), np.float32)] for i in range(2)]

    rounded, count = round_weights(model, samples)

    assert count == 1
    for original, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(original, now)
    np.testing.assert_array_equal(
        rounded.get_layer("normed").kernel.numpy(), model.get_layer("normed").kernel.numpy()
    )
    kernel = rounded.get_layer("plain").kernel.numpy().reshape(-1, 4)
    levels = kernel / (np.abs(kernel).max(0) / LEVELS)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)


def test_rounding_the_lowered_transposed_convolution_keeps_it_exact_on_its_grid():
    model = factory.get("fsrcnn_x2", weights="default")
    lowered, _, _ = lower_transpose_convs(model)
    samples = representative_inputs(models.info("fsrcnn_x2"), size=(24, 24), count=4)
    rounded, count = round_weights(lowered, samples, fit_activations=False)
    # extract, shrink, map1-4, expand, the lowered deconv and the lowered bilinear skip
    assert count == 9
    x = samples[0][0]
    # On the grid, the layer's output moves little: well under the converter's int8 error.
    gap = np.abs(np.asarray(rounded(x)) - np.asarray(model(x))).max()
    assert gap < 0.01


def _noise_amplifier() -> tuple[keras.Model, list[list[np.ndarray]], list[list[np.ndarray]]]:
    """Two convolutions: the first's channels in near-equal pairs, the second taking their
    differences with large weights (how a trained layer amplifies its input's rounding);
    calibration and held-out samples."""
    rng = np.random.default_rng(0)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="first")(inputs)
    x = keras.layers.Conv2D(1, 3, padding="same", name="second")(x)
    model = keras.Model(inputs, x)
    base = rng.normal(0.3, 0.2, (3, 3, 1, 4))
    twins = base * (1 + 0.05 * rng.normal(size=base.shape))
    model.get_layer("first").set_weights([np.concatenate([base, twins], -1), np.zeros(8)])
    difference = rng.normal(scale=3, size=(3, 3, 4, 1))
    second = np.concatenate([difference, -difference], 2) + rng.normal(0, 0.1, (3, 3, 8, 1))
    model.get_layer("second").set_weights([second, np.zeros(1)])
    images = rng.random((40, 1, 16, 16, 1)).astype(np.float32)
    return model, [[image] for image in images[:32]], [[image] for image in images[32:]]


def test_fitting_to_int8_inputs_brings_the_file_closer_to_keras():
    """Both ways the weights land on the grid; fitted to their int8-rounded inputs, the
    int8 file computes far closer to the float model than with GPTQ on float inputs."""
    model, samples, held_out = _noise_amplifier()
    errors = {}
    for fit in (True, False):
        rounded, count = round_weights(model, samples, fit_activations=fit)
        assert count == 2
        kernel = rounded.get_layer("second").kernel.numpy().reshape(-1, 1)
        levels = kernel / (np.abs(kernel).max(0) / LEVELS)
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
        conversion = convert_model(
            rounded, mode="int8", representative=samples, rounding="nearest", parity=False
        )
        runner = Runner(conversion.flatbuffer, [model.inputs[0].name])
        errors[fit] = np.mean(
            [np.abs(runner(x) - np.asarray(model(x[0]))).mean() for x in held_out]
        )
    assert errors[True] < 0.6 * errors[False]


@pytest.fixture(scope="module")
def fsrcnn_x2_int8():
    """fsrcnn_x2's shipped weights in int8 at 32x32, rounded by GPTQ and by nearest."""
    return {
        rounding: convert_model(
            "fsrcnn_x2", weights="default", mode="int8", size=(32, 32), rounding=rounding
        )
        for rounding in ("gptq", "nearest")
    }


def test_gptq_int8_file_is_closer_to_keras_than_nearest_rounding(fsrcnn_x2_int8):
    gptq_file, nearest_file = fsrcnn_x2_int8["gptq"], fsrcnn_x2_int8["nearest"]
    assert gptq_file.metadata["rounding"] == "gptq"
    assert gptq_file.metadata["rounded_layers"] == 8  # the skip merged into the last one
    assert gptq_file.metadata["balanced_pairs"] == 7  # every ReLU-joined pair of convolutions
    assert nearest_file.metadata["rounded_layers"] == 0
    assert nearest_file.metadata["rounding"] == "nearest"
    assert gptq_file.parity.mean_abs_error < 0.8 * nearest_file.parity.mean_abs_error
    parsed = flatbuffer.check_deployable(gptq_file.flatbuffer)
    assert {t.dtype for t in parsed.input_tensors + parsed.output_tensors} == {"int8"}


def test_best_rounding_keeps_the_file_closer_to_keras(fsrcnn_x2_int8):
    """Both files are made and measured on the calibration samples; the closer is kept and
    computes what that rounding's own file does."""
    best = convert_model(
        "fsrcnn_x2", weights="default", mode="int8", size=(32, 32), rounding="best", parity=False
    )
    errors = best.metadata["rounding_errors"]
    assert set(errors) == {"gptq", "nearest"} and errors["gptq"] < errors["nearest"]
    assert best.metadata["rounding"] == "gptq" and best.metadata["rounded_layers"] == 8
    assert any(note.startswith("kept gptq rounding") for note in best.notes)
    sample = [np.random.default_rng(0).uniform(size=(1, 32, 32, 1)).astype("float32")]
    kept = Runner(best.flatbuffer, ["lr"])(sample)
    np.testing.assert_array_equal(kept, Runner(fsrcnn_x2_int8["gptq"].flatbuffer, ["lr"])(sample))


def test_the_export_card_says_which_rounding_was_kept_and_why():
    from convert.export import rounding_lines

    errors = {"gptq": 2.5e-4, "nearest": 1.5e-5}
    (line,) = rounding_lines(
        {"rounding": "nearest", "rounded_layers": 0, "rounding_errors": errors}
    )
    assert "nearest rounding" in line and "GPTQ 0.00025, nearest 1.5e-05" in line
    assert rounding_lines({"rounding": "nearest", "rounded_layers": 0}) == []
    (line,) = rounding_lines({"rounded_layers": 8, "pixel_output": True, "pixel_inputs": ["lr"]})
    assert "output on the 8-bit image grid" in line and "input lr on its 8-bit levels" in line


def test_an_image_input_and_output_get_the_8bit_grid(fsrcnn_x2_int8):
    for conversion in fsrcnn_x2_int8.values():
        parsed = flatbuffer.read(conversion.flatbuffer)
        # the input with the expand layer's output that a CONCATENATION ties to it
        for tensor in (*parsed.output_tensors, *parsed.input_tensors):
            assert tensor.scales == (pytest.approx(1 / 255),) and tensor.zero_points == (-128,)
        assert conversion.metadata["pixel_output"] is True
        assert conversion.metadata["pixel_inputs"] == ["lr"]


def test_a_narrow_output_keeps_its_calibrated_scale():
    conversion = convert_model("fsrcnn_tiny", mode="int8", size=(16, 16))  # initial weights
    (output,) = flatbuffer.read(conversion.flatbuffer).output_tensors
    assert conversion.metadata["pixel_output"] is False
    assert output.scales[0] != pytest.approx(1 / 255)


def test_balancing_activations_keeps_outputs_and_narrows_the_channel_spread():
    model = factory.get("fsrcnn_x2", weights="default")
    samples = representative_inputs(models.info("fsrcnn_x2"), size=(24, 24), count=4)
    balanced = equalize(model, samples, target="activations")
    x = samples[1][0]
    np.testing.assert_allclose(np.asarray(balanced(x)), np.asarray(model(x)), atol=1e-5)

    def spread(m, name: str) -> float:
        probe = keras.Model(m.inputs, m.get_layer(name).output)
        ranges = np.abs(np.concatenate([np.asarray(probe(s[0])) for s in samples])).max((0, 1, 2))
        live = ranges[ranges > 1e-6]
        return float(live.max() / live.min())

    assert spread(balanced, "expand") < spread(model, "expand")


def test_balancing_leaves_out_consumers_a_norm_reads():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="first")(inputs)
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="second")(x)
    z = keras.layers.Conv2D(4, 3, padding="same", name="third")(y)
    z = keras.layers.BatchNormalization(name="bn")(z)
    pairs = balanceable_pairs(keras.Model(inputs, z))
    assert [(pair.producer, pair.consumer) for pair in pairs] == [("first", "second")]
    with pytest.raises(ZooError, match="needs samples"):
        equalize(keras.Model(inputs, z), None, target="activations")


def test_unknown_rounding_is_an_error():
    with pytest.raises(ZooError, match="unknown rounding"):
        convert_model("fsrcnn_tiny", mode="int8", rounding="stochastic")


def test_a_file_that_keeps_transpose_conv_is_rounded_but_not_balanced():
    conversion = convert_model(
        "fsrcnn_x2", weights="default", mode="int8", size=(16, 16), lowering="none"
    )
    assert conversion.metadata["rounded_layers"] == 7  # the convolutions, not TRANSPOSE_CONV
    assert "balanced_pairs" not in conversion.metadata
    assert "TRANSPOSE_CONV" in flatbuffer.read(conversion.flatbuffer).op_versions
