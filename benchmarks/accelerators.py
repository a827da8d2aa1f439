"""Every shipped model on the real accelerators: latency before and after lowering, GPU parity
per size.

For each full model with shipped weights (or ``--models``):

- **Latency**, one run, XNNPACK at 1 thread (``convert.bench.bench_file``: a fresh process
  per file, median of ``--runs``): Keras ``model(x)`` at batch 1 (``convert.bench.bench_keras``)
  against its float32, float16 and int8 files, each converted with ``lowering="none"``
  (TRANSPOSE_CONV) and ``lowering="cpu"`` (CONV_2D + DEPTH_TO_SPACE; int8 PReLUs split as
  XNNPACK needs them); and the lowered
  float32 file at as many threads as the machine has cores, as TensorFlow runs Keras.
- **Parity on the accelerators** (``convert.runtime.measure``): the lowered float32 and float16
  files at each size of ``--sizes`` the model converts at (fixed-size models: their own), run
  on LiteRT's CPU and GPU accelerators on 2 inputs from the model's data, max |error| against
  Keras as a share of the output range; the plain float16 file beside it, for reference.

Writes ``benchmarks/results/accelerators.{json,md}`` (rows of other models are kept) and prints
the Markdown.

    python benchmarks/accelerators.py [--models a,b] [--sizes 16,32,64,96,128] [--runs 20]
        [--no-latency | --no-sweep]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("float32", "float16", "int8")
# "plain": TRANSPOSE_CONV kept; "lowered": as `zoo export --target cpu` writes it (for
# int8 that also splits PReLUs, which XNNPACK has no int8 kernel for).
LOWERINGS = {"plain": "none", "lowered": "cpu"}


def shipped_models() -> list[str]:
    from zoo import pretrained

    return pretrained.shipped()


def latencies(
    name: str, model, info, runs: int, folder: Path, weights: str | None
) -> tuple[dict, int]:
    from convert.bench import bench_file, bench_keras
    from convert.tflite import convert_model

    table = {"keras": bench_keras(model, info, runs=runs).median_ms}
    lowered = 0
    for mode in MODES:
        table[mode] = {}
        for key, lowering in LOWERINGS.items():
            result = convert_model(
                model, mode=mode, info=info, weights=weights, lowering=lowering, parity=False
            )
            lowered = max(lowered, result.metadata["lowered"])
            path = folder / f"{name}_{mode}_{key}.tflite"
            path.write_bytes(result.flatbuffer)
            table[mode][key] = bench_file(path, threads=(1,), runs=runs)[0].median_ms
            print(f"{name} {mode} {key}: {table[mode][key]:.3f} ms", flush=True)
            if mode == "float32" and key == "lowered":  # Keras uses every core: so does this
                cores = os.cpu_count() or 1
                table["float32_all_cores"] = {
                    "threads": cores,
                    "ms": bench_file(path, threads=(cores,), runs=runs)[0].median_ms,
                }
    print(f"{name} keras: {table['keras']:.3f} ms", flush=True)
    return table, lowered


SWEEP_FILES = (("float32", "auto"), ("float16", "auto"), ("float16", "none"))


def sweep_files(name: str, model, info, sizes: list[int]) -> Iterator[dict]:
    """The files the GPU sweep runs: the lowered float32 and float16 files and the plain
    float16 file at each size of ``sizes`` the model converts at (fixed-size models: their
    own), each with 2 inputs from the model's data. Yields ``size`` ("HxW", "-" for a
    model without an image input), ``mode``, ``lowering``, ``flatbuffer`` and ``samples``."""
    from convert.representative import representative_inputs
    from convert.tflite import convert_model
    from zoo.errors import ZooError

    free = any(None in spec.shape for spec in info.inputs)
    for size in [(s, s) for s in sizes] if free else [None]:
        for mode, lowering in SWEEP_FILES:
            try:
                result = convert_model(
                    model, mode=mode, info=info, size=size, lowering=lowering, parity=False
                )
            except (ZooError, ValueError) as error:  # a size the architecture cannot take
                print(f"{name} {size}: not convertible ({str(error)[:80]})", flush=True)
                break
            shape = result.metadata["inputs"][0]["shape"]
            yield {
                "size": f"{shape[1]}x{shape[2]}" if len(shape) == 4 else "-",
                "mode": mode,
                "lowering": lowering,
                "flatbuffer": result.flatbuffer,
                "samples": representative_inputs(info, size=size, count=2, seed=1),
            }


def sweep(name: str, model, info, sizes: list[int]) -> list[dict]:
    from convert.runtime import measure

    rows = []
    for file in sweep_files(name, model, info, sizes):
        report = measure(
            file["flatbuffer"], model=model, info=info, samples=file["samples"], runs=1
        )
        row = {key: file[key] for key in ("size", "mode", "lowering")}
        for run in report.runs:
            if run.available:
                row[run.accelerator] = {
                    "accepted": run.accepted,
                    "fully_accelerated": run.fully_accelerated,
                    "relative_error": run.relative_error,
                    "agrees": run.agrees,
                    "reason": run.reason,
                }
        row["gpu_device"] = next(r.device for r in report.runs if r.accelerator == "gpu")
        print(
            f"{name} {row['size']} {row['mode']} {row['lowering']}: gpu "
            f"{error_cell(row.get('gpu', {}))} cpu {error_cell(row.get('cpu', {}))}",
            flush=True,
        )
        rows.append(row)
    return rows


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def error_cell(entry: dict) -> str:
    if not entry:
        return "not run"
    if not entry["accepted"]:
        return f"refused ({entry['reason']})"
    flag = "" if entry["fully_accelerated"] else " (not fully accelerated)"
    if entry.get("agrees") is False:
        flag += " (over tolerance)"
    return f"{100 * entry['relative_error']:.3g}%{flag}"


def markdown(table: dict, host: str) -> str:
    lines = [
        "# Real accelerators: latency before and after lowering, GPU parity per size",
        "",
        f"Machine: {host}. Written by `python benchmarks/accelerators.py`; each model's row "
        "comes from one run.",
        "",
        "## Latency (XNNPACK, 1 thread, median ms; batch 1)",
        "",
        "`plain`: TRANSPOSE_CONV as the converter writes it (`--lowering none`); `lowered`: "
        "CONV_2D + DEPTH_TO_SPACE, and in int8 PReLU as ReLU convolutions (`--lowering cpu`, "
        "what `zoo export --target cpu` writes).",
        "",
        "Keras runs on every core (TensorFlow's default); the last columns put the lowered "
        "float32 file on as many threads.",
        "",
        "| model | lowered layers | Keras | float32 plain | float32 lowered | float16 lowered "
        "| int8 plain | int8 lowered | int8 / float32 (lowered) | float32 lowered, all cores "
        "| Keras / float32 (1 thread; all cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        if "latency" not in row:
            continue
        lat = row["latency"]
        f32, i8 = lat["float32"]["lowered"], lat["int8"]["lowered"]
        wide = lat.get("float32_all_cores", {}).get("ms")
        lines.append(
            f"| {name} | {row['lowered']} | {lat['keras']:.2f} | {lat['float32']['plain']:.2f} "
            f"| {f32:.2f} | {lat['float16']['lowered']:.2f} | {lat['int8']['plain']:.2f} "
            f"| {i8:.2f} | {i8 / f32:.2f} | {_figure(wide)} "
            f"| {lat['keras'] / f32:.2f}x; {_figure(wide and lat['keras'] / wide)}x |"
        )
    sweeps = [(name, e) for name, row in table.items() for e in row.get("gpu_sweep", [])]
    real = sorted({e["gpu_real_device"] for _, e in sweeps if "gpu_real_device" in e})
    lines += [
        "",
        "## Parity on LiteRT's accelerators (max |error| against Keras, % of the output range)",
        "",
        "Tolerance: on the CPU 0.01% for float32 files and 2% for float16; on the GPU 2% for "
        "both (it may compute in float16, as on phones), except for models that need float32 "
        "arithmetic there (`gpu_float32`: DeconvNet, U-Net), which run with it and keep their "
        "file's tolerance. The GPU accelerator is ML Drift over WebGPU; the device is named "
        "per row (SwiftShader computes in float32).",
    ]
    if real:
        lines += [
            "",
            "`real GPU`: the same files replayed by `python benchmarks/gpu_sweep.py` on "
            + "; ".join(real)
            + " (`(float32)`: with float32 arithmetic).",
        ]
    header = "| model | size | file | CPU (XNNPACK) | GPU | GPU device |"
    rule = "|---|---|---|---:|---:|---|" + ("---:|" if real else "")
    lines += ["", header + (" real GPU |" if real else ""), rule]
    for name, entry in sweeps:
        file = f"{entry['mode']} {'lowered' if entry['lowering'] == 'auto' else 'plain'}"
        line = (
            f"| {name} | {entry['size']} | {file} | {error_cell(entry.get('cpu', {}))} "
            f"| {error_cell(entry.get('gpu', {}))} | {entry.get('gpu_device', '-')} |"
        )
        if real:
            replayed = entry.get("gpu_real", {})
            flag = " (float32)" if replayed.get("gpu_float32") else ""
            line += f" {error_cell(replayed)}{flag} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="Comma-separated names (default: every shipped model).")
    parser.add_argument("--sizes", default="16,32,64,96,128", help="Square sizes to sweep.")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-latency", action="store_true", help="Only the parity sweep.")
    parser.add_argument("--no-sweep", action="store_true", help="Only the latency.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for the results.")
    args = parser.parse_args()

    import tempfile

    import zoo
    from benchmarks.results_files import write_model_table

    names = args.models.split(",") if args.models else shipped_models()
    sizes = [int(s) for s in args.sizes.split(",")]
    path = args.out / "accelerators.json"
    for name in names:
        started = time.perf_counter()
        info = zoo.info(name)
        weights = "default" if name in shipped_models() else None  # tiny models: initial
        model = zoo.get(name, weights=weights)
        row = {}
        with tempfile.TemporaryDirectory() as folder:
            if not args.no_latency:
                row["latency"], row["lowered"] = latencies(
                    name, model, info, args.runs, Path(folder), weights
                )
        if not args.no_sweep:
            row["gpu_sweep"] = sweep(name, model, info, sizes)
        row["seconds"] = round(time.perf_counter() - started, 1)
        if args.no_latency or args.no_sweep:  # keep the part not measured now
            previous = json.loads(path.read_text())["models"] if path.is_file() else {}
            row = {**previous.get(name, {}), **row}
        text = write_model_table(path, {name: row}, markdown)
    print(text)


if __name__ == "__main__":
    main()
