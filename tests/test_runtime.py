"""Files run on LiteRT's real accelerators: CPU (XNNPACK) always, GPU (ML Drift over WebGPU)
where a Vulkan device exists (a GPU's driver, or SwiftShader from Debian's chromium-common,
which ``.ci/run`` installs). The GPU tests skip, with the reason, where there is none."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from convert import flatbuffer
from convert.runtime import (
    Device,
    _answer,
    devices,
    gpu_device,
    log_reason,
    measure,
    run_file,
)
from convert.tflite import convert_model, info_from_model
from zoo.cli import main

GPU = gpu_device()
needs_gpu = pytest.mark.skipif(not GPU.available, reason=f"no GPU accelerator: {GPU.reason}")


def _single_transpose(size: int, kernel: int = 9, stride: int = 3) -> keras.Model:
    """The smallest model that shows the GPU accelerator's TRANSPOSE_CONV fault."""
    inputs = keras.Input((size, size, 4), batch_size=1, name="image")
    layer = keras.layers.Conv2DTranspose(1, kernel, strides=stride, padding="same", name="up")
    model = keras.Model(inputs, layer(inputs), name="single_transpose")
    rng = np.random.default_rng(0)
    layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


def _measure_model(model, lowering: str, accelerators=("cpu", "gpu")):
    shape = (1, *model.input_shape[1:])
    samples = [[np.random.default_rng(i).uniform(0, 1, shape).astype(np.float32)] for i in (1, 2)]
    result = convert_model(model, mode="float32", lowering=lowering, representative=samples)
    info = info_from_model(model)
    return measure(
        result.flatbuffer, model=model, info=info, samples=samples, accelerators=accelerators
    )


# === What the machine offers ===


def test_cpu_is_always_there_and_every_accelerator_says_why_not():
    found = {device.accelerator: device for device in devices()}
    assert set(found) == {"cpu", "gpu", "npu"}
    assert found["cpu"].available
    for device in found.values():
        assert device.available or (device.reason and "\n" not in device.reason)


def test_a_missing_vulkan_loader_is_a_reason(monkeypatch):
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    device = gpu_device()
    assert not device.available and "libvulkan" in device.reason


def test_a_gpu_node_without_a_usable_driver_falls_back_to_swiftshader(monkeypatch):
    """A /dev/dri node with only Mesa's lavapipe ICD (too old for WebGPU) is no GPU driver:
    SwiftShader serves where installed; with a real driver's ICD the system's is used."""
    import glob
    import os

    from convert import runtime

    if not any(os.path.exists(icd) for icd in runtime.SWIFTSHADER_ICDS):
        pytest.skip("SwiftShader (Debian's chromium-common) is not installed")
    monkeypatch.delenv("VK_ICD_FILENAMES", raising=False)
    real_exists, real_glob = os.path.exists, glob.glob
    monkeypatch.setattr(
        runtime.os.path, "exists", lambda p: p == "/dev/dri/renderD128" or real_exists(p)
    )
    icds = ["/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"]
    monkeypatch.setattr(
        runtime.glob, "glob", lambda p: icds if "vulkan/icd.d" in p else real_glob(p)
    )
    assert gpu_device().software
    icds.append("/usr/share/vulkan/icd.d/nvidia_icd.json")
    device = gpu_device()
    assert not device.software and device.device == "the system's Vulkan driver"


