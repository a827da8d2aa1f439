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
from convert.tflite import (
    MODES,
    SIGNATURE_KEY,
    Runner,
    check_deployable,
    convert_model,
    to_tflite,
)
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

    # The file rules: batch 1, static shapes, builtins only, GPU-takeable TRANSPOSE_CONV.
    check_deployable(result.flatbuffer)
    assert not any(op.custom for op in parsed.operators)
    assert all(t.shape[0] == 1 for t in (*parsed.input_tensors, *parsed.output_tensors))
    if not info.baseline:
        assert parsed.op_versions["TRANSPOSE_CONV"] <= 3
    assert all(
        op.fused_activation == "NONE" for op in parsed.operators if op.name == "TRANSPOSE_CONV"
    )

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
    float_file = convert_model(model, mode="float32")
    # Float: the activation becomes its own op and the convolution drops to version 3.
    assert [(op.name, op.version, op.fused_activation) for op in _ops(float_file)] == [
        ("TRANSPOSE_CONV", 3, "NONE"),
        ("RELU", 1, "NONE"),
    ]
    assert float_file.notes == ["un-fused 1 TRANSPOSE_CONV activation(s)"]
    assert float_file.parity.psnr > 100

    # int8: the output's quantized range starts at zero (zero point -128), so the kernel's
    # clamp is the ReLU; the flag goes and no op is added. Parity shows nothing was lost.
    int8_file = convert_model(model, mode="int8", representative=samples)
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fsrcnn_x5", "--out", "{tmp}/a.tflite"], "unknown model"),
        (["fsrcnn_tiny", "--out", "{tmp}/missing/a.tflite"], "does not exist"),
        (["fsrcnn_tiny", "--size", "0x4", "--out", "{tmp}/a.tflite"], "positive integers"),
        (["fsrcnn_tiny", "--mode", "int4", "--out", "{tmp}/a.tflite"], "int4"),
    ],
)
def test_cli_convert_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["convert", *args])
    assert result.exit_code != 0
    assert message in result.output.lower()
    assert "Traceback" not in result.output
    assert list(tmp_path.rglob("*.tflite")) == []
