"""benchmarks/gpu_sweep.py: the GPU sweep packed here, replayed on a GPU without TensorFlow,
and merged into the accelerators results."""

from __future__ import annotations

import json

from convert.runtime import gpu_device

GPU = gpu_device()


def test_a_packed_sweep_replays_on_the_gpu_and_merges_beside_the_sweep(tmp_path, run_benchmark):
    results, pack = tmp_path / "results", tmp_path / "pack"
    common = ("--models", "fsrcnn_tiny,unet_tiny", "--sizes", "32")
    swept = run_benchmark("accelerators", *common, "--no-latency", "--out", str(results))
    assert swept.returncode == 0, swept.stderr[-2000:]
    packed = run_benchmark("gpu_sweep", "pack", str(pack), *common)
    assert packed.returncode == 0, packed.stderr[-2000:]
    entries = json.loads((pack / "manifest.json").read_text())["files"]
    assert [(e["model"], e["mode"], e["lowering"]) for e in entries] == [
        (model, mode, lowering)
        for model in ("fsrcnn_tiny", "unet_tiny")
        for mode, lowering in (("float32", "auto"), ("float16", "auto"), ("float16", "none"))
    ]
    assert {e["size"] for e in entries} == {"32x32"}
    assert [e["gpu_float32"] for e in entries] == [False] * 3 + [True] * 3
    for entry in entries:
        assert (pack / f"{entry['stem']}.tflite").stat().st_size > 0

    replay = tmp_path / "replay.json"
    replayed = run_benchmark("gpu_sweep", "replay", str(pack), "--out", str(replay))
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    document = json.loads(replay.read_text())
    assert document["device"] == GPU.label() and len(document["rows"]) == len(entries)
    for row in document["rows"]:
        if GPU.available:
            assert row["accepted"] and row["agrees"], row
            assert row["gpu_float32"] == (row["model"] == "unet_tiny")
        else:  # the reason is the device's, never a traceback
            assert not row["accepted"] and row["reason"], row

    merged = run_benchmark("gpu_sweep", "merge", str(replay), "--results", str(results))
    assert merged.returncode == 0, merged.stderr[-2000:]
    table = json.loads((results / "accelerators.json").read_text())["models"]
    for model in ("fsrcnn_tiny", "unet_tiny"):
        sweep = table[model]["gpu_sweep"]
        assert len(sweep) == 3 and all("gpu_real" in entry for entry in sweep)
    markdown = (results / "accelerators.md").read_text()
    assert document["device"] in markdown and "| real GPU |" in markdown
