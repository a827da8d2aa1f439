"""benchmarks/accelerators.py: latency before and after lowering and the per-size parity
sweep, run end to end on a tiny model."""

from __future__ import annotations

import json


def test_accelerators_benchmark_writes_latency_and_the_sweep(tmp_path, run_benchmark):
    result = run_benchmark(
        "accelerators",
        "--models",
        "fsrcnn_tiny",
        "--sizes",
        "16,32",
        "--runs",
        "2",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads((tmp_path / "accelerators.json").read_text())["models"]["fsrcnn_tiny"]
    assert row["lowered"] == 1
    latency = row["latency"]
    assert latency["keras"] > 0 and latency["float32_all_cores"]["ms"] > 0
    for mode in ("float32", "float16", "int8"):
        assert latency[mode]["plain"] > 0 and latency[mode]["lowered"] > 0
    sizes = {entry["size"] for entry in row["gpu_sweep"]}
    assert sizes == {"16x16", "32x32"}
    for entry in row["gpu_sweep"]:
        assert entry["cpu"]["accepted"] and entry["cpu"]["agrees"], entry
        if entry["lowering"] == "auto" and "gpu" in entry:  # a Vulkan device here
            assert entry["gpu"]["agrees"] and entry["gpu"]["fully_accelerated"], entry
    markdown = (tmp_path / "accelerators.md").read_text()
    assert (
        "| fsrcnn_tiny | 1 |" in markdown
        and "| fsrcnn_tiny | 16x16 | float32 lowered |" in markdown
    )
    assert markdown in result.stdout


def test_a_disagreement_is_flagged_in_the_table():
    from benchmarks.accelerators import error_cell

    entry = {"accepted": True, "fully_accelerated": True, "relative_error": 1.02e-4}
    assert error_cell({**entry, "agrees": True}) == "0.0102%"
    assert error_cell({**entry, "agrees": False}) == "0.0102% (over tolerance)"
    assert error_cell({**entry, "fully_accelerated": False, "agrees": None}).endswith(
        "(not fully accelerated)"
    )
