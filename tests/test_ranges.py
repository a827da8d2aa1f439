"""int8 activation ranges (convert.ranges): narrowed (a clip, the biases kept, the search) and
an image input pinned to its 8-bit levels."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convert import flatbuffer
from convert.parity import Runner
from convert.ranges import narrow_ranges, pin_input_levels, scale_tensor, tunable_tensors
from convert.tflite import convert_model
from zoo.errors import ZooError
from zoo.registry import TensorSpec

EIGHT_BIT = TensorSpec("image", (8, 8, 3), levels=256)


def _two_layer_model() -> keras.Model:
    """ReLU convolution -> 1x1 convolution; both with biases, so a lost bias shows."""
    inputs = keras.Input((8, 8, 3), name="image")
    hidden = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Conv2D(2, 1, name="mix")(hidden)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def two_layer_int8():
    model = _two_layer_model()
    samples = [[np.random.default_rng(i).random((1, 8, 8, 3), np.float32)] for i in range(8)]
    # nearest rounding: no balancing, so the file's hidden tensor is the Keras layer's output
    return model, samples, _int8_file(model, samples)


def _run(data: bytes, sample) -> np.ndarray:
    return Runner(data, ["image"])(sample)


def test_narrowing_clips_the_activation_and_keeps_the_readers_biases(two_layer_int8):
    model, samples, data = two_layer_int8
    tree = flatbuffer.unpack(data)
    (index,) = tunable_tensors(tree)
    quant = tree.subgraphs[0].tensors[index].quantization
    zero_point, scale = quant.zeroPoint[0], quant.scale[0]
    ceiling = (127 - zero_point) * scale * 0.5

    scale_tensor(tree, index, 0.5)
    narrowed = flatbuffer.pack(tree)

    # The Keras model whose hidden ReLU stops at the new range's top: what the file computes.
    hidden = model.get_layer("hidden")
    capped = keras.layers.ReLU(max_value=ceiling)(
        keras.layers.Conv2D(6, 3, padding="same")(model.input)
    )
    capped_model = keras.Model(model.input, keras.layers.Conv2D(2, 1)(capped))
    capped_model.set_weights(hidden.get_weights() + model.get_layer("mix").get_weights())
    for sample in samples[:3]:
        plain, clipped = model(sample[0]).numpy(), capped_model(sample[0]).numpy()
        assert np.abs(plain - clipped).max() > 0.1  # the cap matters for these inputs
        file_output = _run(narrowed, sample)
        assert np.abs(file_output - clipped).max() < 0.1 * np.abs(plain - clipped).max()


def test_narrowing_and_widening_back_restores_the_file(two_layer_int8):
    _, samples, data = two_layer_int8
    tree = flatbuffer.unpack(data)
    (index,) = tunable_tensors(tree)
    scale_tensor(tree, index, 0.5)
    scale_tensor(tree, index, 2.0)
    restored = flatbuffer.pack(tree)
    for sample in samples[:2]:
        np.testing.assert_array_equal(_run(restored, sample), _run(data, sample))


def test_outputs_and_inputs_are_never_tuned(two_layer_int8):
    _, _, data = two_layer_int8
    tree = flatbuffer.unpack(data)
    graph = tree.subgraphs[0]
    tunable = tunable_tensors(tree)
    assert not set(tunable) & (set(graph.inputs) | set(graph.outputs))


def test_the_search_keeps_only_factors_that_lower_the_error(two_layer_int8):
    model, samples, data = two_layer_int8
    references = [model(s[0]).numpy() for s in samples]

    def error(candidate: bytes) -> float:
        outputs = [_run(candidate, s) for s in samples]
        return float(
            np.mean([np.mean((o - r) ** 2) for o, r in zip(outputs, references, strict=True)])
        )

    tuned, kept = narrow_ranges(data, error)
    assert error(tuned) <= error(data)
    assert all(0 < n.factor < 1 for n in kept)
    assert (tuned == data) == (not kept)

    unchanged, none_kept = narrow_ranges(data, lambda candidate: float(candidate != data))
    assert unchanged == data and none_kept == []


def test_convert_model_records_the_narrowed_ranges():
    conversion = convert_model("fsrcnn_tiny", mode="int8", size=(16, 16), ranges="tuned")
    narrowed = conversion.metadata["narrowed_ranges"]
    assert isinstance(narrowed, dict)
    assert all(0 < factor < 1 for factor in narrowed.values())
    flatbuffer.check_deployable(conversion.flatbuffer)
    calibrated = convert_model("fsrcnn_tiny", mode="int8", size=(16, 16))
    assert calibrated.metadata["narrowed_ranges"] == {}


def test_unknown_ranges_is_an_error():
    with pytest.raises(ZooError, match="unknown ranges"):
        convert_model("fsrcnn_tiny", mode="int8", ranges="percentile")


def test_cli_convert_takes_tuned_ranges(tmp_path):
    from click.testing import CliRunner

    from zoo.cli import main

    out = tmp_path / "tiny.tflite"
    args = ["convert", "fsrcnn_tiny", "--mode", "int8", "--size", "16x16", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--ranges", "tuned", "--no-accelerators"])
    assert result.exit_code == 0, result.output
    assert "narrowed_ranges" in flatbuffer.read(out).zoo_metadata
    refused = CliRunner().invoke(main, [*args, "--ranges", "percentile"])
    assert refused.exit_code != 0 and "percentile" in refused.output


def _eight_bit_samples(count: int, top: float, seed: int = 0) -> list[list[np.ndarray]]:
    """Images on the 8-bit levels k / 255, none above ``top`` (as a Y channel stops at 235)."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, round(top * 255) + 1, (count, 1, 8, 8, 3))
    return [[(level / 255).astype(np.float32)] for level in levels]


