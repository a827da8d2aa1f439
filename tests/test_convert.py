"""TFLite conversion: every registered model in every mode, the file rules, parity, errors.

Every float16 file must run whole on the GPU delegate and every int8 file must be integer
from input to output, as ``zoo check`` reads them.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from convert import flatbuffer
from convert.delegates import check
from convert.equalize import equalize, find_pairs
from convert.flatbuffer import SIGNATURE_KEY, check_deployable
from convert.parity import Runner
from convert.tflite import MODES, convert_model, to_tflite
from zoo.cli import main
from zoo.errors import UnknownModelError, ZooError

# Minimum Keras-vs-TFLite PSNR (dB, over the output's value range) per mode, on the
# models' own data at their initial weights. Float32 is exact up to summation order.
MIN_PSNR = {"float32": 100.0, "float16": 55.0, "dynamic": 40.0, "int8": 35.0, "int16x8": 45.0}
CALIBRATION_SAMPLES = 8  # enough to calibrate in tests; the default is 32


def _convert(name: str, mode: str):
    return convert_model(name, mode=mode, representative_count=CALIBRATION_SAMPLES)


DELEGATE_MODES = ("float16", "int8")  # the modes whose files the delegate claims rest on
LARGE_PARAMS = 10_000_000  # above this, a conversion takes minutes on a 2-core CPU


def _cases() -> list:
    """Every registered model in every mode; the default run keeps the quick ones.

    Tiny variants run in every mode; full models run float16 and int8 (the GPU and NPU
    files) unless they are large. The rest is marked slow: ``pytest -m slow``.
    """
    cases = []
    for name in zoo.list_models():
        info = zoo.info(name)
        for mode in MODES:
            quick = info.tiny or (mode in DELEGATE_MODES and info.num_params <= LARGE_PARAMS)
            marks = () if quick else (pytest.mark.slow,)
            cases.append(pytest.param(name, mode, marks=marks, id=f"{name}-{mode}"))
    return cases


@pytest.mark.parametrize(("name", "mode"), _cases())
def test_every_model_converts_in_every_mode(name, mode):
    info = zoo.info(name)
    result = _convert(name, mode)
    parsed = flatbuffer.read(result.flatbuffer)

    # The file rules: batch 1, static shapes, builtins only, and every transposed
    # convolution lowered to CONV_2D (+ DEPTH_TO_SPACE where strided).
    check_deployable(result.flatbuffer)
    assert not any(op.custom for op in parsed.operators)
    assert all(t.shape[0] == 1 for t in (*parsed.input_tensors, *parsed.output_tensors))
    assert "TRANSPOSE_CONV" not in parsed.op_versions
    if not info.baseline:
        assert result.metadata["lowered"] >= 1

    # A named signature, and the model's metadata inside the file.
    (signature,) = parsed.signatures
    assert signature.key == SIGNATURE_KEY
    assert sorted(signature.inputs) == sorted(spec.name for spec in info.inputs)
    assert list(signature.outputs) == [info.output.name]
    metadata = parsed.zoo_metadata
    assert metadata["name"] == name and metadata["task"] == info.task and metadata["mode"] == mode
    assert metadata["inputs"][0]["value_range"] == list(info.inputs[0].value_range)
    assert metadata["outputs"][0]["value_range"] == list(info.output.value_range)

    io_types = {t.dtype for t in (*parsed.input_tensors, *parsed.output_tensors)}
    assert io_types == ({"int8"} if mode == "int8" else {"float32"})
    if mode == "int8":
        assert all("quantization" in entry for entry in metadata["inputs"] + metadata["outputs"])

    # What the delegates take, read from the file (convert.delegates' rules).
    report = check(result.flatbuffer, measure=False)
    if mode == "float16":
        gpu = report.target("gpu")
        assert gpu.supported and gpu.partitions == 1, gpu.verdict()
    if mode == "int8":
        assert report.fully_integer, report.float_ops

    parity = result.parity
    assert parity.samples > 0 and np.isfinite(parity.max_abs_error)
    assert parity.psnr >= MIN_PSNR[mode], parity.summary()
    assert metadata["parity"]["psnr"] == pytest.approx(parity.psnr)


def test_residual_fsrcnn_keeps_every_op_on_the_delegates_and_equalizes():
    model = zoo.get("fsrcnn_tiny", residual=True)
    int8 = convert_model(model, mode="int8", info=zoo.info("fsrcnn_tiny"), representative_count=8)
    report = check(int8.flatbuffer, measure=False)
    assert report.fully_integer, report.float_ops
    assert report.target("nnapi").supported and report.target("nnapi").partitions == 1
    ops = [op.name for op in flatbuffer.read(int8.flatbuffer).operators]
    assert "TRANSPOSE_CONV" not in ops and "ADD" not in ops  # the skip merged, then lowered
    assert ops.count("CONCATENATION") == 1
    # the lowered transposed convolution's pixel shuffle, and the 5x5 first layer's blocks
    assert ops.count("DEPTH_TO_SPACE") == 2 and ops.count("SPACE_TO_DEPTH") == 1
    float16 = convert_model(model, mode="float16", info=zoo.info("fsrcnn_tiny"))
    gpu = check(float16.flatbuffer, measure=False).target("gpu")
    assert gpu.supported and gpu.partitions == 1, gpu.verdict()
    assert [pair.consumer for pair in find_pairs(model)][-1] == "deconv"  # not the skip


# === The TRANSPOSE_CONV trap ===


def _transpose_relu_model() -> keras.Model:
    """Conv2DTranspose with a non-zero bias, then ReLU: what a trained up-block looks like."""
    inputs = keras.Input((8, 8, 4), name="image")
    up = keras.layers.Conv2DTranspose(8, 4, strides=2, padding="same", name="up")
    outputs = keras.layers.ReLU()(up(inputs))
    model = keras.Model(inputs, outputs, name="transpose_relu")
    up.bias.assign(np.linspace(-0.5, 0.5, 8).astype("float32"))
    return model


def test_converter_fuses_relu_into_transpose_conv_and_the_file_is_mended():
    """With ``lowering="none"`` (the Edge TPU's form) TRANSPOSE_CONV stays, and the file
    is mended to version 3."""
    import tensorflow as tf

    model = _transpose_relu_model()
    # What the converter does on its own: one op, version 4, ReLU fused.
    static = keras.Model(inputs := keras.Input(batch_shape=(1, 8, 8, 4)), model(inputs))
    raw = tf.lite.TFLiteConverter.from_keras_model(static).convert()
    raw_ops = flatbuffer.read(raw).operators
    assert [(op.name, op.version, op.fused_activation) for op in raw_ops] == [
        ("TRANSPOSE_CONV", 4, "RELU")
    ]

    samples = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 4)).astype("float32")
    float_file = convert_model(model, mode="float32", lowering="none")
    # Float: the activation becomes its own op and the convolution drops to version 3.
    assert [(op.name, op.version, op.fused_activation) for op in _ops(float_file)] == [
        ("TRANSPOSE_CONV", 3, "NONE"),
        ("RELU", 1, "NONE"),
    ]
    assert float_file.notes == ["un-fused 1 TRANSPOSE_CONV activation(s)"]
    assert float_file.parity.psnr > 100

    # int8: the output's quantized range starts at zero (zero point -128), so the kernel's
    # clamp is the ReLU; the flag goes and no op is added. Parity shows nothing was lost.
    int8_file = convert_model(model, mode="int8", representative=samples, lowering="none")
    (conv,) = [op for op in _ops(int8_file) if op.name == "TRANSPOSE_CONV"]
    assert (conv.version, conv.fused_activation) == (3, "NONE")
    assert "RELU" not in [op.name for op in _ops(int8_file)]
    parsed = flatbuffer.read(int8_file.flatbuffer)
    assert parsed.operator_outputs(conv)[0].quantization[1] == -128
    assert int8_file.parity.psnr > 35


def _ops(result) -> list:
    return list(flatbuffer.read(result.flatbuffer).operators)


# === Options ===


def test_size_fixes_a_fully_convolutional_model():
    parsed = flatbuffer.read(to_tflite("fsrcnn_tiny", size=(24, 40)))
    assert parsed.input_tensors[0].shape == (1, 24, 40, 1)
    assert parsed.output_tensors[0].shape == (1, 48, 80, 1)


def test_size_of_a_fixed_size_model_must_match():
    with pytest.raises(ZooError, match="fixed size"):
        to_tflite("cae_tiny", size=(32, 32))


def test_int8_with_float_io_keeps_float_input_and_output():
    parsed = flatbuffer.read(
        to_tflite("fsrcnn_tiny", mode="int8", float_io=True, representative_count=4)
    )
    assert [t.dtype for t in parsed.input_tensors + parsed.output_tensors] == ["float32"] * 2
    conv_inputs = [
        parsed.operator_inputs(op)[0].dtype for op in parsed.operators if op.name == "CONV_2D"
    ]
    assert set(conv_inputs) == {"int8"}


def test_a_model_outside_the_registry_needs_representative_data_for_int8():
    model = _transpose_relu_model()
    assert flatbuffer.read(to_tflite(model)).input_tensors[0].shape == (1, 8, 8, 4)
    with pytest.raises(ZooError, match="representative data"):
        to_tflite(model, mode="int8")


def test_representative_data_of_the_wrong_shape_is_an_error():
    with pytest.raises(ZooError, match=r"does not fit the model input \(128, 128, 1\)"):
        to_tflite("fsrcnn_tiny", mode="int8", representative=np.zeros((4, 16, 16, 1)))


def test_unknown_mode_and_model_are_errors():
    with pytest.raises(ZooError, match="unknown mode 'int4'"):
        to_tflite("fsrcnn_tiny", mode="int4")
    with pytest.raises(UnknownModelError):
        to_tflite("fsrcnn_x5")


def test_runner_refuses_inputs_of_another_shape():
    runner = Runner(to_tflite("fsrcnn_tiny"), ["lr"])
    with pytest.raises(ZooError, match="the file takes"):
        runner([np.zeros((1, 16, 16, 1), np.float32)])


# === Cross-layer equalization ===


def _uneven(model: keras.Model, seed: int = 0) -> keras.Model:
    """Random weights whose output channels differ in range by up to ~30x each way."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for weight in layer.weights:
            shape = weight.shape
            if weight.path.endswith("alpha"):
                value = rng.uniform(0.0, 0.5, shape)
            elif weight.path.endswith(("kernel", "bias")):
                value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[:-1]) or 1), shape)
                value = value * 10 ** rng.uniform(-1.5, 1.5, shape[-1])
            else:
                continue
            weight.assign(value.astype("float32"))
    return model


