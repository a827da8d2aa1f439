"""benchmarks/activation_bits.py: int8 against int16x8 activations, end to end on a tiny run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_sr(tmp_path_factory) -> tuple[Path, Path]:
    """(run folder, image folder): fsrcnn_tiny after four steps, two 64x64 test crops."""
    from PIL import Image

    from zoo import data
    from zoo.train import train

    root = tmp_path_factory.mktemp("bits")
    run = train(
        "fsrcnn_tiny", epochs=1, steps_per_epoch=4, batch_size=4, out=root / "run", quiet=True
    )
    folder = root / "images"
    folder.mkdir()
    for i, crop in enumerate(data.load("photos", split="test", image_size=64, limit=2).images):
        Image.fromarray(np.round(crop * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return run, folder


def test_measures_int8_and_int16x8_against_keras(tiny_sr, tmp_path, run_benchmark):
    run, images = tiny_sr
    args = ("fsrcnn_tiny", "--weights", str(run), "--data", str(images), "--out", str(tmp_path))
    result = run_benchmark("activation_bits", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads((tmp_path / "activation_bits.json").read_text())["models"]["fsrcnn_tiny"]
    assert row["metric"] == "psnr" and row["weights"] == str(run)
    values = row["values"]
    assert set(values) == {"keras", "int8", "int16x8"}
    assert all(math.isfinite(value) for value in values.values())
    for mode in ("int8", "int16x8"):
        assert row["cost"][mode] == pytest.approx(values["keras"] - values[mode], abs=2e-4)
        assert row["file_bytes"][mode] > 1000
    # int16 activations are the finer grid: never worse than int8 by more than noise
    assert row["cost"]["int16x8"] <= row["cost"]["int8"] + 0.05
    assert row["int16x8_delegates"]["qnn"] == "all ops"
    assert "fall back" in row["int16x8_delegates"]["nnapi"]  # no int16 kernels there
    markdown = (tmp_path / "activation_bits.md").read_text()
    assert "| fsrcnn_tiny | psnr (images) |" in markdown
    assert result.stdout.rstrip().endswith(markdown.rstrip().splitlines()[-1])


def test_a_missing_data_folder_is_a_one_line_error_and_writes_nothing(tmp_path, run_benchmark):
    result = run_benchmark(
        "activation_bits", "fsrcnn_tiny", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"Error: no evaluation folder {tmp_path}/nope"
    assert not list(tmp_path.glob("activation_bits.*"))
