"""benchmarks/quantization_study.py: float vs int8 per up-block, end to end on tiny runs.

fsrcnn_tiny trained two steps in each ``upsample=`` mode, evaluated on one 256x256 crop
(its low-resolution input is the export size, so optimize reuses its export-size files),
two QAT steps on eight images: the figures mean nothing, the files and their fields do.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.registry import UPSAMPLE_MODES

ROOT = Path(__file__).resolve().parents[1]
MODEL = "fsrcnn_tiny"
MODES = ("keras", "float16", "dynamic", "int8", "int8_qat")


@pytest.fixture(scope="module")
def study_main():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import quantization_study
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return quantization_study.main


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from zoo.train import train

    folder = tmp_path_factory.mktemp("runs")
    arms = {mode: {"upsample": mode} for mode in UPSAMPLE_MODES}
    arms["transpose+residual"] = {"residual": True}
    return {
        arm: train(
            MODEL,
            epochs=1,
            steps_per_epoch=2,
            batch_size=4,
            out=folder / arm,
            quiet=True,
            options={"crops_per_image": 8},
            overrides=overrides,
        )
        for arm, overrides in arms.items()
    }


@pytest.fixture(scope="module")
def eval_folder(tmp_path_factory) -> Path:
    from PIL import Image

    from zoo import data

    folder = tmp_path_factory.mktemp("eval")
    crop = data.load("photos", split="test", image_size=256, limit=1).images[0]
    Image.fromarray(np.round(crop * 255).astype(np.uint8)).save(folder / "crop.png")
    return folder


def _error(main, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    return str(raised.value)


def test_writes_both_files_with_finite_metrics(study_main, runs, eval_folder, tmp_path, capsys):
    results = tmp_path / "results"
    study_main(
        [
            "--model",
            MODEL,
            *(f"--run={mode}={path}" for mode, path in runs.items()),
            "--eval-data",
            str(eval_folder),
            "--qat-steps",
            "2",
            "--data-limit",
            "8",
            "--results",
            str(results),
        ]
    )
    document = json.loads((results / "quantization_study.json").read_text())
    markdown = (results / "quantization_study.md").read_text()
    assert capsys.readouterr().out.rstrip().endswith(markdown.rstrip().splitlines()[-1])
    assert document["settings"]["model"] == MODEL
    rows = {row["arm"]: row for row in document["rows"]}
    assert list(rows) == ["transpose", "transpose+residual", "resize_conv", "subpixel"]
    for mode, row in rows.items():
        assert row["metric"] == "psnr"
        assert list(row["metrics"]) == list(MODES), mode
        for values in row["metrics"].values():
            assert math.isfinite(values["psnr"]), (mode, values)
        assert set(row["cost"]) == set(MODES) - {"keras"}
        assert all(math.isfinite(cost) for cost in row["cost"].values())
        sizes = row["bytes"]
        assert set(sizes) == {"float32", *MODES} - {"keras"}
        # int8 weights are a quarter of float32's, but a post-training int8 file computes
        # each PReLU from two ReLU halves (twice those weights) and its 5x5 first layer on
        # 2x2 blocks (36 taps per phase, 4 phases, for 25), and at ~1k parameters the
        # flatbuffer's own overhead (per-channel scales, more tensors) is most of a file.
        assert sizes["int8"] < 2 * sizes["float32"], sizes
        assert f"| {mode} |" in markdown
    assert "int8 PTQ cost (dB)" in markdown


def test_bad_runs_are_one_line_errors(study_main, runs, tmp_path):
    results = ["--model", MODEL, "--results", str(tmp_path / "results")]
    unknown = _error(study_main, [*results, "--run", f"deconv={runs['transpose']}"])
    assert unknown.startswith("Error: unknown up-block 'deconv'") and "\n" not in unknown
    missing = _error(study_main, [*results, "--run", f"subpixel={tmp_path / 'nowhere'}"])
    assert missing.startswith("Error: subpixel:") and "not found" in missing
    assert "\n" not in missing
    shape = _error(study_main, [*results, "--run", "resize_conv"])
    assert shape.startswith("Error: --run takes MODE=PATH") and "\n" not in shape
    mixed = [f"--run=transpose={runs['transpose']}", f"--run=subpixel={runs['transpose']}"]
    wrong = _error(study_main, [*results, *mixed])
    assert "trained as transpose, not subpixel" in wrong and "\n" not in wrong
    plain = _error(
        study_main,
        [
            *results,
            f"--run=transpose={runs['transpose']}",
            f"--run=transpose+residual={runs['transpose']}",
        ],
    )
    assert "trained as transpose, not transpose+residual" in plain
    unshipped = _error(study_main, [*results, f"--run=subpixel={runs['subpixel']}"])
    assert unshipped.startswith("Error: transpose: fsrcnn_tiny has no shipped weights")
    assert not (tmp_path / "results").exists()