def _images(count: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, *shape)).astype("float32")


@pytest.mark.parametrize("data_free", [False, True], ids=["samples", "data-free"])
def test_equalize_keeps_outputs_and_leaves_the_model_alone(data_free):
    model = _uneven(zoo.get("fsrcnn_tiny"))
    before = [w.copy() for w in model.get_weights()]
    x = _images(4, (16, 16, 1))
    equalized = equalize(model, None if data_free else [[x[i : i + 1]] for i in range(4)])

    assert [str(p) for p in find_pairs(model)] == [
        "extract -> extract_prelu -> shrink",
        "shrink -> shrink_prelu -> map1",
        "map1 -> map1_prelu -> expand",
        "expand -> expand_prelu -> deconv",
    ]
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert equalized.name == model.name and equalized.count_params() == model.count_params()
    expected, actual = np.asarray(model(x)), np.asarray(equalized(x))
    np.testing.assert_allclose(actual, expected, atol=1e-5 * np.abs(expected).max())
    changed = {
        w.path
        for w, a, b in zip(model.weights, before, equalized.get_weights(), strict=True)
        if not np.allclose(a, b)
    }
    # Every convolution kernel moves; PReLU slopes and the last bias never do.
    assert {"extract/kernel", "shrink/kernel", "map1/kernel", "deconv/kernel"} <= changed
    assert not any(path.endswith(("alpha", "deconv/bias")) for path in changed)


