"""The phone bundle: `zoo export` writes the file for the target, its card and golden data."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from convert import flatbuffer
from convert.export import export, load_card, run_on_device, verify
from convert.tflite import convert_model
from zoo.cli import main
from zoo.errors import ZooError

RUNS = 3


def test_android_gpu_bundle_is_float16_and_gpu_clean(tmp_path):
    out = export("fsrcnn_tiny", target="android-gpu", out=tmp_path / "gpu", runs=RUNS)
    card = load_card(out)
    assert card["mode"] == "float16" and card["file"] == "fsrcnn_tiny_float16.tflite"
    assert card["metadata"]["rounding"] is None  # a float file rounds no weights
    assert sorted(p.name for p in out.iterdir()) == [
        "RUN_ON_DEVICE.md",
        "fsrcnn_tiny_float16.json",
        "fsrcnn_tiny_float16.tflite",
        "golden_input_lr.npy",
        "golden_output.npy",
        "model_card.json",
        "model_card.md",
    ]
    assert card["delegate"]["target"] == "gpu"
    assert card["delegate"]["report"]["targets"]["gpu"]["supported"]
    assert card["size_bytes"] == (out / card["file"]).stat().st_size
    assert flatbuffer.read(out / card["file"]).zoo_metadata["mode"] == "float16"
    # The golden input is a real sample at the file's input shape; this host reproduces it.
    golden = np.load(out / "golden_input_lr.npy")
    assert golden.shape == (1, 128, 128, 1) and golden.dtype == np.float32 and golden.std() > 0
    assert verify(out) == 0.0
    text = (out / "RUN_ON_DEVICE.md").read_text()
    assert "Accelerator.GPU" in text and "fsrcnn_tiny_float16.tflite" in text
    assert "--use_gpu=true" in text
    assert "float32 arithmetic" not in text  # FSRCNN is right in the GPU's float16
    assert "| float16 | 1 |" in (out / "model_card.md").read_text()
    # The GPU bundle's file is lowered (CONV_2D + DEPTH_TO_SPACE), and the card says so.
    assert card["lowering"]["mode"] == "auto" and card["lowering"]["lowered"] == 1
    assert "TRANSPOSE_CONV" not in flatbuffer.read(out / card["file"]).op_versions
    assert "lowered to CONV_2D + DEPTH_TO_SPACE" in (out / "model_card.md").read_text()


def test_npu_bundle_is_full_int8_with_quantized_golden_inputs(tmp_path):
    out = export("cgan_tiny", target="android-npu", out=tmp_path / "npu", runs=RUNS)
    card = load_card(out)
    assert card["mode"] == "int8"
    assert card["delegate"]["report"]["fully_integer"]
    for name in ("z", "label"):
        assert np.load(out / f"golden_input_{name}.npy").dtype == np.int8
    assert np.load(out / "golden_output.npy").dtype == np.int8
    assert card["golden"]["tolerance"] == 1
    assert verify(out) == 0.0
    # Its weights were rounded by GPTQ (the convolutions no BatchNormalization reads).
    assert card["metadata"]["rounding"] == "gptq" and card["metadata"]["rounded_layers"] == 2
    assert "2 layer(s) rounded by GPTQ" in (out / "model_card.md").read_text()


def test_cpu_bundle_is_the_fastest_file_measured(tmp_path):
    out = export("dae_tiny", target="cpu", out=tmp_path / "cpu", runs=RUNS)
    card = load_card(out)
    latency = card["host_latency"]
    assert sorted(latency) == ["dynamic", "float32", "int8"]
    assert card["mode"] == min(latency, key=lambda mode: latency[mode]["median_ms"])
    assert [p.name for p in out.glob("*.tflite")] == [card["file"]]
    assert card["lowering"]["mode"] == "cpu"  # float files' phases on their own for XNNPACK


def test_existing_folder_is_kept_unless_forced(tmp_path, monkeypatch):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ZooError, match="--force"):
        export("fsrcnn_tiny", target="ios-gpu", out=out, runs=RUNS)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    out.chmod(0o750)
    export("fsrcnn_tiny", target="android-npu", out=out, runs=RUNS, force=True)
    assert (out / "fsrcnn_tiny_int8.tflite").is_file()
    export("fsrcnn_tiny", target="ios-gpu", out=out, runs=RUNS, force=True)
    assert (out / "notes.txt").read_text() == "mine", "--force replaces only the bundle's files"
    assert sorted(p.name for p in out.glob("*.tflite")) == ["fsrcnn_tiny_float16.tflite"]
    assert not (out / "fsrcnn_tiny_int8.json").exists()
    assert "MetalDelegate" in (out / "RUN_ON_DEVICE.md").read_text()
    assert out.stat().st_mode & 0o777 == 0o750, "the folder keeps its permissions"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no staging folder left
    fresh = export("fsrcnn_tiny", target="ios-gpu", out=tmp_path / "fresh", runs=RUNS)
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o777 & ~umask, "a new bundle is not private"
    monkeypatch.chdir(out)  # --out . names the folder it is run in
    export("fsrcnn_tiny", target="ios-gpu", out=".", runs=RUNS, force=True)
    assert (out / "notes.txt").is_file() and (out / "model_card.json").is_file()


def test_cli_export_prints_the_verdict(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "export",
            "fsrcnn_tiny",
            "--target",
            "edgetpu",
            "--out",
            str(tmp_path / "e"),
            "--runs",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fsrcnn_tiny_int8.tflite: int8" in result.output
    assert "edgetpu:" in result.output
    card = json.loads((tmp_path / "e" / "model_card.json").read_text())
    assert "edgetpu_compiler" in (tmp_path / "e" / "RUN_ON_DEVICE.md").read_text()
    assert card["target"] == "edgetpu"
    # The Edge TPU compiler maps no DEPTH_TO_SPACE: its file keeps TRANSPOSE_CONV.
    assert card["lowering"]["mode"] == "none"
    ops = flatbuffer.read(tmp_path / "e" / card["file"]).op_versions
    assert "DEPTH_TO_SPACE" not in ops and ops["TRANSPOSE_CONV"] <= 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fsrcnn_tiny", "--target", "android-tpu", "--out", "{tmp}/b"], "android-tpu"),
        (["fsrcnn_x9", "--target", "cpu", "--out", "{tmp}/b"], "unknown model"),
        (["fsrcnn_tiny", "--target", "cpu", "--out", "{tmp}/missing/b"], "does not exist"),
    ],
)
def test_cli_export_errors_are_one_line(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["export", *args])
    assert result.exit_code != 0
    assert message in result.output.lower()
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_needs_float32_on_the_gpu_says_how_to_ask_for_it():
    metadata = convert_model("deconvnet_tiny", mode="float16", parity=False).metadata
    assert metadata["gpu_float32"] is True
    golden = {"inputs": {"image": "golden_input_image.npy"}, "output": "golden_output.npy"}
    golden |= {"output_dtype": "float32", "tolerance": 0.02}
    card = {"file": "deconvnet_tiny_float16.tflite", "golden": golden, "metadata": metadata}
    for target in ("android-gpu", "ios-gpu"):
        text = run_on_device({**card, "target": target})
        assert "needs float32 arithmetic on the GPU" in text and "enforce_f32" in text
    assert "float32 arithmetic" not in run_on_device({**card, "target": "cpu"})
