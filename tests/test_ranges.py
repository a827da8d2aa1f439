"""Narrowed int8 activation ranges (convert.ranges): a clip, the biases kept, the search."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convert import flatbuffer
from convert.parity import Runner
from convert.ranges import narrow_ranges, scale_tensor, tunable_tensors
from convert.tflite import convert_model
from zoo.errors import ZooError


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
    conversion = convert_model(
        model, mode="int8", representative=samples, parity=False, rounding="nearest"
    )
    data = conversion.flatbuffer
    return model, samples, data


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