def test_equalize_handles_every_kernel_layout():
    """Conv2DTranspose -> LeakyReLU -> DepthwiseConv2D -> ReLU -> Conv2D(groups 1)."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same", name="up")(inputs)
    x = keras.layers.LeakyReLU(0.1, name="leaky")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    outputs = keras.layers.Conv2D(2, 1, name="out")(x)
    model = _uneven(keras.Model(inputs, outputs, name="layouts"))
    x = _images(2, (8, 8, 3))

    assert [str(p) for p in find_pairs(model)] == ["up -> leaky -> dw", "dw -> relu -> out"]
    for samples in ([[x]], None):
        expected, actual = np.asarray(model(x)), np.asarray(equalize(model, samples)(x))
        np.testing.assert_allclose(actual, expected, atol=1e-5 * np.abs(expected).max())


def test_equalize_skips_what_it_cannot_equalize():
    """BatchNormalization, ReLU6, tanh, a branch, an Add: no pair; espcn's tanh: none."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu_a")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="b")(x)
    x = keras.layers.ReLU(max_value=6.0, name="relu6")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="c", activation="tanh")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="d")(x)
    x = keras.layers.ReLU(name="relu_d")(x)
    left = keras.layers.Conv2D(2, 1, name="left")(x)
    right = keras.layers.Conv2D(2, 1, name="right")(x)
    skips = _uneven(keras.Model(inputs, keras.layers.Add()([left, right]), name="skips"))

    for model in (skips, _uneven(zoo.get("espcn_tiny"))):
        assert find_pairs(model) == []
        equalized = equalize(model, [[_images(2, (8, 8, 1))]])
        assert all(
            np.array_equal(a, b)
            for a, b in zip(model.get_weights(), equalized.get_weights(), strict=True)
        )


