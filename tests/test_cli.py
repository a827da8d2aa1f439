"""The `zoo` command through click's CliRunner: output, JSON, and one-line errors."""

import json
from pathlib import Path

from click.testing import CliRunner

import zoo
from zoo.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_list_shows_every_model_with_its_contract():
    result = invoke("list")
    assert result.exit_code == 0, result.output
    for name in zoo.list_models():
        assert name in result.output
    assert "lr:HxWx1 -> 3Hx3Wx1" in result.output
    assert "12,809" in result.output  # fsrcnn_x3's parameter count
    rows = {line.split()[0]: line for line in result.output.splitlines()[2:]}
    psnr = zoo.pretrained.manifest("fsrcnn_x3")["metrics"]["psnr"]
    assert rows["fsrcnn_x3"].endswith(f"psnr {psnr:.4g}")  # measured on the shipped weights
    assert rows["fsrcnn_tiny"].endswith(" -")  # nothing shipped


def test_list_filters_and_prints_json():
    result = invoke("list", "fsrcnn_x*", "--exclude", "*x4", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == ["fsrcnn_x2", "fsrcnn_x3"]
    assert rows[1]["num_params"] == zoo.info("fsrcnn_x3").num_params
    assert rows[1]["recipe"]["options"]["scale"] == 3
    assert rows[1]["default_weights"] == {
        "psnr": zoo.pretrained.manifest("fsrcnn_x3")["metrics"]["psnr"]
    }
    tiny = json.loads(invoke("list", "fsrcnn_tiny", "--json").output)
    assert tiny[0]["default_weights"] is None


def test_info_prints_metadata_and_layers():
    result = invoke("info", "fsrcnn_tiny")
    assert result.exit_code == 0, result.output
    assert "super_resolve" in result.output
    assert "Conv2DTranspose" in result.output
    data = json.loads(invoke("info", "fsrcnn_tiny", "--json").output)
    assert data["task"] == "super_resolve"
    assert sum(layer["params"] for layer in data["layers"]) == data["num_params"]


def test_build_runs_a_forward_pass():
    result = invoke("build", "fsrcnn_tiny")
    assert result.exit_code == 0, result.output
    assert "128x128x1" in result.output and "256x256x1" in result.output
    assert "built 1 models" in result.output


def test_user_errors_are_one_line_with_nonzero_exit():
    for args in (["info", "fsrcnn_x33"], ["list", "no_such_*"], ["build", "nothing*"]):
        result = invoke(*args)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "closest: fsrcnn_x3" in invoke("info", "fsrcnn_x33").output


def test_data_lists_and_loads_datasets(tmp_path):
    listing = invoke("data")
    assert listing.exit_code == 0, listing.output
    for name in ("digits", "shapes", "photos", "mnist"):
        assert name in listing.output
    digits = invoke("data", "digits", "--split", "test", "--image-size", "16")
    assert digits.exit_code == 0, digits.output
    assert "digits/test: 359 images 16x16x1, 10 classes" in digits.output
    empty = invoke("data", str(tmp_path))
    assert empty.exit_code == 1
    assert len(empty.output.strip().splitlines()) == 1


def test_cli_choices_match_the_library():
    """The CLI offers exactly the library's names; only the strategies are a copy (zoo.train
    loads Keras, which --help must not)."""
    from convert import delegates, export, tflite
    from zoo.cli.deploy import check_command, convert_command, export_command
    from zoo.cli.training import train_command
    from zoo.train.config import STRATEGIES

    def choices(command, name):
        (param,) = [param for param in command.params if param.name == name]
        return tuple(param.type.choices)

    assert choices(convert_command, "mode") == tflite.MODES
    assert choices(convert_command, "lowering") == tflite.LOWERINGS
    assert choices(check_command, "mode") == tflite.MODES
    assert choices(check_command, "targets") == delegates.TARGETS
    assert choices(export_command, "target") == export.TARGETS
    assert choices(train_command, "strategy") == STRATEGIES


def test_demo_trains_converts_checks_benchmarks_and_points_to_the_grid(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", "--model", "dae_tiny", "--epochs", "1", "--out", str(out), "--runs", "2"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    for step in ("1/5 train", "2/5 evaluate", "3/5 convert", "4/5 check", "5/5 benchmark"):
        assert any(line.startswith(step) for line in lines), step
    tflite = out / "dae_tiny_int8.tflite"
    assert tflite.is_file() and (out / "dae_tiny_int8.json").is_file()
    assert "fully integer: yes" in result.output
    assert any(" int8 " in line and "XNNPACK" in line for line in lines)
    grid = Path(lines[-1].removeprefix("sample grid: "))
    assert lines[-1].startswith("sample grid: ") and grid.is_file() and grid.parent.parent == out


def test_the_command_keeps_native_log_lines_off_stderr_unless_verbose(tmp_path):
    """TensorFlow's start-up lines bypass TF_CPP_MIN_LOG_LEVEL; `zoo` filters them itself."""
    import os
    import subprocess
    import sys

    command = Path(sys.executable).parent / "zoo"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    args = ["train", "dae_tiny", "--epochs", "1", "--steps-per-epoch", "1", "--quiet"]
    quiet = subprocess.run(
        [str(command), *args, "--out", str(tmp_path / "quiet")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr == "" and quiet.stdout.strip() == str(tmp_path / "quiet")
    verbose = subprocess.run(
        [str(command), "--verbose", "build", "dae_tiny"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert verbose.returncode == 0 and "cpu_feature_guard" in verbose.stderr, verbose.stderr


def test_native_log_lines_are_told_from_the_zoos_own():
    from zoo.logs import is_noise

    noise = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"I0000 00:00:1796398548.440448   21972 port.cc:153] oneDNN custom operations are on.\n",
        b"W0000 00:00:1796398548.440448   21972 cudart_stub.cc:31] Could not find cuda drivers\n",
        b"E0000 00:00:1796396539.397851    7254 cuda_platform.cc:52] failed call to cuInit: X\n",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        b"WARNING: [npu_registry.cc:34] NPU accelerator could not be loaded and registered\n",
        "\u2514 Could not load shared library libLiteRtCompilerPlugin.so\n".encode(),
    ]
    kept = [
        b"Error: unknown model 'nonsense'; see `zoo list`\n",
        b"E0000 00:00:1796396539.397851    7254 gpu_delegate.cc:99] failed to apply\n",
        b"Traceback (most recent call last):\n",
        b"/work/zoo/train/loop.py:10: UserWarning: skipped unreadable image file a.png\n",
    ]
    assert all(is_noise(line) for line in noise)
    assert not any(is_noise(line) for line in kept)