def test_importing_convert_and_the_runtime_leaves_tensorflow_unloaded():
    """``convert.check`` and ``convert.measure`` of a file need no TensorFlow: importing the
    package (lowering included, which is Keras) must not load it."""
    code = (
        "import sys, convert, convert.runtime, convert.tflite; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


# === The CPU accelerator ===


def test_cpu_run_matches_keras_and_is_timed():
    model = _single_transpose(8, kernel=4, stride=2)
    report = _measure_model(model, "auto", accelerators=("cpu",))
    (run,) = report.runs
    assert run.accepted and run.fully_accelerated
    assert run.relative_error < 1e-5 and run.agrees
    assert run.median_ms is not None and run.median_ms > 0
    report.require()


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_a_file_litert_cannot_load_is_one_line_and_strict_fails(tmp_path, mode):
    """A parseable file whose op version no kernel has: refused by every accelerator, and
    ``zoo check --strict`` exits 1 with one line (the rules alone passed such files)."""
    data = convert_model("fsrcnn_tiny", mode=mode, parity=False).flatbuffer
    tree = flatbuffer.unpack(data)
    tree.operatorCodes[0].version = 99
    path = tmp_path / "future.tflite"
    path.write_bytes(flatbuffer.pack(tree, len(data)))
    result = CliRunner().invoke(main, ["check", str(path), "--strict"])
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "version '99'" in error[0], result.output
    assert "Traceback" not in result.output


def test_a_crashed_runtime_is_a_verdict_not_a_crash():
    crashed = subprocess.CompletedProcess([], -11, stdout="", stderr="Segmentation fault\n")
    assert _answer(crashed) == {"accepted": False, "reason": "the runtime crashed (signal 11)"}


def test_unavailable_device_is_not_run_and_not_a_failure():
    device = Device("gpu", "ML Drift", "none", False, "no Vulkan device")
    run, outputs = run_file(b"", [], device)
    assert not run.available and outputs == []
    assert run.verdict() == "not run: no Vulkan device"


def test_log_reason_names_the_op_or_the_error():
    refused = "ERROR: Following operations are not supported by GPU delegate:\n" + (
        "TRANSPOSE_CONV: Max version supported: 3. Requested version 4.\n"
    )
    assert log_reason(refused).startswith("TRANSPOSE_CONV: Max version supported: 3")
    no_device = (
        "Warning: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER\n"
        "ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: "
        "INTERNAL: No adapters found\n"
    )
    assert log_reason(no_device).endswith("No adapters found (no usable Vulkan device)")
    assert log_reason("INFO: all good\n") is None


def test_convert_records_the_measured_accelerators():
    result = convert_model("fsrcnn_tiny", mode="float16", accelerators=True)
    entry = result.metadata["accelerators"]["cpu"]
    assert entry["accepted"] and entry["agrees"]
    assert result.accelerators.runs[0].accelerator == "cpu"


def test_quantized_files_are_judged_against_litert_builtin_kernels():
    """int8 kernels may each round their own way: an int8 file's runs must match LiteRT's
    builtin kernels on the same file (mean error); the error against Keras is reported."""
    result = convert_model("fsrcnn_tiny", mode="int8", accelerators=True)
    cpu = result.accelerators.runs[0]
    assert cpu.judge == "LiteRT builtin kernels" and cpu.statistic == "mean"
    assert cpu.agrees and cpu.relative_error is not None
    assert "vs LiteRT builtin kernels" in cpu.verdict() and "vs Keras" in cpu.verdict()
    float_file = convert_model("fsrcnn_tiny", mode="float16", accelerators=True)
    cpu = float_file.accelerators.runs[0]
    assert (
        cpu.judge == "Keras" and cpu.statistic == "max" and cpu.judged_error == cpu.relative_error
    )


def test_cli_convert_strict_prints_measured_rows(tmp_path):
    out = tmp_path / "tiny.tflite"
    result = CliRunner().invoke(
        main, ["convert", "fsrcnn_tiny", "--mode", "float16", "--out", str(out), "--strict"]
    )
    assert result.exit_code == 0, result.output
    assert "measured on this machine's LiteRT accelerators" in result.output
    assert "cpu (XNNPACK" in result.output


# === The GPU accelerator (ML Drift) ===


@needs_gpu
def test_gpu_runs_a_lowered_file_right():
    report = _measure_model(_single_transpose(16), "auto", accelerators=("gpu",))
    (run,) = report.runs
    assert run.accepted and run.fully_accelerated, run.verdict()
    assert run.agrees, run.verdict()


@needs_gpu
@pytest.mark.xfail(
    strict=True,
    reason="LiteRT 2.3's GPU accelerator (ML Drift) computes TRANSPOSE_CONV k9 s3 'same' on "
    "a 16x16 input wrong (error about the output's range; right at 32x32), on SwiftShader and "
    "on a real GPU alike (an NVIDIA H200's Vulkan driver: benchmarks/results/accelerators.md): "
    "the reason every file is lowered. When this passes, LiteRT has fixed it.",
)
def test_gpu_transpose_conv_k9_s3_same_on_16x16():
    report = _measure_model(_single_transpose(16), "none", accelerators=("gpu",))
    (run,) = report.runs
    assert run.accepted and run.agrees, run.verdict()


@needs_gpu
def test_gpu_refuses_transpose_conv_version_4_with_its_reason():
    data = convert_model("fsrcnn_tiny", mode="float32", lowering="none", parity=False).flatbuffer
    tree = flatbuffer.unpack(data)
    schema = flatbuffer._schema()
    for code in tree.operatorCodes:
        if schema.BuiltinOperator.TRANSPOSE_CONV in (code.builtinCode, code.deprecatedBuiltinCode):
            code.version = 4
    report = measure(flatbuffer.pack(tree, len(data)), accelerators=("gpu",))
    (run,) = report.runs
    assert not run.accepted and "Max version supported: 3" in run.reason


@needs_gpu
@pytest.mark.parametrize(
    ("name", "size"), [("fsrcnn_tiny", (16, 16)), ("fcn_tiny", (32, 64)), ("unet_tiny", (64, 64))]
)
def test_tiny_models_compute_right_on_the_gpu_at_several_sizes(name, size):
    info = zoo.info(name)
    result = convert_model(name, mode="float16", size=size, accelerators=True)
    gpu = result.metadata["accelerators"]["gpu"]
    assert gpu["accepted"] and gpu["fully_accelerated"], gpu["verdict"]
    assert gpu["agrees"], gpu["verdict"]
    assert result.metadata["inputs"][0]["shape"][1:3] == list(size)
    # U-Net needs float32 arithmetic on a GPU (measured on a real one): it runs so there
    assert ("float32 arithmetic" in gpu["device"]) == info.gpu_float32 == (name == "unet_tiny")
    assert result.metadata.get("gpu_float32", False) == info.gpu_float32


def _per_channel_bias(*, bias_first: bool) -> keras.Model:
    """An image plus a (1, 1, 1, C) bias made from a second input: the non-blind deblurring
    models' kernel conditioning, at its smallest."""
    image = keras.Input((16, 16, 3), batch_size=1, name="image")
    code = keras.Input((5, 5, 1), batch_size=1, name="code")
    features = keras.layers.Conv2D(8, 3, padding="same", name="features")(image)
    bias = keras.layers.Conv2D(8, 5, name="bias")(code)
    summed = keras.layers.Add()([bias, features] if bias_first else [features, bias])
    outputs = keras.layers.Conv2D(3, 3, padding="same", name="out")(keras.layers.ReLU()(summed))
    model = keras.Model([image, code], outputs, name="per_channel_bias")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype("f4") for w in layer.weights])
    return model