def _mean_error(data: bytes, model, samples) -> float:
    return float(np.mean([np.abs(_run(data, s) - model(s[0]).numpy()).mean() for s in samples]))


def _int8_file(model, samples) -> bytes:
    """Calibrated on ``samples``, nearest rounding (no balancing, no GPTQ)."""
    return convert_model(
        model, mode="int8", representative=samples, parity=False, rounding="nearest"
    ).flatbuffer


def _pinned(data: bytes, spec: TensorSpec = EIGHT_BIT) -> tuple[bool, bytes]:
    tree = flatbuffer.unpack(data)
    done = pin_input_levels(tree, 0, spec)
    return done, flatbuffer.pack(tree)


def test_an_8bit_input_is_held_on_its_levels():
    model = _two_layer_model()
    samples = _eight_bit_samples(16, top=0.9)
    data = _int8_file(model, samples)
    (calibrated,) = flatbuffer.read(data).input_tensors
    assert calibrated.scales[0] == pytest.approx(0.9 / 255, rel=0.01)  # 8-bit values re-rounded

    done, pinned = _pinned(data)
    assert done
    (tensor,) = flatbuffer.read(pinned).input_tensors
    levels = np.arange(256)
    stored = np.round(levels / 255 / tensor.scales[0]) + tensor.zero_points[0]
    np.testing.assert_array_equal(stored, levels - 128)  # every 8-bit value exactly
    # Only the input's rounding changed (the readers' biases kept their real values), so on
    # 8-bit images the file is closer to Keras.
    assert _mean_error(pinned, model, samples) < _mean_error(data, model, samples)


def _concatenating_model() -> keras.Model:
    """A ReLU convolution's output concatenated with the image it read, then a 1x1
    convolution (FSRCNN x2's skip merged into its last layer); the hidden values stay below
    the image's, so the converter's shared concatenation range is the image's."""
    inputs = keras.Input((8, 8, 3), name="image")
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="hidden")(inputs)
    joined = keras.layers.Concatenate()([hidden, inputs])
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="mix")(joined))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(scale=0.05, size=w.shape) for w in model.get_weights()])
    return model


def test_tensors_a_concatenation_ties_to_the_input_move_with_it():
    model = _concatenating_model()
    samples = _eight_bit_samples(16, top=0.9)
    data = _int8_file(model, samples)
    done, pinned = _pinned(data)
    assert done
    parsed = flatbuffer.read(pinned)
    (concatenation,) = [op for op in parsed.operators if op.name == "CONCATENATION"]
    tied = [*parsed.operator_inputs(concatenation), *parsed.operator_outputs(concatenation)]
    assert len(tied) == 3
    assert all(t.scales[0] == pytest.approx(1 / 255, rel=1e-6) for t in tied)
    assert _mean_error(pinned, model, samples) < _mean_error(data, model, samples)


def test_an_input_is_left_as_calibrated_where_pinning_would_not_hold_its_levels():
    model = _two_layer_model()
    narrow = _eight_bit_samples(16, top=0.5)  # half the levels: pinning would halve precision
    data = _int8_file(model, narrow)
    assert _pinned(data) == (False, data)
    wide = _int8_file(model, _eight_bit_samples(16, top=0.9))
    assert _pinned(wide, TensorSpec("image", (8, 8, 3))) == (False, wide)  # no levels named


def test_convert_model_pins_a_super_resolution_input():
    conversion = convert_model("fsrcnn_tiny", mode="int8", size=(16, 16))
    assert conversion.metadata["pixel_inputs"] == ["lr"]
    (tensor,) = flatbuffer.read(conversion.flatbuffer).input_tensors
    assert tensor.scales[0] == pytest.approx(1 / 255, rel=1e-6)
    assert convert_model("fsrcnn_tiny", mode="float16").metadata["pixel_inputs"] == []
