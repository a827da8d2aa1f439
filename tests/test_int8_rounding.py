"""benchmarks/int8_rounding.py: int8 cost per rounding method, run end to end on one image."""

from __future__ import annotations

import json
import math

import numpy as np


def test_int8_rounding_compares_the_methods(tmp_path, run_benchmark):
    from PIL import Image  # not zoo: this process need not import TensorFlow
    from skimage import data

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.asarray(data.astronaut())[200:248, 180:228]).save(images / "face.png")
    out = tmp_path / "out"
    out.mkdir()
    folder = str(images)
    result = run_benchmark(
        "int8_rounding",
        "fsrcnn_s_x3",
        "--sr-data",
        folder,
        "--unseen-data",
        folder,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads((out / "int8_rounding.json").read_text())["models"]["fsrcnn_s_x3"]
    assert set(row["cost"]) == {"nearest", "nearest + CLE", "GPTQ + CLE", "GPTQ"}
    for costs in row["cost"].values():
        assert set(costs) == {"Set5", "unseen", "Set5, 8-bit LR"}
        assert all(math.isfinite(c) for c in costs.values())
    # 8-bit input: Keras loses a little (it no longer sees the unrounded image).
    assert row["keras"]["Set5, 8-bit LR"] != row["keras"]["Set5"]
    # The converter's nearest rounding costs this model dB; GPTQ most of them back.
    assert row["cost"]["GPTQ"]["Set5"] < 0.5 * row["cost"]["nearest"]["Set5"]
    table = (out / "int8_rounding.md").read_text()
    assert "| fsrcnn_s_x3 | Set5 |" in table and "| fsrcnn_s_x3 | unseen |" in table
    assert "| fsrcnn_s_x3 | Set5, 8-bit LR |" in table
    assert result.stdout.strip().endswith(table.strip().splitlines()[-1])


def test_int8_rounding_refuses_a_model_without_shipped_sr_weights(run_benchmark):
    result = run_benchmark("int8_rounding", "unet")
    assert result.returncode != 0
    assert "no shipped super-resolution weights for unet" in result.stderr
