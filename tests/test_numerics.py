"""benchmarks/numerics.py: quality per precision of a shipped model, run end to end (small)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _numerics_module():
    """benchmarks/numerics.py imported in this process."""
    spec = importlib.util.spec_from_file_location("numerics", ROOT / "benchmarks" / "numerics.py")
    numerics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(numerics)
    return numerics


def test_numerics_measures_every_precision_of_a_shipped_model(tmp_path, run_benchmark):
    result = run_benchmark(
        "numerics",
        "dae_digits",
        "--qat-steps",
        "3",
        "--limit",
        "6",
        "--runs",
        "2",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = json.loads((tmp_path / "numerics.json").read_text())
    row = table["models"]["dae_digits"]
    assert row["metric"] == "psnr" and row["higher_is_better"] and row["limit"] == 6
    modes = ("keras", "float16", "dynamic", "int8", "int8_qat")
    assert set(row["metrics"]) == set(modes)
    keras_psnr = row["metrics"]["keras"]["psnr"]
    input_psnr = row["metrics"]["keras"]["psnr_input"]
    assert keras_psnr > input_psnr + 5  # the shipped denoiser denoises
    assert abs(row["metrics"]["float16"]["psnr"] - keras_psnr) < 0.05
    for mode in ("dynamic", "int8", "int8_qat"):
        assert input_psnr < row["metrics"][mode]["psnr"] < keras_psnr + 0.5, mode
    sizes = row["file_bytes"]
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert row["latency_ms"]["float32"] > 0 and row["latency_ms"]["int8"] > 0
    assert row["delegates"]["float16"]["gpu"] == "all ops"
    assert row["delegates"]["int8"]["fully_integer"] is True
    gpu = row["gpu_measured"]
    assert gpu["device"].startswith("gpu")
    if gpu["available"]:  # a Vulkan device here: the float16 file runs right on the GPU
        assert gpu["accepted"] and gpu["agrees"] and gpu["fully_accelerated"], gpu["verdict"]
    else:
        assert gpu["verdict"].startswith("not run: ")
    markdown = (tmp_path / "numerics.md").read_text()
    assert "| dae_digits | psnr (digits) |" in markdown and markdown in result.stdout
    assert not list(tmp_path.glob(".partial-*"))


def test_numerics_refuses_a_model_without_shipped_weights(tmp_path, run_benchmark):
    result = run_benchmark("numerics", "unet_tiny", "--out", str(tmp_path))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]  # after TensorFlow's C++ start-up lines
    assert last.startswith("Error: unet_tiny has no shipped weights")
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_numerics_keeps_rows_another_run_wrote_while_it_measured(tmp_path, monkeypatch):
    numerics = _numerics_module()
    committed = json.loads((ROOT / "benchmarks" / "results" / "numerics.json").read_text())
    rows = committed["models"]
    results = tmp_path / "numerics.json"
    results.write_text(json.dumps({"machine": {}, "models": {"cae_digits": rows["cae_digits"]}}))

    def measure_while_another_run_writes(name, **_):
        # another numerics run finishes meanwhile and writes its own row
        others = {"cae_digits": rows["cae_digits"], "unet": rows["unet"]}
        results.write_text(json.dumps({"machine": {}, "models": others}))
        return rows[name]

    monkeypatch.setattr(numerics, "measure", measure_while_another_run_writes)
    numerics.main(["dae_digits", "--out", str(tmp_path)])
    table = json.loads(results.read_text())["models"]
    assert sorted(table) == ["cae_digits", "dae_digits", "unet"]
    markdown = (tmp_path / "numerics.md").read_text()
    assert "| unet |" in markdown and "| dae_digits |" in markdown


def test_a_row_measured_without_qat_has_no_qat_figures():
    numerics = _numerics_module()
    row = json.loads((ROOT / "benchmarks" / "results" / "numerics.json").read_text())
    row = row["models"]["dae_digits"]
    del row["metrics"]["int8_qat"]  # what --qat-steps 0 measures
    keras_psnr, int8_psnr = (row["metrics"][m]["psnr"] for m in ("keras", "int8"))
    assert numerics.int8_cost(row) == {"int8": round(keras_psnr - int8_psnr, 4)}
    line = numerics.markdown({"dae_digits": row}, "host").splitlines()[-1]
    assert line.split(" | ")[6] == "—"  # the int8 QAT column
    assert line.split(" | ")[7].endswith(" / —")


def test_accelerators_only_refreshes_the_gpu_entry_and_keeps_the_rest(tmp_path, run_benchmark):
    committed = json.loads((ROOT / "benchmarks" / "results" / "numerics.json").read_text())
    row = {k: v for k, v in committed["models"]["dae_digits"].items() if k != "gpu_measured"}
    (tmp_path / "numerics.json").write_text(
        json.dumps({"machine": {}, "models": {"dae_digits": row}})
    )
    result = run_benchmark("numerics", "dae_digits", "--accelerators-only", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = json.loads((tmp_path / "numerics.json").read_text())["models"]["dae_digits"]
    assert fresh["metrics"] == row["metrics"] and "gpu_measured" in fresh
    assert "GPU measured (f16)" in (tmp_path / "numerics.md").read_text()