def _int8_gpu_run(model):
    return _int8_run(model, "gpu")


def _int8_cpu_run(model):
    return _int8_run(model, "cpu")


def _int8_run(model, accelerator: str):
    rng = np.random.default_rng(0)
    samples = [
        [rng.uniform(0, 1, (1, *t.shape[1:])).astype(np.float32) for t in model.inputs]
        for _ in range(8)
    ]
    result = convert_model(model, mode="int8", representative=samples, parity=False)
    info = info_from_model(model)
    report = measure(
        result.flatbuffer, model=model, info=info, samples=samples, accelerators=(accelerator,)
    )
    return report.runs[0]


def test_int8_calibration_feeds_each_input_by_name():
    # "image" and "code" sort the other way round: the converter's own order of the inputs
    run = _int8_cpu_run(_per_channel_bias(bias_first=True))
    assert run.accepted and run.fully_accelerated and run.agrees, run.verdict()
    assert run.relative_error < 0.05, run.verdict()


@needs_gpu
def test_gpu_int8_add_with_the_broadcast_operand_first_is_right():
    run = _int8_gpu_run(_per_channel_bias(bias_first=True))
    assert run.accepted and run.fully_accelerated and run.agrees, run.verdict()


@needs_gpu
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="LiteRT's GPU accelerator (ML Drift, on SwiftShader) computes an int8 ADD of "
    "(1, H, W, C) + (1, 1, 1, C) wrong (error about the output's range), and right with the "
    "operands swapped: the deblurring models add their kernel biases first. When this "
    "passes, LiteRT has fixed it.",
)
def test_gpu_int8_add_with_the_broadcast_operand_second():
    run = _int8_gpu_run(_per_channel_bias(bias_first=False))
    assert run.accepted and run.agrees, run.verdict()


@needs_gpu
@pytest.mark.parametrize("mode", ["float16", "int8"])
def test_non_blind_deblurring_runs_right_on_the_gpu(mode):
    result = convert_model("deblur_nonblind_tiny", mode=mode, size=(32, 48), accelerators=True)
    gpu = result.metadata["accelerators"]["gpu"]
    assert gpu["accepted"] and gpu["fully_accelerated"] and gpu["agrees"], gpu["verdict"]
    assert [entry["name"] for entry in result.metadata["inputs"]] == ["blurred", "kernel"]