def _badly_scaled() -> keras.Model:
    """Conv -> PReLU -> Conv -> PReLU -> Conv2DTranspose, one channel's range moved 30x
    from the second conv's weights into the first conv's output (the same function)."""
    inputs = keras.Input((16, 16, 1), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="first")(inputs)
    x = keras.layers.PReLU(shared_axes=[1, 2], name="first_prelu")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="second")(x)
    x = keras.layers.PReLU(shared_axes=[1, 2], name="second_prelu")(x)
    outputs = keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same", name="up")(x)
    model = keras.Model(inputs, outputs, name="badly_scaled")
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype("float32"))
    first, second = model.get_layer("first"), model.get_layer("second")
    first.kernel.assign(first.kernel.numpy() * np.r_[30.0, np.ones(7)].astype("float32"))
    first.bias.assign(first.bias.numpy() * np.r_[30.0, np.ones(7)].astype("float32"))
    second.kernel.assign(second.kernel.numpy() / np.r_[30.0, np.ones(7)][:, None].astype("float32"))
    return model


def test_equalize_improves_int8_parity_of_a_badly_scaled_model():
    model = _badly_scaled()
    before = [w.copy() for w in model.get_weights()]
    samples = _images(8, (16, 16, 1))
    # The converter's own rounding, with and without equalization (the default's GPTQ and
    # activation balancing have tests of their own: tests/test_rounding.py).
    settings = {"mode": "int8", "representative": samples, "rounding": "nearest"}
    plain = convert_model(model, **settings)
    equalized = convert_model(model, **settings, equalize=True)

    # Parity is against the caller's model, which the conversion left alone.
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert equalized.parity.psnr > plain.parity.psnr + 6, (plain.parity, equalized.parity)
    assert equalized.metadata["equalized"] is True and "equalized" not in plain.metadata
    assert equalized.metadata["weights_sha256"] == plain.metadata["weights_sha256"]
    assert equalized.notes[0].startswith("equalized 2 layer pair(s)")


def test_equalize_refuses_a_quantization_aware_model():
    with pytest.raises(ZooError, match="before quantization-aware training"):
        convert_model(_badly_scaled(), mode="int8", quantization_aware=True, equalize=True)


# === CLI ===


def test_cli_convert_writes_the_file_and_its_metadata(tmp_path):
    out = tmp_path / "fsrcnn.tflite"
    result = CliRunner().invoke(
        main, ["convert", "fsrcnn_tiny", "--mode", "int8", "--samples", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "parity vs Keras (4 inputs)" in result.output and "PSNR" in result.output
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata == flatbuffer.read(out).zoo_metadata
    assert metadata["inputs"][0]["dtype"] == "int8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fsrcnn.json", "fsrcnn.tflite"]
    # the default rounding made the GPTQ and the nearest file and kept the closer
    errors = metadata["rounding_errors"]
    assert metadata["rounding"] == min(errors, key=errors.get)
    assert f"kept {metadata['rounding']} rounding" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fsrcnn_x5", "--out", "{tmp}/a.tflite"], "unknown model"),
        (["fsrcnn_tiny", "--out", "{tmp}/missing/a.tflite"], "does not exist"),
        (["fsrcnn_tiny", "--size", "0x4", "--out", "{tmp}/a.tflite"], "positive integers"),
        (["fsrcnn_tiny", "--mode", "int4", "--out", "{tmp}/a.tflite"], "int4"),
        (["dcgan_tiny", "--size", "64", "--out", "{tmp}/a.tflite"], "takes no image input"),
        (
            ["fsrcnn_tiny", "--mode", "float16", "--float-io", "--out", "{tmp}/a.tflite"],
            "float i/o is for integer files",
        ),
    ],
)
def test_cli_convert_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["convert", *args])
    assert result.exit_code != 0
    assert message in result.output.lower()
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")  # after click's usage
    assert list(tmp_path.rglob("*.tflite")) == []


def test_cli_convert_equalize_records_it_in_the_metadata(tmp_path):
    out = tmp_path / "fsrcnn.tflite"
    args = ["convert", "fsrcnn_tiny", "--mode", "int8", "--equalize", "--samples", "4"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "equalized 4 layer pair(s)" in result.output
    metadata = flatbuffer.read(out).zoo_metadata
    assert metadata["equalized"] is True and len(metadata["equalized_pairs"]) == 4


def test_cli_convert_at_a_size_the_model_cannot_take_is_one_line(tmp_path):
    """unet_tiny's skips line up only at multiples of 4: 7x7 is one clear line, no file."""
    out = tmp_path / "unet.tflite"
    result = CliRunner().invoke(main, ["convert", "unet_tiny", "--size", "7x7", "--out", str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: unet_tiny cannot run on inputs of 7x7")
    assert "Concatenate" in lines[0] and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())
