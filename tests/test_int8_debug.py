"""benchmarks/int8_debug.py: the quantization debugger's per-tensor table, run end to end (tiny)."""

from __future__ import annotations

import json
import math

import numpy as np


def test_int8_debug_writes_per_tensor_statistics(tmp_path, run_benchmark):
    from PIL import Image  # not zoo: this process need not import TensorFlow

    images = tmp_path / "images"
    images.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(images / "one.png")
    out = tmp_path / "out"
    out.mkdir()
    result = run_benchmark(
        "int8_debug",
        "fsrcnn_tiny",
        "--weights",
        "none",
        "--samples",
        "3",
        "--debug-samples",
        "2",
        "--denylist-top",
        "1",
        "--eval-data",
        str(images),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "int8_debug_fsrcnn_tiny.json").read_text())
    rows = report["tensors"]
    # fsrcnn_tiny: 4 convolutions with a PReLU each, then the transposed convolution.
    assert len(rows) == 9
    assert {row["op"] for row in rows} == {"CONV_2D", "PRELU", "TRANSPOSE_CONV"}
    numeric = (
        "num_elements",
        "stddev",
        "mean_squared_error",
        "rmse",
        "scale",
        "float_std",
        "clipped",
        "rmse_over_scale",
        "normalized_error",
        "sqnr_db",
    )
    for row in rows:
        for key in numeric:
            assert isinstance(row[key], int | float) and math.isfinite(row[key]), (key, row)
        assert row["scale"] > 0 and row["num_elements"] > 0
        low, high = row["range"]
        assert low <= 0 <= high and math.isclose(high - low, 255 * row["scale"], rel_tol=1e-6)
    errors = [row["normalized_error"] for row in rows]
    assert errors == sorted(errors, reverse=True)
    assert [row["rank"] for row in rows] == list(range(1, 10))
    assert report["output"]["psnr_vs_float"] > 20
    kept = report["keep_float"]
    assert len(kept) == 1 and kept[0]["tensor"] == rows[0]["tensor"]
    assert math.isfinite(kept[0]["gain_db"])
    task = report["task"]
    assert task["metric"] == "psnr" and math.isfinite(task["int8"]["psnr"])
    markdown = (out / "int8_debug_fsrcnn_tiny.md").read_text()
    assert "| 1 | " in markdown and markdown in result.stdout
    assert not list(out.glob(".partial-*"))


def test_int8_debug_refuses_an_unknown_model(tmp_path, run_benchmark):
    result = run_benchmark("int8_debug", "no_such_model", "--out", str(tmp_path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: unknown model 'no_such_model'")
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())
